//! The hub's state and its transitions, without tasks or channels: client subscriptions
//! (reference-counted per instrument), the latest tick per instrument, fan-out into the
//! clients' outboxes and the upstream demand (the union of all subscriptions plus the
//! always-on watchlist, at the highest mode anyone wants). [`super::task`] owns one of these.

use crate::candle_store::DayCandles;
use crate::candles::{Candle, CandleBook, Closed, aggregate, bucket, completes};
use crate::hub::outbox::{Outbox, Slot};
use crate::instruments::Instrument;
use crate::protocol::candle::write_candle_message;
use crate::protocol::request::{CandleInterval, CandleRequest};
use crate::protocol::ticker::{Freshness, write_ticker};
use crate::tick::{Mode, Tick, Token};
use axum::extract::ws::Utf8Bytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Identifies one client connection for the lifetime of the process.
pub type ClientId = u64;

/// What upstream should be subscribed to: token → highest mode wanted.
pub type Demand = BTreeMap<Token, Mode>;

#[derive(Debug)]
struct Sub {
    client: ClientId,
    outbox: Arc<Outbox>,
    slot: Slot,
    mode: Mode,
    /// Candle messages this client asked for on this instrument.
    candles: Option<CandleInterval>,
}

#[derive(Debug)]
struct Entry {
    inst: Arc<Instrument>,
    subs: Vec<Sub>,
}

impl Entry {
    fn top_mode(&self) -> Option<Mode> {
        self.subs.iter().map(|s| s.mode).max()
    }
}

#[derive(Debug)]
struct ClientSubs {
    outbox: Arc<Outbox>,
    tokens: HashMap<Token, (Mode, Slot)>,
}

/// How snapshots and fan-out should label values right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    /// The feed is streaming: a cached latest tick is as good as live.
    pub feed_live: bool,
    /// Wall clock, Unix milliseconds, for the age of stale values.
    pub now_ms: i64,
}

/// Counters for one fan-out call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FanoutStats {
    pub ticks: u64,
    pub messages: u64,
    pub conflated: u64,
    pub encoded_bytes: u64,
}

#[derive(Debug, Default)]
pub struct HubCore {
    entries: HashMap<Token, Entry>,
    clients: HashMap<ClientId, ClientSubs>,
    latest: HashMap<Token, (Arc<Instrument>, Tick)>,
    watchlist: BTreeMap<Token, (Arc<Instrument>, Mode)>,
    candles: CandleBook,
    scratch: Vec<u8>,
}

impl HubCore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the always-subscribed watchlist (`FEEDGATE_INSTRUMENTS`).
    pub fn set_watchlist(&mut self, items: Vec<(Arc<Instrument>, Mode)>) {
        self.watchlist = items
            .into_iter()
            .map(|(inst, mode)| (inst.token, (inst, mode)))
            .collect();
    }

    /// Adds (or re-modes) subscriptions for a client and queues a snapshot of the latest value
    /// of each newly subscribed instrument into its outbox.
    /// Returns the tokens that have no value at all yet (the caller may fetch a snapshot).
    pub fn subscribe(
        &mut self,
        client: ClientId,
        outbox: &Arc<Outbox>,
        items: &[(Arc<Instrument>, Mode)],
        candles: CandleRequest,
        live: Liveness,
    ) -> Vec<Token> {
        let mut missing = Vec::new();
        let subs = self.clients.entry(client).or_insert_with(|| ClientSubs {
            outbox: outbox.clone(),
            tokens: HashMap::new(),
        });
        for (inst, mode) in items {
            let token = inst.token;
            let entry = self.entries.entry(token).or_insert_with(|| Entry {
                inst: inst.clone(),
                subs: Vec::new(),
            });
            if candles != CandleRequest::Keep
                && let Some(s) = entry.subs.iter_mut().find(|s| s.client == client)
            {
                s.candles = candles.interval();
            }
            let changed_mode = match subs.tokens.get_mut(&token) {
                Some((old, _)) if *old == *mode => false,
                Some((old, _)) => {
                    *old = *mode;
                    if let Some(s) = entry.subs.iter_mut().find(|s| s.client == client) {
                        s.mode = *mode;
                    }
                    true
                }
                None => {
                    let slot = subs.outbox.alloc_slot();
                    subs.tokens.insert(token, (*mode, slot));
                    entry.subs.push(Sub {
                        client,
                        outbox: subs.outbox.clone(),
                        slot,
                        mode: *mode,
                        candles: candles.interval(),
                    });
                    true
                }
            };
            if !self.latest.contains_key(&token) {
                missing.push(token);
            }
            if changed_mode && let Some((inst, tick)) = self.latest.get(&token) {
                let freshness = freshness(tick, live);
                self.scratch.clear();
                write_ticker(&mut self.scratch, tick, inst, *mode, freshness);
                if let Ok(text) = Utf8Bytes::try_from(self.scratch.clone()) {
                    // An overflow is noticed and reported by the client task on its next
                    // drain; the hub must not block or fail here.
                    let _ = subs.outbox.push_immediate(text);
                }
            }
        }
        missing
    }

    /// Removes a client's subscriptions to `tokens` (unknown tokens are ignored).
    pub fn unsubscribe(&mut self, client: ClientId, tokens: &[Token]) {
        let Some(subs) = self.clients.get_mut(&client) else {
            return;
        };
        for token in tokens {
            if let Some((_, slot)) = subs.tokens.remove(token) {
                subs.outbox.free_slot(slot);
                if let Some(entry) = self.entries.get_mut(token) {
                    entry.subs.retain(|s| s.client != client);
                    if entry.subs.is_empty() {
                        self.entries.remove(token);
                    }
                }
            }
        }
        if subs.tokens.is_empty() {
            self.clients.remove(&client);
        }
    }

    /// Drops everything a client had.
    pub fn disconnect(&mut self, client: ClientId) {
        let tokens: Vec<Token> = match self.clients.get(&client) {
            Some(subs) => subs.tokens.keys().copied().collect(),
            None => return,
        };
        self.unsubscribe(client, &tokens);
        self.clients.remove(&client);
    }

    /// Records ticks as the latest values and fans them out to subscribers, encoding each tick
    /// once per mode that some subscriber wants.
    pub fn on_ticks(&mut self, ticks: &[Tick], live: Liveness) -> FanoutStats {
        let mut stats = FanoutStats::default();
        let received = tokio::time::Instant::now();
        for tick in ticks {
            stats.ticks += 1;
            let token = tick.token;
            let entry = self.entries.get(&token);
            let inst = match (entry, self.latest.get(&token), self.watchlist.get(&token)) {
                (Some(e), _, _) => e.inst.clone(),
                (None, Some((i, _)), _) => i.clone(),
                (None, None, Some((i, _))) => i.clone(),
                // Not wanted by anyone and never seen: an unsolicited tick. Ignore it.
                (None, None, None) => continue,
            };
            let merged = match self.latest.get_mut(&token) {
                Some((_, old)) => {
                    old.merge_newer(tick);
                    *old
                }
                None => {
                    self.latest.insert(token, (inst.clone(), *tick));
                    *tick
                }
            };
            // A REST quote while the feed is not live is a closed-hours snapshot: the last
            // price of an earlier session, not a trade now, so it makes no candle.
            let snapshot = tick.src == crate::tick::Source::Rest && !live.feed_live;
            let closed = if !snapshot && (entry.is_some() || self.watchlist.contains_key(&token)) {
                self.candles.on_tick(tick)
            } else {
                None
            };
            if let Some(c) = closed {
                self.emit_candle(c);
            }
            let Some(entry) = self.entries.get(&token) else {
                continue;
            };
            let freshness = freshness(&merged, live);
            let mut encoded: [Option<Utf8Bytes>; 3] = [None, None, None];
            for sub in &entry.subs {
                let text = match &encoded[sub.mode.index()] {
                    Some(t) => t.clone(),
                    None => {
                        self.scratch.clear();
                        write_ticker(&mut self.scratch, &merged, &inst, sub.mode, freshness);
                        stats.encoded_bytes += self.scratch.len() as u64;
                        metrics::histogram!("feedgate_message_bytes")
                            .record(self.scratch.len() as f64);
                        let Ok(t) = Utf8Bytes::try_from(self.scratch.clone()) else {
                            continue;
                        };
                        encoded[sub.mode.index()] = Some(t.clone());
                        t
                    }
                };
                stats.messages += 1;
                if sub.outbox.push_tick(sub.slot, text, received) {
                    stats.conflated += 1;
                }
            }
        }
        stats
    }

    /// Pushes a closed minute to clients that asked for candles of that instrument: every
    /// minute for `1m`, and the aggregated candle for `5m`/`15m` when this minute completes one.
    fn emit_candle(&mut self, closed: Closed) {
        let Some(entry) = self.entries.get(&closed.token) else {
            return;
        };
        if entry.subs.iter().all(|s| s.candles.is_none()) {
            return;
        }
        let mut encoded: [Option<Utf8Bytes>; 3] = [None, None, None];
        for sub in &entry.subs {
            let Some(interval) = sub.candles else {
                continue;
            };
            let idx = match interval {
                CandleInterval::M1 => 0,
                CandleInterval::M5 => 1,
                CandleInterval::M15 => 2,
            };
            if encoded[idx].is_none() {
                let n = interval.minutes();
                let candle = if n == 1 {
                    Some(closed.candle)
                } else if completes(closed.candle.t, n) {
                    let start = bucket(closed.candle.t, n);
                    self.candles.series(closed.token).and_then(|s| {
                        let recent: Vec<Candle> =
                            s.closed.iter().filter(|c| c.t >= start).copied().collect();
                        aggregate(&recent, n).into_iter().find(|c| c.t == start)
                    })
                } else {
                    None
                };
                let Some(candle) = candle else { continue };
                self.scratch.clear();
                write_candle_message(
                    &mut self.scratch,
                    &entry.inst.symbol_json,
                    interval.as_str(),
                    &candle,
                    closed.divisor,
                );
                encoded[idx] = Utf8Bytes::try_from(self.scratch.clone()).ok();
            }
            if let Some(text) = &encoded[idx] {
                let _ = sub.outbox.push_immediate(text.clone());
            }
        }
    }

    /// Closes every minute that ended before `now_secs` and pushes the candles. Called by the
    /// hub's minute timer so candles close on time even when no later tick arrives.
    pub fn close_candles(&mut self, now_secs: i64) -> usize {
        let closed = self.candles.close_due(now_secs);
        let n = closed.len();
        for c in closed {
            self.emit_candle(c);
        }
        n
    }

    /// Today's 1-minute candles of an instrument (closed plus forming), with its divisor.
    pub fn candles_of(&self, token: Token) -> Option<(u32, Vec<Candle>)> {
        self.candles.series(token).map(|s| (s.divisor, s.minutes()))
    }

    /// Every instrument's candles of the current day, for the close-of-day backup.
    pub fn day_candles(&self) -> Vec<DayCandles> {
        let mut out: Vec<DayCandles> = self
            .candles
            .tokens()
            .filter_map(|(token, s)| {
                let minutes = s.minutes();
                if minutes.is_empty() {
                    return None;
                }
                let (inst, _) = self.latest.get(token)?;
                Some(DayCandles {
                    symbol: inst.symbol.to_string(),
                    token: *token,
                    divisor: s.divisor,
                    candles: minutes,
                })
            })
            .collect();
        out.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        out
    }

    /// Seeds latest values without fanning out (last-known values loaded at start).
    pub fn seed(&mut self, items: Vec<(Arc<Instrument>, Tick)>) {
        for (inst, tick) in items {
            self.latest.entry(tick.token).or_insert((inst, tick));
        }
    }

    /// The union of all subscriptions and the watchlist, at the highest mode wanted.
    pub fn demand(&self) -> Demand {
        let mut d: Demand = self.watchlist.iter().map(|(t, (_, m))| (*t, *m)).collect();
        for (token, entry) in &self.entries {
            if let Some(m) = entry.top_mode() {
                let slot = d.entry(*token).or_insert(m);
                *slot = (*slot).max(m);
            }
        }
        d
    }

    pub fn latest(&self, token: Token) -> Option<&Tick> {
        self.latest.get(&token).map(|(_, t)| t)
    }

    /// Every latest value (for persistence of last-known values).
    pub fn latest_all(&self) -> impl Iterator<Item = (&Arc<Instrument>, &Tick)> {
        self.latest.values().map(|(i, t)| (i, t))
    }

    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Instruments with at least one client subscriber.
    pub fn subscribed_instruments(&self) -> usize {
        self.entries.len()
    }

    /// Subscribers of one instrument (for tests and status).
    pub fn subscribers(&self, token: Token) -> usize {
        self.entries.get(&token).map_or(0, |e| e.subs.len())
    }
}

fn freshness(tick: &Tick, live: Liveness) -> Freshness {
    // While the feed streams (WebSocket or REST fallback) the latest value is current; when it
    // does not (closed market, login needed) every value is a last-known one and says so.
    if live.feed_live && tick.src != crate::tick::Source::Cache {
        Freshness::Live
    } else {
        let age_ms = (live.now_ms - tick.received_ms).max(0);
        Freshness::Stale {
            age_s: (age_ms / 1000) as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::outbox::Drained;
    use crate::instruments::{InstrumentSpec, Registry};
    use crate::tick::{Quote, Source};

    const LIVE: Liveness = Liveness {
        feed_live: true,
        now_ms: 1_000_000,
    };

    fn reg() -> Registry {
        let spec = |token, ts: &str| InstrumentSpec {
            token,
            exchange: "NSE".into(),
            tradingsymbol: ts.into(),
            name: ts.into(),
            segment: "NSE".into(),
            instrument_type: "EQ".into(),
            tick_size: 0.05,
            lot_size: 1,
            divisor: 100,
            is_index: false,
        };
        Registry::new([spec(1, "AAA"), spec(2, "BBB"), spec(3, "CCC")])
    }

    fn tick(token: Token, ltp: i64, volume: u64) -> Tick {
        Tick {
            token,
            divisor: 100,
            ltp,
            quote: Some(Quote {
                open: 100,
                high: 200,
                low: 50,
                close: 100,
                volume: Some(volume),
                ..Quote::default()
            }),
            full: None,
            received_ms: 999_000,
            src: Source::Ws,
        }
    }

    fn drain(ob: &Outbox) -> (Vec<String>, Vec<String>) {
        let mut d = Drained::default();
        ob.drain_into(&mut d, true).unwrap();
        let f = |v: &Vec<Utf8Bytes>| v.iter().map(|b| b.as_str().to_string()).collect();
        (f(&d.immediate), f(&d.ticks))
    }

    #[test]
    fn demand_is_the_union_at_the_highest_mode() {
        let r = reg();
        let mut hub = HubCore::new();
        let a = Arc::new(Outbox::new(1 << 20));
        let b = Arc::new(Outbox::new(1 << 20));
        let i1 = r.by_token(1).unwrap().clone();
        let i2 = r.by_token(2).unwrap().clone();
        let i3 = r.by_token(3).unwrap().clone();
        hub.set_watchlist(vec![(i3.clone(), Mode::Ltp)]);
        hub.subscribe(
            1,
            &a,
            &[(i1.clone(), Mode::Ltp), (i2.clone(), Mode::Quote)],
            CandleRequest::Keep,
            LIVE,
        );
        hub.subscribe(
            2,
            &b,
            &[(i1.clone(), Mode::Full)],
            CandleRequest::Keep,
            LIVE,
        );
        let want: Demand = [(1, Mode::Full), (2, Mode::Quote), (3, Mode::Ltp)].into();
        assert_eq!(hub.demand(), want);
        assert_eq!(
            hub.subscribers(1),
            2,
            "two clients share one upstream subscription"
        );

        hub.disconnect(2);
        let want: Demand = [(1, Mode::Ltp), (2, Mode::Quote), (3, Mode::Ltp)].into();
        assert_eq!(
            hub.demand(),
            want,
            "mode drops back when the full-mode client leaves"
        );

        hub.unsubscribe(1, &[1, 2]);
        let want: Demand = [(3, Mode::Ltp)].into();
        assert_eq!(hub.demand(), want, "last unsubscribe removes the demand");
        assert_eq!(hub.client_count(), 0);
        assert_eq!(hub.subscribed_instruments(), 0);
    }

    #[test]
    fn fan_out_encodes_once_per_mode_and_conflates_per_client() {
        let r = reg();
        let mut hub = HubCore::new();
        let fast = Arc::new(Outbox::new(1 << 20));
        let slow = Arc::new(Outbox::new(1 << 20));
        let i1 = r.by_token(1).unwrap().clone();
        hub.subscribe(
            1,
            &fast,
            &[(i1.clone(), Mode::Quote)],
            CandleRequest::Keep,
            LIVE,
        );
        hub.subscribe(
            2,
            &slow,
            &[(i1.clone(), Mode::Quote)],
            CandleRequest::Keep,
            LIVE,
        );

        let s = hub.on_ticks(&[tick(1, 101, 10)], LIVE);
        assert_eq!((s.ticks, s.messages, s.conflated), (1, 2, 0));
        let (_, t) = drain(&fast);
        assert_eq!(t.len(), 1);
        assert!(t[0].contains("\"volume\":10"));

        // The slow client does not drain: newer ticks replace its pending one.
        let s = hub.on_ticks(&[tick(1, 102, 11), tick(1, 103, 12)], LIVE);
        assert_eq!(
            s.conflated, 3,
            "two replaced for slow (101 was never drained), one for fast"
        );
        let (_, t) = drain(&slow);
        assert_eq!(t.len(), 1);
        assert!(t[0].contains("\"ltp\":1.03") && t[0].contains("\"volume\":12"));
        let (_, t) = drain(&fast);
        assert_eq!(t.len(), 1, "fast also conflates between its drains");
    }

    #[test]
    fn snapshot_on_subscribe_and_on_mode_change() {
        let r = reg();
        let mut hub = HubCore::new();
        let i1 = r.by_token(1).unwrap().clone();
        let first = Arc::new(Outbox::new(1 << 20));
        hub.subscribe(
            1,
            &first,
            &[(i1.clone(), Mode::Ltp)],
            CandleRequest::Keep,
            LIVE,
        );
        hub.on_ticks(&[tick(1, 150, 10)], LIVE);
        drain(&first);

        let late = Arc::new(Outbox::new(1 << 20));
        hub.subscribe(
            2,
            &late,
            &[(i1.clone(), Mode::Quote)],
            CandleRequest::Keep,
            LIVE,
        );
        let (imm, ticks) = drain(&late);
        assert_eq!(imm.len(), 1, "snapshot is immediate");
        assert!(ticks.is_empty());
        assert!(imm[0].contains("\"ltp\":1.5") && imm[0].contains("\"open\""));

        hub.subscribe(
            2,
            &late,
            &[(i1.clone(), Mode::Quote)],
            CandleRequest::Keep,
            LIVE,
        );
        assert_eq!(
            drain(&late).0.len(),
            0,
            "same mode again: no duplicate snapshot"
        );
        hub.subscribe(2, &late, &[(i1, Mode::Ltp)], CandleRequest::Keep, LIVE);
        let (imm, _) = drain(&late);
        assert_eq!(imm.len(), 1);
        assert!(
            !imm[0].contains("\"open\""),
            "re-moded snapshot uses the new mode"
        );
    }

    #[test]
    fn snapshot_while_feed_down_is_marked_stale() {
        let r = reg();
        let mut hub = HubCore::new();
        let i1 = r.by_token(1).unwrap().clone();
        hub.set_watchlist(vec![(i1.clone(), Mode::Quote)]);
        hub.on_ticks(&[tick(1, 150, 10)], LIVE);
        let ob = Arc::new(Outbox::new(1 << 20));
        let down = Liveness {
            feed_live: false,
            now_ms: 999_000 + 61_000,
        };
        hub.subscribe(9, &ob, &[(i1, Mode::Ltp)], CandleRequest::Keep, down);
        let (imm, _) = drain(&ob);
        assert!(imm[0].contains("\"stale\":true,\"age_s\":61"), "{}", imm[0]);
    }

    #[test]
    fn candle_messages_start_and_stop_on_request() {
        let r = reg();
        let mut hub = HubCore::new();
        let i1 = r.by_token(1).unwrap().clone();
        let ob = Arc::new(Outbox::new(1 << 20));
        let at = |secs: i64, v: u64| Tick {
            received_ms: secs * 1000,
            ..tick(1, 100 + v as i64, v)
        };
        let t0 = 1_795_409_100; // 10:15:00 IST
        let candles = |ob: &Outbox| {
            drain(ob)
                .0
                .into_iter()
                .filter(|m| m.contains("\"candle\""))
                .count()
        };
        hub.subscribe(
            1,
            &ob,
            &[(i1.clone(), Mode::Quote)],
            CandleRequest::On(CandleInterval::M1),
            LIVE,
        );
        hub.on_ticks(&[at(t0 + 1, 1)], LIVE);
        hub.on_ticks(&[at(t0 + 61, 2)], LIVE);
        assert_eq!(candles(&ob), 1, "the 10:15 minute closed");
        // Re-subscribing without a `candles` field keeps them…
        hub.subscribe(
            1,
            &ob,
            &[(i1.clone(), Mode::Quote)],
            CandleRequest::Keep,
            LIVE,
        );
        hub.on_ticks(&[at(t0 + 121, 3)], LIVE);
        assert_eq!(candles(&ob), 1);
        // …`"candles": false` stops them.
        hub.subscribe(1, &ob, &[(i1, Mode::Quote)], CandleRequest::Off, LIVE);
        hub.on_ticks(&[at(t0 + 181, 4)], LIVE);
        assert_eq!(candles(&ob), 0);
    }

    #[test]
    fn unsolicited_ticks_are_ignored() {
        let mut hub = HubCore::new();
        let s = hub.on_ticks(&[tick(77, 1, 1)], LIVE);
        assert_eq!(s.messages, 0);
        assert!(hub.latest(77).is_none());
    }
}
