//! `parse_message` over arbitrary bytes: never panics, stops after the first error, and every
//! packet it yields re-encodes to bytes that decode to the same packet.

#![no_main]

use bytes::BytesMut;
use feedgate_kite::{Message, decode_packet, encode_packet, parse_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(Message::Packets(mut packets)) = parse_message(data) else {
        assert!(data.len() < 2, "only short messages are heartbeats");
        return;
    };
    let announced = usize::from(packets.announced());
    let mut items = 0usize;
    let mut out = BytesMut::new();
    for item in packets.by_ref() {
        items += 1;
        match item {
            Ok(packet) => {
                out.clear();
                encode_packet(&packet, &mut out);
                assert_eq!(out.len(), packet.wire_len());
                assert_eq!(decode_packet(&out), Some(packet));
            }
            // the iterator is fused after an error
            Err(_) => break,
        }
    }
    assert!(packets.next().is_none());
    assert!(items + usize::from(packets.skipped()) <= announced + 1);
});
