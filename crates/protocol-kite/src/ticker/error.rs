//! Errors of the ticker binary codec. Cheap (`Copy`) on purpose: the decoder runs on the hot path
//! and reports a malformed packet without allocating.

use thiserror::Error;

/// Why a binary ticker frame could not be decoded or encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CodecError {
    /// Packet `index` (0-based) of the frame is cut off: its length prefix or body needs more
    /// bytes than the message holds.
    #[error("frame truncated at packet {index}: needs {needed} bytes, {available} available")]
    Truncated {
        index: u16,
        needed: usize,
        available: usize,
    },
    /// Bytes left over after the announced number of packets.
    #[error("{len} trailing bytes after the announced packets")]
    TrailingBytes { len: usize },
    /// A frame whose size (announced or accumulated) exceeds the configured maximum.
    #[error("frame of at least {len} bytes exceeds the maximum of {max} bytes")]
    FrameTooLarge { len: usize, max: usize },
    /// More packets than the u16 count field can announce.
    #[error("{count} packets do not fit in one frame (at most 65535)")]
    TooManyPackets { count: usize },
}
