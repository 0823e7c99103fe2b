//! `FrameCodec` over arbitrary bytes fed in arbitrary chunks with an arbitrary frame cap: never
//! panics, never reserves beyond the cap, and every frame it yields is exactly what
//! `parse_message` decodes from the same bytes.

#![no_main]

use bytes::BytesMut;
use feedgate_kite::{FrameCodec, Message, parse_message};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fuzz_target!(|input: (u16, Vec<u8>, Vec<u8>)| {
    let (cap, chunk_sizes, stream) = input;
    let max = usize::from(cap).max(2) * 4;
    let mut codec = FrameCodec::with_max_frame_len(max);
    let mut buffer = BytesMut::new();
    let mut fed = 0usize;
    let mut consumed = 0usize;
    let mut sizes = chunk_sizes.iter().map(|s| usize::from(*s) + 1).cycle();
    while fed < stream.len() {
        let size = sizes.next().unwrap_or(stream.len()).min(stream.len() - fed);
        buffer.extend_from_slice(&stream[fed..fed + size]);
        fed += size;
        loop {
            let result = codec.decode(&mut buffer);
            // The decoder reserves only what a frame provably needs, never beyond the cap; any
            // capacity above twice the cap plus everything fed (BytesMut may double an
            // allocation) would have to be a reservation driven by a length claim.
            assert!(buffer.capacity() <= 2 * (max + fed) + 64, "capacity {}", buffer.capacity());
            match result {
                Ok(Some(frame)) => {
                    let end = fed - buffer.len();
                    let bytes = &stream[consumed..end];
                    consumed = end;
                    assert!(bytes.len() <= max);
                    let Ok(Message::Packets(mut packets)) = parse_message(bytes) else {
                        panic!("a streamed frame is never a heartbeat");
                    };
                    let decoded: Vec<_> = packets.by_ref().map(|p| p.unwrap()).collect();
                    assert_eq!(decoded, frame.packets);
                    assert_eq!(packets.skipped(), frame.skipped);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let _ = codec.decode_eof(&mut buffer);
});
