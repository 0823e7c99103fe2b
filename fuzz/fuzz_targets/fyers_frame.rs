//! The Fyers HSM codec over arbitrary WebSocket messages: `decode_client` and `decode_server`
//! never panic; whatever decodes re-encodes (with a correct length prefix) to bytes that decode
//! to the same frame; and data-frame records merge into a `SnapshotStore` without panicking,
//! with every changed topic's prices convertible.

#![no_main]

use feedgate_fyers::hsm::{self, SnapshotStore};
use libfuzzer_sys::fuzz_target;

/// Inputs up to this size always re-encode: decoding can grow text (invalid UTF-8 in a custom
/// message becomes U+FFFD, 3 bytes), and an encoded frame is capped at 65,537 bytes.
const REENCODE_BOUND: usize = 16 * 1024;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = hsm::decode_client(data) {
        match frame.to_bytes() {
            Ok(bytes) => {
                let prefix = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
                assert_eq!(prefix, bytes.len() - 2, "client length prefix");
                assert_eq!(
                    hsm::decode_client(&bytes).as_ref(),
                    Ok(&frame),
                    "client round trip"
                );
            }
            Err(err) => assert!(
                data.len() > REENCODE_BOUND,
                "client re-encode failed: {err}"
            ),
        }
    }
    if let Ok(frame) = hsm::decode_server(data) {
        match frame.to_bytes() {
            Ok(bytes) => {
                let prefix = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
                assert_eq!(prefix, bytes.len() - 2, "server length prefix");
                assert_eq!(
                    hsm::decode_server(&bytes).as_ref(),
                    Ok(&frame),
                    "server round trip"
                );
            }
            Err(err) => assert!(
                data.len() > REENCODE_BOUND,
                "server re-encode failed: {err}"
            ),
        }
        if let hsm::ServerFrame::Data(data_frame) = &frame {
            let mut store = SnapshotStore::new();
            for record in &data_frame.records {
                if let Ok(applied) = store.apply(record)
                    && let Some(state) = applied.changed()
                {
                    for raw in state.values().iter().flatten() {
                        let _ = state.price(*raw).to_f64();
                    }
                    let _ = state.change(4);
                }
            }
        }
    }
});
