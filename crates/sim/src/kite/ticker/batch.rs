//! Market batches encoded once and shared by every ticker connection: per round (each
//! instrument at most once) and per mode, one complete Kite frame (`Bytes`) plus where each
//! packet sits in it. A connection whose subscriptions match a frame exactly sends the shared
//! bytes; otherwise it copies the packets it needs into its own frame, never re-encoding.

use crate::kite::packets::packet;
use crate::market::Quote;
use crate::registry::Demand;
use crate::universe::Universe;
use bytes::{BufMut, Bytes, BytesMut};
use feedgate_kite::{Mode, Packet, encode_frame};

const MODES: [Mode; 3] = [Mode::Ltp, Mode::Quote, Mode::Full];

/// One packet's place in a [`ModeFrame`]: bytes `start..end` are its u16 length prefix and body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    token: u32,
    start: usize,
    end: usize,
}

/// One encoded frame holding every demanded instrument of a round in one mode.
#[derive(Debug, Clone)]
pub(crate) struct ModeFrame {
    bytes: Bytes,
    entries: Vec<Entry>,
}

impl ModeFrame {
    /// Encodes `packets` (at most one per token, fewer than 65536) with `feedgate_kite`.
    pub(crate) fn encode(packets: &[Packet]) -> Self {
        let mut out = BytesMut::new();
        encode_frame(packets, &mut out);
        let mut entries = Vec::with_capacity(packets.len());
        let mut offset = 2;
        for p in packets {
            let end = offset + 2 + p.wire_len();
            entries.push(Entry {
                token: p.token(),
                start: offset,
                end,
            });
            offset = end;
        }
        Self {
            bytes: out.freeze(),
            entries,
        }
    }
}

/// The frames of one round, by mode (`None` when nobody wants that mode).
#[derive(Debug, Clone, Default)]
pub(crate) struct Round {
    frames: [Option<ModeFrame>; 3],
}

/// One timer tick's updates.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    /// The market sequence number after this tick (see `Market::seq`).
    pub seq: u64,
    pub rounds: Vec<Round>,
}

impl Batch {
    /// Encodes the updated `rounds` (instrument index and its new quote) for the modes in
    /// demand. Rounds nobody wants disappear.
    pub(crate) fn encode(
        seq: u64,
        rounds: &[Vec<(usize, Quote)>],
        universe: &Universe,
        demand: &Demand,
    ) -> Self {
        let rounds = rounds
            .iter()
            .map(|updates| {
                let mut round = Round::default();
                for (slot, mode) in round.frames.iter_mut().zip(MODES) {
                    let packets: Vec<Packet> = updates
                        .iter()
                        .filter(|(idx, _)| demand.wants(*idx, mode))
                        .filter_map(|(idx, q)| universe.get(*idx).map(|i| packet(i, q, mode)))
                        .collect();
                    if !packets.is_empty() {
                        *slot = Some(ModeFrame::encode(&packets));
                    }
                }
                round
            })
            .filter(|r| r.frames.iter().any(Option::is_some))
            .collect();
        Self { seq, rounds }
    }
}

/// What a connection sends for one round: a frame and the number of packets in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selected {
    pub frame: Bytes,
    pub packets: usize,
    /// Whether `frame` is the shared encoding (no copy was made).
    pub shared: bool,
}

/// Picks the packets of `round` that a connection wants: `wanted(token)` gives the token's
/// subscribed mode, or `None` when not subscribed (or when the connection's snapshot is
/// already newer than this batch).
pub(crate) fn select(round: &Round, wanted: impl Fn(u32) -> Option<Mode>) -> Option<Selected> {
    // (frame, entry) pairs, in round order per mode.
    let mut picks: Vec<(&ModeFrame, Entry)> = Vec::new();
    for (frame, mode) in round.frames.iter().zip(MODES) {
        let Some(frame) = frame else { continue };
        picks.extend(
            frame
                .entries
                .iter()
                .filter(|e| wanted(e.token) == Some(mode))
                .map(|e| (frame, *e)),
        );
    }
    let (first, _) = picks.first()?;
    let whole_frame =
        picks.len() == first.entries.len() && picks.iter().all(|(f, _)| std::ptr::eq(*f, *first));
    if whole_frame {
        return Some(Selected {
            frame: first.bytes.clone(),
            packets: picks.len(),
            shared: true,
        });
    }
    // A connection holds at most 3000 subscriptions, so the count fits the u16 field; the
    // entries are at most one per token per round for the same reason.
    let count = u16::try_from(picks.len()).ok()?;
    let len = 2 + picks.iter().map(|(_, e)| e.end - e.start).sum::<usize>();
    let mut out = BytesMut::with_capacity(len);
    out.put_u16(count);
    for (frame, entry) in &picks {
        out.extend_from_slice(frame.bytes.get(entry.start..entry.end)?);
    }
    Some(Selected {
        frame: out.freeze(),
        packets: picks.len(),
        shared: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::build_universe;
    use feedgate_kite::{Message, parse_message};
    use std::collections::HashMap;

    fn decode(frame: &[u8]) -> Vec<(u32, Mode)> {
        let Ok(Message::Packets(packets)) = parse_message(frame) else {
            panic!("not a frame");
        };
        packets
            .map(|p| {
                let p = p.unwrap();
                (p.token(), p.mode())
            })
            .collect()
    }

    fn setup() -> (Universe, Demand, Vec<(usize, Quote)>) {
        let universe = build_universe("2025-11-10".parse().unwrap());
        let demand = Demand::new(universe.len());
        let quote = Quote {
            last_price: 100_000,
            open: 100_000,
            high: 100_000,
            low: 100_000,
            close: 100_000,
            ..Quote::default()
        };
        let updates = (0..6).map(|i| (i, quote)).collect();
        (universe, demand, updates)
    }

    #[test]
    fn only_demanded_modes_are_encoded() {
        let (universe, demand, updates) = setup();
        let empty = Batch::encode(1, std::slice::from_ref(&updates), &universe, &demand);
        assert!(empty.rounds.is_empty(), "nobody subscribed");
        demand.add(3, Mode::Full);
        demand.add(4, Mode::Quote);
        let batch = Batch::encode(1, &[updates], &universe, &demand);
        let round = &batch.rounds[0];
        assert!(round.frames[0].is_none());
        assert_eq!(round.frames[1].as_ref().unwrap().entries.len(), 1);
        assert_eq!(round.frames[2].as_ref().unwrap().entries.len(), 1);
    }

    #[test]
    fn exact_match_shares_the_bytes_and_partial_match_copies() {
        let (universe, demand, updates) = setup();
        for idx in 0..6 {
            demand.add(idx, Mode::Quote);
        }
        demand.add(5, Mode::Full);
        let batch = Batch::encode(1, &[updates], &universe, &demand);
        let round = &batch.rounds[0];
        let token = |i: usize| universe.get(i).unwrap().token;

        // Subscribed to every quote-mode token: the shared frame.
        let all: HashMap<u32, Mode> = (0..6).map(|i| (token(i), Mode::Quote)).collect();
        let sel = select(round, |t| all.get(&t).copied()).unwrap();
        assert!(sel.shared);
        assert_eq!(sel.packets, 6);
        assert_eq!(
            sel.frame,
            round.frames[1].as_ref().unwrap().bytes,
            "same bytes"
        );

        // Two quote tokens and one full token: a copied frame with exactly those packets.
        let some: HashMap<u32, Mode> = [
            (token(1), Mode::Quote),
            (token(4), Mode::Quote),
            (token(5), Mode::Full),
        ]
        .into();
        let sel = select(round, |t| some.get(&t).copied()).unwrap();
        assert!(!sel.shared);
        let mut got = decode(&sel.frame);
        got.sort_unstable();
        let mut want = vec![
            (token(1), Mode::Quote),
            (token(4), Mode::Quote),
            (token(5), Mode::Full),
        ];
        want.sort_unstable();
        assert_eq!(got, want);

        // Subscribed in a mode nobody encoded this round: nothing.
        let none: HashMap<u32, Mode> = [(token(2), Mode::Ltp)].into();
        assert!(select(round, |t| none.get(&t).copied()).is_none());
    }
}
