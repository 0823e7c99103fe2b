//! Client → server HSM frames (spec §5): auth, mode, subscribe/unsubscribe, pause/resume, ack
//! and ping, plus a raw form for the Node-only requests (types 2, 9, 10) that a simulator may
//! ignore. The gateway encodes these; the simulator decodes them.
//!
//! Decoding is strict (trailing bytes, duplicate or missing fields are errors) so our own
//! encoder's mistakes surface in simulator tests, with one deliberate exception: the u16 length
//! prefix is never read. The official Python client writes `0` on mode/pause/resume frames and a
//! bogus `18 + …` value on subscribe/unsubscribe frames (spec §3, §9.1), so the WebSocket message
//! length is the only trustworthy bound. Encoding always writes the correct prefix (spec §12).

use bytes::{BufMut, Bytes, BytesMut};

use super::channel::{Channel, ChannelMask};
use super::error::{CodecError, EncodeError};
use super::topic::TopicName;
use super::wire::{self, Reader};
use secrecy::{ExposeSecret, SecretString};

/// Wire message type numbers of client frames.
pub mod msg_type {
    /// Auth (login).
    pub const AUTH: u8 = 1;
    /// Throttling interval (Node SDK only).
    pub const THROTTLE: u8 = 2;
    /// Data-frame acknowledgement.
    pub const ACK: u8 = 3;
    /// Subscribe.
    pub const SUBSCRIBE: u8 = 4;
    /// Unsubscribe.
    pub const UNSUBSCRIBE: u8 = 5;
    /// Channel pause.
    pub const PAUSE: u8 = 7;
    /// Channel resume.
    pub const RESUME: u8 = 8;
    /// Snapshot request (Node SDK only).
    pub const SNAPSHOT: u8 = 9;
    /// Option-chain subscribe (Node SDK only).
    pub const OPTION_CHAIN: u8 = 10;
    /// Ping.
    pub const PING: u8 = 11;
    /// Full/lite mode.
    pub const MODE: u8 = 12;
}

/// `source` field of the official Python client 3.2.0.
pub const SOURCE_PYTHON_SDK: &str = "PythonSDK-3.2.0";
/// `source` field of the official Node SDK.
pub const SOURCE_NODE_SDK: &str = "JS_API";
/// Most topics the official client puts in one subscribe frame (it chunks above this).
pub const MAX_TOPICS_PER_FRAME: usize = 1500;

/// One client → server frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// Type 1: log in with the JWT's `hsm_key`.
    Auth(AuthRequest),
    /// Type 12: full or lite mode for a set of channels.
    Mode(ModeRequest),
    /// Type 4: subscribe topics on a channel.
    Subscribe(TopicRequest),
    /// Type 5: unsubscribe topics on a channel.
    Unsubscribe(TopicRequest),
    /// Type 7: pause channels.
    Pause(ChannelMask),
    /// Type 8: resume channels.
    Resume(ChannelMask),
    /// Type 3: acknowledge data frames up to this message number.
    Ack {
        /// Message number of the data frame being acknowledged.
        message_number: u32,
    },
    /// Type 11: the 3-byte keep-alive `00 01 0B`.
    Ping,
    /// Any other type, kept raw (the Node-only requests 2, 9, 10, or unknown types).
    Unsupported(RawFrame),
}

/// The auth frame's fields (spec §5.1).
#[derive(Debug, Clone)]
pub struct AuthRequest {
    /// Field 1: the `hsm_key` claim of the access token (the socket credential; redacted).
    pub hsm_key: SecretString,
    /// Field 2: mode character; the official clients always send `b'P'`.
    pub mode: u8,
    /// Field 3: "stream data enabled"; the official clients always send 1.
    pub stream: u8,
    /// Field 4: client identification, e.g. [`SOURCE_PYTHON_SDK`].
    pub source: String,
}

impl AuthRequest {
    /// An auth request with the official clients' constant fields (`P`, 1).
    pub fn new(hsm_key: SecretString, source: impl Into<String>) -> Self {
        Self {
            hsm_key,
            mode: b'P',
            stream: 1,
            source: source.into(),
        }
    }
}

/// Frames compare by value (round-trip tests, the fuzz target), the key included; this is not
/// an authentication check, so it need not be constant-time.
impl PartialEq for AuthRequest {
    fn eq(&self, other: &Self) -> bool {
        self.hsm_key.expose_secret() == other.hsm_key.expose_secret()
            && (self.mode, self.stream, &self.source) == (other.mode, other.stream, &other.source)
    }
}

impl Eq for AuthRequest {}

/// Full or lite data mode (type-12 field 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedMode {
    /// `F`: snapshot and update records with all fields.
    Full,
    /// `L`: lite records carrying only the last traded price.
    Lite,
}

impl FeedMode {
    /// The wire byte.
    pub const fn byte(self) -> u8 {
        match self {
            FeedMode::Full => b'F',
            FeedMode::Lite => b'L',
        }
    }

    /// The mode for a wire byte.
    pub const fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            b'F' => Some(FeedMode::Full),
            b'L' => Some(FeedMode::Lite),
            _ => None,
        }
    }
}

/// The mode frame's fields (spec §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeRequest {
    /// Channels the mode applies to.
    pub channels: ChannelMask,
    /// The mode.
    pub mode: FeedMode,
}

/// The subscribe/unsubscribe frame's fields (spec §5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRequest {
    /// Topics, in wire order.
    pub topics: Vec<TopicName>,
    /// The channel they belong to.
    pub channel: Channel,
}

/// A frame of a type without a typed model: message type and the bytes after the type byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    /// Message type byte.
    pub msg_type: u8,
    /// Everything after the 3-byte header.
    pub body: Bytes,
}

impl ClientFrame {
    /// The message type this frame is sent as.
    pub fn msg_type(&self) -> u8 {
        match self {
            ClientFrame::Auth(_) => msg_type::AUTH,
            ClientFrame::Mode(_) => msg_type::MODE,
            ClientFrame::Subscribe(_) => msg_type::SUBSCRIBE,
            ClientFrame::Unsubscribe(_) => msg_type::UNSUBSCRIBE,
            ClientFrame::Pause(_) => msg_type::PAUSE,
            ClientFrame::Resume(_) => msg_type::RESUME,
            ClientFrame::Ack { .. } => msg_type::ACK,
            ClientFrame::Ping => msg_type::PING,
            ClientFrame::Unsupported(raw) => raw.msg_type,
        }
    }

    /// Decodes one WebSocket message as one client frame (the length prefix is ignored, see
    /// the module doc).
    pub fn decode(msg: &[u8]) -> Result<Self, CodecError> {
        let [_, _, kind, ..] = *msg else {
            return Err(CodecError::TooShort { len: msg.len() });
        };
        let mut reader = Reader::new(msg, 3);
        let frame = match kind {
            msg_type::PING => ClientFrame::Ping,
            msg_type::ACK => {
                let fields = reader.fields(kind)?;
                let message_number = u32::from_be_bytes(fields.require_array(1)?);
                ClientFrame::Ack { message_number }
            }
            msg_type::AUTH => ClientFrame::Auth(decode_auth(&mut reader)?),
            msg_type::MODE => {
                let fields = reader.fields(kind)?;
                let channels = ChannelMask::from_bits(u64::from_be_bytes(fields.require_array(1)?));
                let [mode] = fields.require_array(2)?;
                let mode = FeedMode::from_byte(mode).ok_or(CodecError::InvalidMode(mode))?;
                ClientFrame::Mode(ModeRequest { channels, mode })
            }
            msg_type::SUBSCRIBE => ClientFrame::Subscribe(decode_topics(&mut reader, kind)?),
            msg_type::UNSUBSCRIBE => ClientFrame::Unsubscribe(decode_topics(&mut reader, kind)?),
            msg_type::PAUSE | msg_type::RESUME => {
                let fields = reader.fields(kind)?;
                let mask = ChannelMask::from_bits(u64::from_be_bytes(fields.require_array(1)?));
                if kind == msg_type::PAUSE {
                    ClientFrame::Pause(mask)
                } else {
                    ClientFrame::Resume(mask)
                }
            }
            _ => {
                let body = Bytes::copy_from_slice(reader.take(reader.remaining(), "body")?);
                ClientFrame::Unsupported(RawFrame {
                    msg_type: kind,
                    body,
                })
            }
        };
        reader.finish(kind)?;
        Ok(frame)
    }

    /// Appends this frame, with a correct length prefix, to `dst`. On error `dst` is unchanged.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let kind = self.msg_type();
        if let ClientFrame::Unsupported(raw) = self {
            if is_typed(kind) {
                return Err(EncodeError::ReservedType(kind));
            }
            return wire::write_frame(dst, kind, |d| {
                d.put_slice(&raw.body);
                Ok(())
            });
        }
        wire::write_frame(dst, kind, |d| match self {
            ClientFrame::Ping | ClientFrame::Unsupported(_) => Ok(()),
            ClientFrame::Ack { message_number } => {
                d.put_u8(1);
                wire::put_field(d, 1, &message_number.to_be_bytes())
            }
            ClientFrame::Auth(auth) => {
                d.put_u8(4);
                wire::put_field(d, 1, auth.hsm_key.expose_secret().as_bytes())?;
                wire::put_field(d, 2, &[auth.mode])?;
                wire::put_field(d, 3, &[auth.stream])?;
                wire::put_field(d, 4, auth.source.as_bytes())
            }
            ClientFrame::Mode(mode) => {
                d.put_u8(2);
                wire::put_field(d, 1, &mode.channels.bits().to_be_bytes())?;
                wire::put_field(d, 2, &[mode.mode.byte()])
            }
            ClientFrame::Subscribe(request) | ClientFrame::Unsubscribe(request) => {
                d.put_u8(2);
                wire::put_field_with(d, 1, |v| {
                    v.put_u16(wire::count(
                        "topics",
                        request.topics.len(),
                        usize::from(u16::MAX),
                    )?);
                    for topic in &request.topics {
                        wire::put_str8(v, "topic", topic.as_str().as_bytes())?;
                    }
                    Ok(())
                })?;
                wire::put_field(d, 2, &[request.channel.get()])
            }
            ClientFrame::Pause(mask) | ClientFrame::Resume(mask) => {
                d.put_u8(1);
                wire::put_field(d, 1, &mask.bits().to_be_bytes())
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

/// Whether `kind` has a typed client frame (so a raw frame of that type is refused).
fn is_typed(kind: u8) -> bool {
    matches!(
        kind,
        msg_type::AUTH
            | msg_type::ACK
            | msg_type::SUBSCRIBE
            | msg_type::UNSUBSCRIBE
            | msg_type::PAUSE
            | msg_type::RESUME
            | msg_type::PING
            | msg_type::MODE
    )
}

fn decode_auth(reader: &mut Reader<'_>) -> Result<AuthRequest, CodecError> {
    let fields = reader.fields(msg_type::AUTH)?;
    let hsm_key = wire::utf8(fields.require(1)?, "auth key")?;
    let [mode] = fields.require_array(2)?;
    let [stream] = fields.require_array(3)?;
    let source = wire::utf8(fields.require(4)?, "auth source")?;
    Ok(AuthRequest {
        hsm_key: SecretString::from(hsm_key),
        mode,
        stream,
        source: source.to_owned(),
    })
}

fn decode_topics(reader: &mut Reader<'_>, kind: u8) -> Result<TopicRequest, CodecError> {
    let fields = reader.fields(kind)?;
    let [channel] = fields.require_array(2)?;
    let channel = Channel::new(channel).ok_or(CodecError::InvalidChannel(channel))?;
    let mut list = Reader::new(fields.require(1)?, 0);
    let count = list.u16("topic count")?;
    // Each topic needs at least its length byte, so the capacity is bounded by the input.
    let mut topics = Vec::with_capacity(usize::from(count).min(list.remaining()));
    for _ in 0..count {
        let name = wire::utf8(list.bytes8("topic")?, "topic")?;
        topics.push(TopicName::from_wire(name));
    }
    list.finish(kind)?;
    Ok(TopicRequest { topics, channel })
}
