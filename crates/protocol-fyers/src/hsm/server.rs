//! Server → client HSM frames (spec §6): the auth reply, the status replies to subscribe,
//! unsubscribe, pause, resume and mode, the type-51 custom message (errors and notices), and data
//! frames (see [`super::record`]). The simulator encodes these; the gateway decodes them.
//!
//! Decoding follows what the official Python client is known to accept from the real server,
//! because that is the only server behaviour with evidence behind it (spec §3, §6):
//! * the u16 length prefix is ignored; the WebSocket message length bounds every read (Python
//!   ignores it too, except for type 51 where it bounds parsing; we accept that superset);
//! * bytes after the declared content are ignored (Python never looks at them);
//! * TLV fields are found by id; unknown ids are skipped (auth-reply extras are kept raw, since
//!   the Node SDK treats an auth field 3 as a field-layout document the gateway should notice);
//! * unknown message types (e.g. the reported type 13) decode as [`ServerFrame::Unsupported`].
//!
//! Encoding always writes correct length prefixes.

use bytes::{BufMut, Bytes, BytesMut};

use super::client::RawFrame;
use super::error::{CodecError, EncodeError};
use super::record::DataFrame;
use super::wire::{self, Reader};

/// Wire message type numbers of server frames.
pub mod msg_type {
    /// Auth reply.
    pub const AUTH: u8 = 1;
    /// Subscribe status.
    pub const SUBSCRIBE: u8 = 4;
    /// Unsubscribe status.
    pub const UNSUBSCRIBE: u8 = 5;
    /// Market data.
    pub const DATA: u8 = 6;
    /// Pause status.
    pub const PAUSE: u8 = 7;
    /// Resume status.
    pub const RESUME: u8 = 8;
    /// Mode status.
    pub const MODE: u8 = 12;
    /// Custom message (errors and notices).
    pub const CUSTOM: u8 = 51;
}

/// One server → client frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame {
    /// Type 1: the answer to auth.
    AuthReply(AuthReply),
    /// Types 4, 5, 7, 8, 12: the answer to a request.
    Status(StatusReply),
    /// Type 6: market data.
    Data(DataFrame),
    /// Type 51: an error or notice.
    Custom(CustomMessage),
    /// Any other type, kept raw.
    Unsupported(RawFrame),
}

/// A status string: `K` means OK, anything else (the Node SDK uses `N`) means failure.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplyStatus(Bytes);

impl ReplyStatus {
    /// `K`.
    pub const OK: ReplyStatus = ReplyStatus(Bytes::from_static(b"K"));
    /// `N`.
    pub const FAILED: ReplyStatus = ReplyStatus(Bytes::from_static(b"N"));

    /// A status with arbitrary bytes (the simulator's fault knobs).
    pub fn new(value: impl Into<Bytes>) -> Self {
        Self(value.into())
    }

    /// OK only when the value is exactly `K` (the Python client requires that for types 1, 7,
    /// 8 and 12 and looks at only the first byte for 4 and 5; we apply the stricter rule).
    pub fn is_ok(&self) -> bool {
        self.0.as_ref() == b"K"
    }

    /// The raw value.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The auth reply (spec §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthReply {
    /// Field 1.
    pub status: ReplyStatus,
    /// Field 2: acknowledge every n-th data frame; 0 disables acks.
    pub ack_count: u32,
    /// Fields 3.. (unknown meaning; the Node SDK reads field 3 as a field-layout JSON).
    pub extra_fields: Vec<RawField>,
}

/// A TLV field kept as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawField {
    /// Field id.
    pub id: u8,
    /// Field value.
    pub value: Bytes,
}

/// Which request a status reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusKind {
    /// Type 4.
    Subscribe,
    /// Type 5.
    Unsubscribe,
    /// Type 7.
    Pause,
    /// Type 8.
    Resume,
    /// Type 12.
    Mode,
}

impl StatusKind {
    /// The message type.
    pub const fn msg_type(self) -> u8 {
        match self {
            StatusKind::Subscribe => msg_type::SUBSCRIBE,
            StatusKind::Unsubscribe => msg_type::UNSUBSCRIBE,
            StatusKind::Pause => msg_type::PAUSE,
            StatusKind::Resume => msg_type::RESUME,
            StatusKind::Mode => msg_type::MODE,
        }
    }

    /// The kind for a message type, if it is a status type.
    pub const fn from_msg_type(kind: u8) -> Option<Self> {
        match kind {
            msg_type::SUBSCRIBE => Some(StatusKind::Subscribe),
            msg_type::UNSUBSCRIBE => Some(StatusKind::Unsubscribe),
            msg_type::PAUSE => Some(StatusKind::Pause),
            msg_type::RESUME => Some(StatusKind::Resume),
            msg_type::MODE => Some(StatusKind::Mode),
            _ => None,
        }
    }
}

/// A status reply (spec §6.2): `len, type, 01, 01, 00 01, status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReply {
    /// The request it answers.
    pub kind: StatusKind,
    /// Field 1.
    pub status: ReplyStatus,
}

/// The type-51 custom message (spec §6.4). Fields are optional on the wire, as in the official
/// client (which defaults them to 0 / "").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomMessage {
    /// Field 1 (i32), e.g. 51001 "symbol limit exceeded".
    pub code: Option<i32>,
    /// Field 2 (UTF-8; invalid sequences become U+FFFD when decoding, as in the official client,
    /// so a message of more than 21,845 invalid bytes would no longer fit its field).
    pub message: String,
    /// Field 3: the message type of the request it relates to (1 = auth, 4 = subscribe, …).
    pub ref_type: Option<u8>,
}

impl CustomMessage {
    /// Whether it reports an auth failure (ref_type 1, spec §12).
    pub fn is_auth_failure(&self) -> bool {
        self.ref_type == Some(msg_type::AUTH)
    }
}

impl ServerFrame {
    /// The message type this frame is sent as.
    pub fn msg_type(&self) -> u8 {
        match self {
            ServerFrame::AuthReply(_) => msg_type::AUTH,
            ServerFrame::Status(status) => status.kind.msg_type(),
            ServerFrame::Data(_) => msg_type::DATA,
            ServerFrame::Custom(_) => msg_type::CUSTOM,
            ServerFrame::Unsupported(raw) => raw.msg_type,
        }
    }

    /// Decodes one WebSocket message as one server frame (see the module doc for tolerance).
    pub fn decode(msg: &[u8]) -> Result<Self, CodecError> {
        let [_, _, kind, ..] = *msg else {
            return Err(CodecError::TooShort { len: msg.len() });
        };
        let mut reader = Reader::new(msg, 3);
        if let Some(status_kind) = StatusKind::from_msg_type(kind) {
            let fields = reader.fields(kind)?;
            let status = ReplyStatus(Bytes::copy_from_slice(fields.require(1)?));
            return Ok(ServerFrame::Status(StatusReply {
                kind: status_kind,
                status,
            }));
        }
        Ok(match kind {
            msg_type::AUTH => {
                let fields = reader.fields(kind)?;
                let status = ReplyStatus(Bytes::copy_from_slice(fields.require(1)?));
                let ack_count = u32::from_be_bytes(fields.require_array(2)?);
                let extra_fields = fields
                    .others(&[1, 2])
                    .map(|field| RawField {
                        id: field.id,
                        value: Bytes::copy_from_slice(field.value),
                    })
                    .collect();
                ServerFrame::AuthReply(AuthReply {
                    status,
                    ack_count,
                    extra_fields,
                })
            }
            msg_type::DATA => ServerFrame::Data(DataFrame::decode_body(&mut reader)?),
            msg_type::CUSTOM => ServerFrame::Custom(decode_custom(&mut reader)?),
            _ => ServerFrame::Unsupported(RawFrame {
                msg_type: kind,
                body: Bytes::copy_from_slice(reader.take(reader.remaining(), "body")?),
            }),
        })
    }

    /// Appends this frame, with a correct length prefix, to `dst`. On error `dst` is unchanged.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let kind = self.msg_type();
        wire::write_frame(dst, kind, |d| match self {
            ServerFrame::AuthReply(reply) => {
                let count = reply.extra_fields.len().saturating_add(2);
                d.put_u8(wire::count("fields", count, usize::from(u8::MAX))?);
                wire::put_field(d, 1, reply.status.as_bytes())?;
                wire::put_field(d, 2, &reply.ack_count.to_be_bytes())?;
                for field in &reply.extra_fields {
                    wire::put_field(d, field.id, &field.value)?;
                }
                Ok(())
            }
            ServerFrame::Status(status) => {
                d.put_u8(1);
                wire::put_field(d, 1, status.status.as_bytes())
            }
            ServerFrame::Data(data) => data.encode_body(d),
            ServerFrame::Custom(custom) => {
                let count =
                    1 + u8::from(custom.code.is_some()) + u8::from(custom.ref_type.is_some());
                d.put_u8(count);
                if let Some(code) = custom.code {
                    wire::put_field(d, 1, &code.to_be_bytes())?;
                }
                wire::put_field(d, 2, custom.message.as_bytes())?;
                if let Some(ref_type) = custom.ref_type {
                    wire::put_field(d, 3, &[ref_type])?;
                }
                Ok(())
            }
            ServerFrame::Unsupported(raw) => {
                if is_typed(raw.msg_type) {
                    return Err(EncodeError::ReservedType(raw.msg_type));
                }
                d.put_slice(&raw.body);
                Ok(())
            }
        })
    }

    /// The encoded frame as `Bytes` (one WebSocket binary message).
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        let mut dst = BytesMut::new();
        self.encode(&mut dst)?;
        Ok(dst.freeze())
    }
}

/// Whether `kind` has a typed server frame (so a raw frame of that type is refused).
fn is_typed(kind: u8) -> bool {
    matches!(kind, msg_type::AUTH | msg_type::DATA | msg_type::CUSTOM)
        || StatusKind::from_msg_type(kind).is_some()
}

/// Type 51, as the official client reads it: a field of the wrong size or an unknown id is
/// skipped, and a repeated id overwrites the earlier one.
fn decode_custom(reader: &mut Reader<'_>) -> Result<CustomMessage, CodecError> {
    let fields = reader.fields(msg_type::CUSTOM)?;
    let mut out = CustomMessage {
        code: None,
        message: String::new(),
        ref_type: None,
    };
    for field in fields.iter() {
        match (field.id, field.value) {
            (1, &[a, b, c, d]) => out.code = Some(i32::from_be_bytes([a, b, c, d])),
            (2, text) => out.message = String::from_utf8_lossy(text).into_owned(),
            (3, &[ref_type]) => out.ref_type = Some(ref_type),
            _ => {}
        }
    }
    Ok(out)
}
