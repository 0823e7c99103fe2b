//! Errors of the HSM codec boundary: [`CodecError`] for bytes that are not a frame we can
//! read, [`EncodeError`] for values that do not fit the wire format. Neither ever carries
//! frame contents, so a credential inside an auth frame cannot leak through an error.

/// Why an inbound WebSocket message is not a readable HSM frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Fewer than the three bytes every frame starts with (u16 length + u8 type).
    #[error("hsm frame too short: {len} bytes, every frame has at least 3")]
    TooShort {
        /// Message length in bytes.
        len: usize,
    },
    /// A read would run past the end of the message (or of an enclosing field).
    #[error(
        "hsm frame truncated reading {what}: {needed} bytes needed at offset {offset}, {available} left"
    )]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Offset of the read within the message (or field value).
        offset: usize,
        /// Bytes the read needed.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// Bytes remain after a complete client frame (client frames are decoded strictly).
    #[error("{extra} unexpected bytes after a complete type {msg_type} hsm frame")]
    TrailingBytes {
        /// Message type of the frame.
        msg_type: u8,
        /// Number of bytes left over.
        extra: usize,
    },
    /// A required TLV field is absent.
    #[error("type {msg_type} hsm frame lacks field {field_id}")]
    MissingField {
        /// Message type of the frame.
        msg_type: u8,
        /// The missing field id.
        field_id: u8,
    },
    /// A field id appears twice in one frame where it must appear once.
    #[error("type {msg_type} hsm frame repeats field {field_id}")]
    DuplicateField {
        /// Message type of the frame.
        msg_type: u8,
        /// The repeated field id.
        field_id: u8,
    },
    /// A fixed-size field has the wrong length.
    #[error("field {field_id} of a type {msg_type} hsm frame is {len} bytes, expected {expected}")]
    FieldLength {
        /// Message type of the frame.
        msg_type: u8,
        /// The field id.
        field_id: u8,
        /// Declared length.
        len: usize,
        /// Required length.
        expected: usize,
    },
    /// Text that must be UTF-8 (topic names, the auth key, the source string) is not.
    #[error("{what} in an hsm frame is not valid utf-8")]
    InvalidUtf8 {
        /// Which text.
        what: &'static str,
    },
    /// A data-frame record starts with a kind byte other than `S`, `U` or `L`; the rest of the
    /// frame cannot be delimited.
    #[error("unknown hsm data record kind 0x{kind:02x} at offset {offset}")]
    UnknownRecord {
        /// The kind byte.
        kind: u8,
        /// Its offset in the message.
        offset: usize,
    },
    /// The mode field of a type-12 frame is neither `F` nor `L`.
    #[error("unknown hsm feed mode byte 0x{0:02x}")]
    InvalidMode(u8),
    /// A channel number outside the 64-bit channel mask.
    #[error("hsm channel {0} is outside 0..=63")]
    InvalidChannel(u8),
}

/// Why a frame value cannot be written in the HSM wire format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The frame exceeds what a u16 length prefix can describe (65,537 bytes in total).
    #[error("hsm frame of {len} bytes exceeds the 65537-byte limit of its u16 length prefix")]
    FrameTooLarge {
        /// Encoded size in bytes.
        len: usize,
    },
    /// A TLV value exceeds its u16 length.
    #[error("hsm field {field_id} value of {len} bytes exceeds 65535")]
    FieldTooLarge {
        /// The field id.
        field_id: u8,
        /// Value size in bytes.
        len: usize,
    },
    /// More items than the wire's count field can hold.
    #[error("{count} {what} exceed the hsm limit of {max}")]
    TooMany {
        /// What is counted (records, values, topics, fields).
        what: &'static str,
        /// How many there are.
        count: usize,
        /// The wire maximum.
        max: usize,
    },
    /// A u8-length-prefixed string is longer than 255 bytes.
    #[error("{what} of {len} bytes exceeds the 255-byte hsm string limit")]
    StringTooLong {
        /// Which string.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// An `Unsupported` frame was given a message type this codec models, whose layout the
    /// raw body would bypass.
    #[error("hsm message type {0} has a typed frame; encode that instead of a raw one")]
    ReservedType(u8),
}
