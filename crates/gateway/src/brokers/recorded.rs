//! Recorded frames back into ticks, through the same [`Wire::decode`] the live upstream uses:
//! a recorded frame becomes the WebSocket message it was, and each shard gets the decoder
//! state a live connection would have had (reset at every recorded connection start). Not
//! reading the files (`store::recording`) nor what is done with the ticks (export, replay).

use crate::brokers::fyers::wire::FyersWire;
use crate::brokers::kite::wire::KiteWire;
use crate::brokers::wire::{Inbound, Wire, WireError};
use crate::model::tick::Tick;
use crate::store::recording::format::{FrameKind, RecordedBroker};
use crate::store::recording::reader::RecordedFrame;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Why a recording cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum RecordedError {
    #[error("cannot build a decoder: {0}")]
    Decoder(#[from] WireError),
}

/// Decodes recorded frames of one broker into ticks.
#[derive(Debug, Default)]
pub struct RecordedDecoder {
    /// Per shard: Kite's decoder keeps no state between frames, but one per shard keeps the
    /// shape of a live gateway.
    kite: HashMap<u16, KiteWire>,
    /// Per shard: Fyers' decoder keeps the topic table (from context records) and snapshots.
    fyers: HashMap<u16, FyersWire>,
    /// Frames the decoder produced for the broker (acknowledgements): discarded.
    outbound: Vec<Message>,
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
                if let Some(w) = self.fyers.get_mut(&f.shard) {
                    w.reset_connection();
                }
                return Ok(());
            }
            FrameKind::Context => {
                if rf.broker == RecordedBroker::Fyers
                    && fyers_wire(&mut self.fyers, f.shard)?
                        .restore_context(&f.data)
                        .is_err()
                {
                    self.malformed += 1;
                }
                return Ok(());
            }
        };
        let received_ms = f.ts_ns.div_euclid(1_000_000);
        let inbound = match rf.broker {
            RecordedBroker::Kite => self
                .kite
                .entry(f.shard)
                .or_insert_with(|| KiteWire::new("", ""))
                .decode(&msg, received_ms, ticks),
            RecordedBroker::Fyers => {
                let wire = fyers_wire(&mut self.fyers, f.shard)?;
                let inbound = wire.decode(&msg, received_ms, ticks);
                wire.drain_outbound(&mut self.outbound);
                self.outbound.clear();
                inbound
            }
        };
        if let Inbound::Malformed { .. } = inbound {
            self.malformed += 1;
        }
        Ok(())
    }
}

/// The shard's Fyers decoder, made on first use.
fn fyers_wire(
    wires: &mut HashMap<u16, FyersWire>,
    shard: u16,
) -> Result<&mut FyersWire, RecordedError> {
    Ok(match wires.entry(shard) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => e.insert(FyersWire::for_recording()?),
    })
}
