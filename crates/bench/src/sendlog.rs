//! The send log: when each market update left the simulator, keyed by (instrument token,
//! cumulative volume) — the pair identifies one update because the simulator's volume strictly
//! increases on every update of a tradable instrument. Filled by the simulator's
//! [`SendObserver`] hook on its connection tasks, read by every client on receipt, so latency
//! is measured from the real send to the real receive, without the exchange timestamp (whole
//! seconds on the Kite wire).
//!
//! One small ring per instrument behind its own lock: the writer (a simulator task, ~20 batches
//! a second) and the readers (clients, up to millions of lookups a second) rarely meet on the
//! same instrument, and a lookup is a binary search over one ring.

use bytes::Bytes;
use feedgate_kite::{Message, Packet, parse_message};
use feedgate_sim::SendObserver;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// Updates remembered per instrument (at 10 updates/s/instrument: ~400 s of history).
const RING: usize = 4096;

/// One instrument's recent updates: (volume, send instant), volumes increasing.
type Ring = Mutex<VecDeque<(u64, Instant)>>;

#[derive(Debug, Default)]
pub struct SendLog {
    rings: OnceLock<HashMap<u32, Ring>>,
}

impl SendLog {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Sets the instruments to track (once, before any client subscribes).
    pub fn track(&self, tokens: impl IntoIterator<Item = u32>) {
        let rings = tokens
            .into_iter()
            .map(|t| (t, Mutex::new(VecDeque::new())))
            .collect();
        let _ = self.rings.set(rings);
    }

    /// The simulator hook that fills this log.
    pub fn observer(self: &Arc<Self>) -> SendObserver {
        let log = Arc::clone(self);
        SendObserver::new(move |frames| log.record(frames))
    }

    fn record(&self, frames: &[Bytes]) {
        let Some(rings) = self.rings.get() else {
            return;
        };
        let mut updates: Vec<(u32, u64)> = Vec::with_capacity(512);
        for frame in frames {
            let Ok(Message::Packets(packets)) = parse_message(frame) else {
                continue;
            };
            for packet in packets.flatten() {
                let volume = match &packet {
                    Packet::Quote(q) => q.volume_traded,
                    Packet::Full(f) => f.quote.volume_traded,
                    _ => continue,
                };
                updates.push((packet.token(), u64::from(volume)));
            }
        }
        // The clock is read after decoding, just before the bookkeeping (µs for a 500-packet
        // batch) and the write: latencies include that bookkeeping, never exclude real work.
        let now = Instant::now();
        for (token, volume) in &updates {
            if let Some(ring) = rings.get(token) {
                let mut ring = ring.lock().unwrap_or_else(|p| p.into_inner());
                if ring.back().is_some_and(|(v, _)| *v >= *volume) {
                    continue; // already known (the same update on another connection)
                }
                if ring.len() == RING {
                    ring.pop_front();
                }
                ring.push_back((*volume, now));
            }
        }
    }

    /// When the update (`token`, `volume`) was sent, if it was.
    pub fn sent_at(&self, token: u32, volume: u64) -> Option<Instant> {
        let ring = self.rings.get()?.get(&token)?;
        let ring = ring.lock().unwrap_or_else(|p| p.into_inner());
        let i = ring.binary_search_by_key(&volume, |(v, _)| *v).ok()?;
        ring.get(i).map(|(_, at)| *at)
    }
}
