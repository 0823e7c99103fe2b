//! A tokio-util [`Decoder`]/[`Encoder`] for byte streams of back-to-back ticker frames, as in a
//! recording or a test pipe. A live WebSocket already delimits messages; use
//! [`super::decode::parse_message`] there. Heartbeats cannot be represented in such a stream,
//! since a 1-byte message is indistinguishable from the start of a frame without message
//! boundaries.

use std::io;

use bytes::BytesMut;
use thiserror::Error;
use tokio_util::codec::{Decoder, Encoder};

use crate::ticker::decode::Packets;
use crate::ticker::encode::{MAX_PACKETS_PER_FRAME, encode_frame, frame_len};
use crate::ticker::error::CodecError;
use crate::ticker::packet::Packet;

/// Default cap on one frame's size. The largest frame a real server plausibly sends (3000 full
/// packets for one connection's whole subscription) is about 560 KiB, but the server batches
/// far fewer per message; 256 KiB leaves ample room and bounds memory per connection.
pub const DEFAULT_MAX_FRAME_LEN: usize = 256 * 1024;

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frame {
    /// The packets of known length, in wire order.
    pub packets: Vec<Packet>,
    /// How many packets of unknown length were skipped.
    pub skipped: u16,
}

/// Errors of the streaming codec: a malformed frame, or the underlying I/O.
#[derive(Debug, Error)]
pub enum StreamError {
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("i/o error reading frames")]
    Io(#[from] io::Error),
}

/// Streaming codec for back-to-back frames with a maximum frame size.
///
/// Frames carry no overall length, so the decoder walks the length prefixes as bytes arrive,
/// remembering how far it got so that a frame split across many reads is scanned once. A frame
/// whose size provably exceeds the cap (from its packet count and the lengths seen so far) is
/// rejected before its bytes arrive, and the decoder never reserves more than the cap.
///
/// After an error the stream cannot be resynchronised (the format has no markers), so callers
/// must stop reading; `FramedRead` does this by itself.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max_frame_len: usize,
    scan: Scan,
}

/// Progress through the frame at the head of the buffer.
#[derive(Debug, Clone, Copy, Default)]
struct Scan {
    /// Offset of the next length prefix to read (0 = the frame header is not read yet).
    offset: usize,
    /// Packets known to be complete in the buffer.
    complete: u16,
    /// Buffer length needed for the next step, reported if the stream ends before it.
    want: usize,
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameCodec {
    /// A codec with the default maximum frame size ([`DEFAULT_MAX_FRAME_LEN`]).
    pub fn new() -> Self {
        Self::with_max_frame_len(DEFAULT_MAX_FRAME_LEN)
    }

    /// A codec rejecting frames larger than `max_frame_len` bytes (at least 2, the empty frame).
    pub fn with_max_frame_len(max_frame_len: usize) -> Self {
        Self {
            max_frame_len: max_frame_len.max(2),
            scan: Scan::default(),
        }
    }

    /// The configured maximum frame size in bytes.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    fn too_large(&mut self, len: usize) -> StreamError {
        self.scan = Scan::default();
        StreamError::Codec(CodecError::FrameTooLarge {
            len,
            max: self.max_frame_len,
        })
    }

    /// Remembers the progress and makes room for the bytes the next step needs (never more than
    /// the cap, which was checked before).
    fn need(&mut self, src: &mut BytesMut, scan: Scan) -> Option<(u16, usize)> {
        src.reserve(scan.want.saturating_sub(src.len()));
        self.scan = scan;
        None
    }

    /// Size of the complete frame at the head of `src`, `Ok(None)` if more bytes are needed.
    fn scan(&mut self, src: &mut BytesMut) -> Result<Option<(u16, usize)>, StreamError> {
        let Some(count) = src.first_chunk::<2>().map(|c| u16::from_be_bytes(*c)) else {
            return Ok(self.need(
                src,
                Scan {
                    want: 2,
                    ..Scan::default()
                },
            ));
        };
        let mut scan = Scan {
            offset: self.scan.offset.max(2),
            ..self.scan
        };
        // Even empty packets need their 2-byte length prefix.
        let least = 2 + 2 * usize::from(count);
        if least > self.max_frame_len {
            return Err(self.too_large(least));
        }
        while scan.complete < count {
            let prefix = scan
                .offset
                .checked_add(2)
                .and_then(|end| src.get(scan.offset..end));
            let Some(&[hi, lo]) = prefix else {
                let want = scan.offset + 2;
                return Ok(self.need(src, Scan { want, ..scan }));
            };
            let end = scan.offset + 2 + usize::from(u16::from_be_bytes([hi, lo]));
            let remaining_prefixes = 2 * usize::from(count - scan.complete - 1);
            let least = end + remaining_prefixes;
            if least > self.max_frame_len {
                return Err(self.too_large(least));
            }
            if src.len() < end {
                return Ok(self.need(src, Scan { want: end, ..scan }));
            }
            scan.offset = end;
            scan.complete += 1;
        }
        self.scan = Scan::default();
        Ok(Some((count, scan.offset)))
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = StreamError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, StreamError> {
        let Some((count, len)) = self.scan(src)? else {
            return Ok(None);
        };
        let frame = src.split_to(len);
        let mut packets = Packets::new(count, frame.get(2..).unwrap_or_default());
        let mut out = Vec::with_capacity(usize::from(count));
        for packet in packets.by_ref() {
            out.push(packet?);
        }
        Ok(Some(Frame {
            packets: out,
            skipped: packets.skipped(),
        }))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, StreamError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        if src.is_empty() {
            return Ok(None);
        }
        let error = CodecError::Truncated {
            index: self.scan.complete,
            needed: self.scan.want,
            available: src.len(),
        };
        self.scan = Scan::default();
        Err(error.into())
    }
}

impl Encoder<&[Packet]> for FrameCodec {
    type Error = StreamError;

    fn encode(&mut self, packets: &[Packet], dst: &mut BytesMut) -> Result<(), StreamError> {
        if packets.len() > MAX_PACKETS_PER_FRAME {
            return Err(CodecError::TooManyPackets {
                count: packets.len(),
            }
            .into());
        }
        let len = frame_len(packets);
        if len > self.max_frame_len {
            return Err(CodecError::FrameTooLarge {
                len,
                max: self.max_frame_len,
            }
            .into());
        }
        encode_frame(packets, dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
