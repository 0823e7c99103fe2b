//! Packets gathered into Kite frames (kite.md §3.1): a u16 packet count, then a u16 length
//! and the packet, repeated. One frame carries every packet pending for a client, as Kite
//! batches instruments, up to a byte budget so one write never holds an unbounded buffer.

use bytes::{BufMut, Bytes, BytesMut};

/// Kite's heartbeat on an idle connection: one byte, which every official client ignores.
pub const HEARTBEAT_FRAME: Bytes = Bytes::from_static(&feedgate_kite::HEARTBEAT);

/// Largest frame built before a new one is started (a full-mode packet is 186 bytes with its
/// prefix, so about 350 instruments a frame).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Builds frames from packet bodies, reusing one buffer.
#[derive(Debug, Default)]
pub struct FrameBuilder {
    buf: BytesMut,
    count: u16,
}

impl FrameBuilder {
    /// Appends `packets` as frames to `out`: as few as the byte budget allows, in order.
    pub fn build<'a>(
        &mut self,
        packets: impl IntoIterator<Item = &'a Bytes>,
        out: &mut Vec<Bytes>,
    ) {
        for p in packets {
            // A packet longer than a u16 cannot be framed; Kite's longest is 184 bytes, so
            // this only guards against a programming error.
            let Ok(len) = u16::try_from(p.len()) else {
                continue;
            };
            let full = self.count == u16::MAX || self.buf.len() + 2 + p.len() > MAX_FRAME_BYTES;
            if self.count > 0 && full {
                out.push(self.finish());
            }
            if self.count == 0 {
                self.buf.put_u16(0);
            }
            self.buf.put_u16(len);
            self.buf.extend_from_slice(p);
            self.count += 1;
        }
        if self.count > 0 {
            out.push(self.finish());
        }
    }

    fn finish(&mut self) -> Bytes {
        self.buf[..2].copy_from_slice(&self.count.to_be_bytes());
        self.count = 0;
        self.buf.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feedgate_kite::{Message, Packet, parse_message};

    fn ltp(token: u32) -> Bytes {
        let mut b = BytesMut::new();
        b.put_u32(token);
        b.put_i32(100);
        b.freeze()
    }

    #[test]
    fn packets_share_a_frame_that_the_kite_decoder_reads() {
        let packets: Vec<Bytes> = (1..=3).map(|t| ltp(t << 8 | 1)).collect();
        let mut out = Vec::new();
        FrameBuilder::default().build(&packets, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), 2 + 3 * 10);
        let Ok(Message::Packets(got)) = parse_message(&out[0]) else {
            panic!("not a packet frame");
        };
        let tokens: Vec<u32> = got.map(|p| p.map(|p: Packet| p.token()).unwrap()).collect();
        assert_eq!(tokens, [257, 513, 769]);
    }

    #[test]
    fn a_large_batch_is_split_at_the_byte_budget_and_keeps_its_order() {
        let packets: Vec<Bytes> = (0..20_000).map(|t| ltp(t << 8 | 1)).collect();
        let mut out = Vec::new();
        let mut b = FrameBuilder::default();
        b.build(&packets, &mut out);
        assert!(out.len() > 1);
        assert!(out.iter().all(|f| f.len() <= MAX_FRAME_BYTES));
        let mut tokens = Vec::new();
        for f in &out {
            let Ok(Message::Packets(got)) = parse_message(f) else {
                panic!("not a packet frame");
            };
            tokens.extend(got.map(|p| p.unwrap().token()));
        }
        assert_eq!(tokens, (0..20_000).map(|t| t << 8 | 1).collect::<Vec<_>>());
        // The buffer is reused: a second batch starts a fresh frame.
        let mut again = Vec::new();
        b.build(&packets[..1], &mut again);
        assert_eq!(again[0].len(), 12);
    }

    #[test]
    fn nothing_to_send_builds_no_frame() {
        let mut out = Vec::new();
        FrameBuilder::default().build(&[], &mut out);
        assert!(out.is_empty());
    }
}
