//! The Fyers v3 data-socket ("HSM") protocol, sans-I/O: bytes in, typed frames out, and back
//! (spec `protocols/fyers.md` §3–§6). Both directions encode *and* decode: the gateway encodes
//! [`ClientFrame`]s and decodes [`ServerFrame`]s; the simulator does the reverse.
//!
//! # Framing
//! One WebSocket binary message carries exactly one HSM frame (spec §1), so the decoders take a
//! whole message (`&[u8]`) and return one frame or an error; there is no "need more bytes"
//! state as in a stream codec (STYLE §3), and a short message is simply an error. The u16
//! length prefix is **never** used to find the end of a frame: the official Python client sends
//! wrong prefixes on mode, pause, resume, subscribe and unsubscribe frames (spec §3, §9.1), so a
//! server must ignore them, and for symmetry the client side bounds reads by the message too.
//! Encoders always write the correct prefix.
//!
//! Every read is bounds-checked; counts on the wire are at most u16, and buffers are sized from
//! counts only after the bytes they claim are known to be present. No input panics.
//!
//! # Strictness
//! Client frames are decoded strictly (trailing bytes, duplicate or missing fields fail), so
//! our own encoder's mistakes surface in simulator tests. Server frames are decoded as leniently
//! as the official client reads them (trailing bytes and unknown fields ignored, unknown types
//! kept raw), because the real server is only known to work with that client. See
//! [`client`], [`server`] and [`record`] for the per-frame choices.

/// Data-frame acknowledgement pacing.
pub mod ack;
/// Channel numbers and the u64 channel bitmask.
pub mod channel;
/// Client → server frames (auth, mode, subscribe, pause/resume, ack, ping).
pub mod client;
/// Decode and encode errors.
pub mod error;
/// Positional field lists of scrip, index and depth records.
pub mod fields;
/// The type-6 data frame and its S/U/L records.
pub mod record;
/// Server → client frames (auth reply, status replies, custom message, data).
pub mod server;
/// Per-topic merge state (`SnapshotStore`).
pub mod state;
/// Topic strings (`sf|nse_cm|3045`) in wire and structured form.
pub mod topic;
mod wire;

pub use ack::AckCounter;
pub use channel::{Channel, ChannelMask};
pub use client::{AuthRequest, ClientFrame, FeedMode, ModeRequest, RawFrame, TopicRequest};
pub use error::{CodecError, EncodeError};
pub use fields::{DepthColumn, DepthField, IndexField, ScripField, Side, ValueKind};
pub use record::{DataFrame, Lite, NO_VALUE, Record, Snapshot, Update};
pub use server::{
    AuthReply, CustomMessage, RawField, ReplyStatus, ServerFrame, StatusKind, StatusReply,
};
pub use state::{Applied, Change, MergeError, SnapshotStore, TopicState};
pub use topic::{Topic, TopicError, TopicKind, TopicName};
pub use wire::MAX_FRAME_LEN;

/// Decodes one WebSocket message from the server (gateway side). Same as
/// [`ServerFrame::decode`].
pub fn decode_server(msg: &[u8]) -> Result<ServerFrame, CodecError> {
    ServerFrame::decode(msg)
}

/// Decodes one WebSocket message from a client (simulator side). Same as
/// [`ClientFrame::decode`].
pub fn decode_client(msg: &[u8]) -> Result<ClientFrame, CodecError> {
    ClientFrame::decode(msg)
}
