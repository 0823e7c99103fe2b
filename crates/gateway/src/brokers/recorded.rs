//! Recorded frames back into ticks, through the same [`Wire::decode`] the live upstream uses:
//! a recorded frame becomes the WebSocket message it was, and each shard gets the decoder
//! state a live connection would have had (reset at every recorded connection start). Not
//! reading the files (`store::recording`) nor what is done with the ticks (export, replay).

use crate::brokers::kite::wire::KiteWire;
use crate::brokers::wire::{Inbound, Wire};
use crate::model::tick::Tick;
use crate::store::recording::format::{FrameKind, RecordedBroker};
use crate::store::recording::reader::RecordedFrame;
use std::collections::HashMap;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Why a recording cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordedError {
    /// Fyers' data frames name topics by numbers the socket assigned; the mapping to
    /// instruments is learnt over REST and is not in the recording.
    #[error(
        "decoding recorded {0} frames is not supported: the recording holds the raw frames, but not the topic-to-instrument mapping they need"
    )]
    Unsupported(&'static str),
}

/// Decodes recorded frames of one broker into ticks.
#[derive(Debug, Default)]
pub struct RecordedDecoder {
    /// Per shard: Kite's decoder keeps no state between frames, but one per shard keeps the
    /// shape of a live gateway.
    kite: HashMap<u16, KiteWire>,
    /// Frames that did not decode cleanly (counted, as the live upstream does).
    pub malformed: u64,
}

impl RecordedDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the ticks of `rf` to `ticks` (none for heartbeats, notices and markers).
    /// `received_ms` of each tick is the recorded receive time.
    pub fn decode(
        &mut self,
        rf: &RecordedFrame,
        ticks: &mut Vec<Tick>,
    ) -> Result<(), RecordedError> {
        let f = &rf.frame;
        let msg = match f.kind {
            FrameKind::Binary => Message::Binary(f.data.clone()),
            FrameKind::Text => match Utf8Bytes::try_from(f.data.clone()) {
                Ok(t) => Message::Text(t),
                Err(_) => {
                    self.malformed += 1;
                    return Ok(());
                }
            },
            FrameKind::Connected => {
                self.kite.remove(&f.shard);
                return Ok(());
            }
        };
        let wire = match rf.broker {
            RecordedBroker::Kite => self
                .kite
                .entry(f.shard)
                .or_insert_with(|| KiteWire::new("", "")),
            RecordedBroker::Fyers => return Err(RecordedError::Unsupported("fyers")),
        };
        let received_ms = f.ts_ns.div_euclid(1_000_000);
        if let Inbound::Malformed { .. } = wire.decode(&msg, received_ms, ticks) {
            self.malformed += 1;
        }
        Ok(())
    }
}
