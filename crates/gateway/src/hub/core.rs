//! The hub's state and its transitions, without tasks or channels: client subscriptions
//! (reference-counted per instrument), the latest tick per instrument, fan-out into the
//! clients' outboxes and the upstream demand (the union of all subscriptions plus the
//! always-on watchlist, at the highest mode anyone wants). The hub task owns one of these.
//!
//! Everything known about one instrument sits in one [`Held`] under its token, so fan-out
//! finds the latest value, the subscribers and the watchlist entry with one look-up in the
//! hub's map per tick (the candle book keeps its own series).
//!
//! A REST quote never replaces a WebSocket value that arrived after the quote was requested,
//! nor one younger than a short precedence window (`HubCore::with_ws_precedence`): a batch in
//! flight can land after the WebSocket is back, which would move prices backwards (and look
//! like a volume reset in candles), and the fallback polls every demanded instrument while any
//! shard wants it, so an instrument whose shard streams would flip between sources. The window
//! is short so that when the WebSocket dies, the fallback's first quotes are shown at once.

use crate::hub::outbox::Slot;
use crate::hub::replay::{Anchoring, TickLog, ist_day};
use crate::hub::sink::Sink;
use crate::json::candle::write_candle_message;
use crate::json::request::{CandleInterval, CandleRequest};
use crate::json::ticker::{Freshness, Stamp, write_stamped};
use crate::kite_compat;
use crate::model::candle::{Candle, CandleBook, Closed, History, aggregate, bucket, completes};
use crate::model::demand::Demand;
use crate::model::instruments::Instrument;
use crate::model::live::FeedLive;
use crate::model::tick::{Mode, Source, Tick, Token};
use crate::store::candle_files::DayCandles;
use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Identifies one client connection for the lifetime of the process.
pub type ClientId = u64;

#[derive(Debug)]
struct Sub {
    client: ClientId,
    sink: Sink,
    slot: Slot,
    mode: Mode,
    /// Candle messages this client asked for on this instrument.
    candles: Option<CandleInterval>,
}

/// The clients subscribed to one instrument, and the instrument as the first of them
/// subscribed it.
#[derive(Debug)]
struct Entry {
    inst: Arc<Instrument>,
    subs: Vec<Sub>,
}

/// Everything the hub holds about one instrument. Kept while any part is set.
#[derive(Debug, Default)]
struct Held {
    /// The latest value, with the instrument it was first recorded under.
    latest: Option<(Arc<Instrument>, Tick)>,
    /// Client subscriptions; `None` when no client has the instrument.
    subscribed: Option<Entry>,
    /// In the always-on watchlist, at this mode.
    watched: Option<(Arc<Instrument>, Mode)>,
    /// Kept live for the Kite REST reads (`HubCore::set_kept`), at this mode.
    kept: Option<(Arc<Instrument>, Mode)>,
    /// Kept subscribed upstream, at this mode until this instant, after the last client left:
    /// a client that reconnects in time resumes without a gap (see `resume`).
    lingering: Option<(Arc<Instrument>, Mode, Instant)>,
    /// The numbered values of the day, the recent ones kept for resuming clients.
    log: TickLog,
}

impl Held {
    /// Someone wants this instrument's ticks (a client or the watchlist).
    fn wanted(&self) -> bool {
        self.subscribed.is_some()
            || self.watched.is_some()
            || self.kept.is_some()
            || self.lingering.is_some()
    }

    fn is_empty(&self) -> bool {
        self.latest.is_none() && !self.wanted()
    }

    /// Records `tick` as the latest value (merged into an older one); false when nobody
    /// wants the instrument and nothing was known of it.
    fn record(&mut self, tick: &Tick) -> bool {
        if let Some((_, old)) = &mut self.latest {
            old.merge_newer(tick);
            return true;
        }
        let inst = match (&self.subscribed, &self.watched) {
            (Some(entry), _) => entry.inst.clone(),
            (None, Some((inst, _))) => inst.clone(),
            (None, None) => match (&self.kept, &self.lingering) {
                (Some((inst, _)), _) | (None, Some((inst, _, _))) => inst.clone(),
                (None, None) => return false,
            },
        };
        self.latest = Some((inst, *tick));
        true
    }
}

#[derive(Debug)]
struct ClientSubs {
    sink: Sink,
    tokens: HashMap<Token, (Mode, Slot)>,
}

/// How snapshots (on subscribe) and fan-out should label values right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    /// Whether the feed streams, and since when: a cached tick from this live period is as good
    /// as live, an older one is a last-known value.
    pub feed: FeedLive,
    /// Wall clock, Unix milliseconds, for the age of stale values.
    pub now_ms: i64,
}

/// Counters for one fan-out call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FanoutStats {
    pub ticks: u64,
    /// REST ticks dropped because a recent WebSocket value was newer.
    pub superseded: u64,
    pub messages: u64,
    pub conflated: u64,
    /// Messages encoded (once per tick per mode wanted) and their total size.
    pub encoded: u64,
    pub encoded_bytes: u64,
}

/// How long a WebSocket value takes precedence over REST quotes requested after it: longer
/// than a liquid instrument's tick interval (so a streaming instrument keeps its source), no
/// longer than the REST bridge's start (so its first quotes show at once).
const DEFAULT_WS_PRECEDENCE: Duration = Duration::from_secs(1);

/// Spare room over the last message of a mode when allocating the next one.
const ENCODE_SLACK: usize = 64;

/// Buffers for `ticker` messages: each message is encoded into its own buffer (it is shared
/// by every subscriber, then dropped), sized from the last fan-out message of its mode.
#[derive(Debug)]
struct Encoder {
    last_len: [usize; 3],
}

impl Encoder {
    fn buffer(&self, mode: Mode) -> String {
        String::with_capacity(self.last_len[mode.index()] + ENCODE_SLACK)
    }

    /// Encodes a fan-out message, remembering its size for the next one of its mode.
    fn encode(
        &mut self,
        tick: &Tick,
        inst: &Instrument,
        mode: Mode,
        freshness: Freshness,
        stamp: Option<Stamp>,
        stats: &mut FanoutStats,
    ) -> Utf8Bytes {
        let mut out = self.buffer(mode);
        write_stamped(&mut out, tick, inst, mode, freshness, stamp);
        self.last_len[mode.index()] = out.len();
        stats.encoded += 1;
        stats.encoded_bytes += out.len() as u64;
        Utf8Bytes::from(out)
    }
}

#[derive(Debug)]
pub struct HubCore {
    /// Everything known per instrument (see the module docs).
    held: HashMap<Token, Held>,
    /// Tokens someone wants (a client or the watchlist): what [`Self::demand`] walks, so its
    /// cost follows the demand, not every value the hub has ever held (seeded ones included).
    wanted: HashSet<Token>,
    /// Instruments with at least one client subscriber.
    subscribed: usize,
    clients: HashMap<ClientId, ClientSubs>,
    candles: CandleBook,
    /// See the module docs; wall-clock milliseconds.
    ws_precedence_ms: i64,
    encoder: Encoder,
    /// This run's epoch and how resumes are served (see `resume`).
    resume: ResumeConfig,
    /// Resumes waiting for the recording, by id.
    pending: HashMap<u64, resume::PendingResume>,
    next_pending: u64,
}

/// How the hub serves reconnecting clients (DESIGN.md §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumeConfig {
    /// Identifies this run of the gateway; every `ticker` carries it.
    pub epoch: u64,
    /// Values kept per instrument while someone is (or was just) subscribed.
    pub keep: usize,
    /// How long an instrument stays subscribed upstream after its last client left.
    pub linger: Duration,
    /// Where the recording can take over from the ring ([`Anchoring::OFF`]: it cannot).
    pub anchoring: Anchoring,
}

impl Default for ResumeConfig {
    fn default() -> Self {
        Self {
            epoch: 0,
            keep: 64,
            linger: Duration::from_secs(60),
            anchoring: Anchoring::OFF,
        }
    }
}

impl Default for HubCore {
    fn default() -> Self {
        Self::new()
    }
}

impl HubCore {
    pub fn new() -> Self {
        Self::with_ws_precedence(DEFAULT_WS_PRECEDENCE)
    }

    /// A hub where a REST quote does not replace a WebSocket value younger than `window`
    /// (younger, the WebSocket is evidently delivering that instrument) nor one that arrived
    /// after the quote was requested.
    pub fn with_ws_precedence(window: Duration) -> Self {
        Self {
            held: HashMap::new(),
            wanted: HashSet::new(),
            subscribed: 0,
            clients: HashMap::new(),
            candles: CandleBook::default(),
            ws_precedence_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            encoder: Encoder {
                last_len: [128, 512, 1024],
            },
            resume: ResumeConfig::default(),
            pending: HashMap::new(),
            next_pending: 1,
        }
    }

    /// The same hub with these resume settings.
    pub fn with_resume(mut self, resume: ResumeConfig) -> Self {
        self.resume = resume;
        self
    }

    pub fn epoch(&self) -> u64 {
        self.resume.epoch
    }

    /// Replaces the always-subscribed watchlist (`FEEDGATE_INSTRUMENTS`).
    pub fn set_watchlist(&mut self, items: Vec<(Arc<Instrument>, Mode)>) {
        for held in self.held.values_mut() {
            held.watched = None;
        }
        for (inst, mode) in items {
            let token = inst.token;
            self.held.entry(token).or_default().watched = Some((inst, mode));
        }
        self.held.retain(|_, held| !held.is_empty());
        // Rare (start-up and the daily instrument refresh): rebuilt rather than tracked.
        self.wanted = (self.held.iter())
            .filter(|(_, held)| held.wanted())
            .map(|(token, _)| *token)
            .collect();
    }

    /// Replaces the instruments kept live for the Kite REST reads (`http::kite_rest`): like
    /// the watchlist, they count in the upstream demand without any client subscribing.
    pub fn set_kept(&mut self, items: Vec<(Arc<Instrument>, Mode)>) {
        for held in self.held.values_mut() {
            held.kept = None;
        }
        for (inst, mode) in items {
            let token = inst.token;
            self.held.entry(token).or_default().kept = Some((inst, mode));
        }
        self.held.retain(|_, held| !held.is_empty());
        // Changes only when an instrument is first read or expires: rebuilt, not tracked.
        self.wanted = (self.held.iter())
            .filter(|(_, held)| held.wanted())
            .map(|(token, _)| *token)
            .collect();
    }

    /// Adds (or re-modes) subscriptions for a client and queues a snapshot of the latest value
    /// of each newly subscribed (or re-moded) instrument into its outbox.
    /// Returns the tokens that have no value at all yet (the caller may fetch a closed-hours
    /// quote for them).
    pub fn subscribe(
        &mut self,
        client: ClientId,
        sink: impl Into<Sink>,
        items: &[(Arc<Instrument>, Mode)],
        candles: CandleRequest,
        live: Liveness,
    ) -> Vec<Token> {
        let mut missing = Vec::new();
        let subs = self.clients.entry(client).or_insert_with(|| ClientSubs {
            sink: sink.into(),
            tokens: HashMap::new(),
        });
        for (inst, mode) in items {
            let token = inst.token;
            let held = self.held.entry(token).or_default();
            if held.subscribed.is_none() {
                self.subscribed += 1;
                self.wanted.insert(token);
            }
            let entry = held.subscribed.get_or_insert_with(|| Entry {
                inst: inst.clone(),
                subs: Vec::new(),
            });
            let changed_mode = entry.add(client, subs, *mode, candles);
            match &held.latest {
                None => missing.push(token),
                Some((latest_inst, tick)) if changed_mode => {
                    let Some((_, slot)) = subs.tokens.get(&token) else {
                        continue;
                    };
                    // The snapshot supersedes a tick still pending in the slot (older, and in
                    // the old mode after a re-mode). An overflow is noticed and reported by the
                    // client task on its next drain; the hub must not block or fail here.
                    match &subs.sink {
                        Sink::Json(outbox) => {
                            let freshness = Freshness::of(tick, live.feed, live.now_ms);
                            let stamp = (held.log.seq() > 0).then_some(Stamp {
                                seq: held.log.seq(),
                                epoch: self.resume.epoch,
                            });
                            let mut text = self.encoder.buffer(*mode);
                            write_stamped(&mut text, tick, latest_inst, *mode, freshness, stamp);
                            let _ = outbox.push_snapshot(*slot, Utf8Bytes::from(text));
                        }
                        // Kite has no snapshot message: the value takes the slot's place, so
                        // it goes out with the next write and no older tick follows it.
                        Sink::Kite(outbox) => {
                            outbox.push_tick(
                                *slot,
                                kite_compat::encode(tick, *mode),
                                Instant::now(),
                            );
                        }
                    }
                }
                Some(_) => {}
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
            let Some((_, slot)) = subs.tokens.remove(token) else {
                continue;
            };
            subs.sink.free_slot(slot);
            let Some(held) = self.held.get_mut(token) else {
                continue;
            };
            if let Some(entry) = &mut held.subscribed {
                entry.subs.retain(|s| s.client != client);
                if entry.subs.is_empty() {
                    held.subscribed = None;
                    self.subscribed -= 1;
                    if !held.wanted() {
                        self.wanted.remove(token);
                    }
                }
            }
            if held.is_empty() {
                self.held.remove(token);
            }
        }
        if subs.tokens.is_empty() {
            self.clients.remove(&client);
        }
    }

    /// Drops everything a client had.
    /// Drops everything a client had. A `/ws/market` client's instruments stay subscribed
    /// upstream for the linger time, so that it can resume without a gap.
    pub fn disconnect(&mut self, client: ClientId) {
        self.cancel_resumes(client);
        let Some(subs) = self.clients.get(&client) else {
            return;
        };
        let tokens: Vec<Token> = subs.tokens.keys().copied().collect();
        if matches!(subs.sink, Sink::Json(_)) {
            let modes: Vec<(Token, Mode)> =
                subs.tokens.iter().map(|(t, (m, _))| (*t, *m)).collect();
            self.linger(&modes);
        }
        self.unsubscribe(client, &tokens);
        self.clients.remove(&client);
    }

    /// Records ticks as the latest values and fans them out to subscribers, encoding each tick
    /// once per mode that some subscriber wants.
    pub fn on_ticks(&mut self, ticks: &[Tick], live: Liveness) -> FanoutStats {
        let mut stats = FanoutStats::default();
        let received = Instant::now();
        let Self {
            held,
            candles,
            encoder,
            ws_precedence_ms,
            resume,
            ..
        } = self;
        let day = ist_day(live.now_ms);
        for tick in ticks {
            stats.ticks += 1;
            // Not wanted by anyone and never seen: an unsolicited tick. Ignore it.
            let Some(h) = held.get_mut(&tick.token) else {
                continue;
            };
            match &h.latest {
                Some((_, latest)) if ws_precedes(tick, latest, live.now_ms, *ws_precedence_ms) => {
                    stats.superseded += 1;
                    continue;
                }
                None if !h.wanted() => continue,
                Some(_) | None => {}
            }
            // A REST quote while the feed is not live is a closed-hours quote: the last price
            // of an earlier session, not a trade now, so it makes no candle.
            let closed_hours = tick.src == Source::Rest && !live.feed.is_live();
            if !closed_hours
                && h.wanted()
                && let Some(c) = candles.on_tick(tick)
                && let Some(entry) = &h.subscribed
            {
                entry.emit_candle(candles, c);
            }
            if !h.record(tick) {
                continue;
            }
            let Some((_, merged)) = &h.latest else {
                continue;
            };
            // Kept for resuming only where a client is, or just was, subscribed (or is
            // resuming).
            let keep = if h.subscribed.is_some() || h.lingering.is_some() || h.log.pinned() {
                resume.keep
            } else {
                0
            };
            let seq = h.log.advance(merged, day, keep, resume.anchoring);
            let Some(entry) = &h.subscribed else {
                continue;
            };
            let freshness = Freshness::of(merged, live.feed, live.now_ms);
            let stamp = Stamp {
                seq,
                epoch: resume.epoch,
            };
            entry.fan_out(merged, freshness, stamp, received, encoder, &mut stats);
        }
        stats
    }

    /// Closes every minute that ended before `now_secs` and pushes the candles. Called by the
    /// hub's minute timer so candles close on time even when no later tick arrives.
    pub fn close_candles(&mut self, now_secs: i64) -> usize {
        let closed = self.candles.close_due(now_secs);
        let n = closed.len();
        for c in closed {
            if let Some(entry) = self.held.get(&c.token).and_then(|h| h.subscribed.as_ref()) {
                entry.emit_candle(&self.candles, c);
            }
        }
        n
    }

    /// Today's 1-minute candles of an instrument (closed plus forming), with its divisor.
    pub fn candles_of(&self, token: Token) -> Option<(u32, Vec<Candle>)> {
        self.candles.series(token).map(|s| (s.divisor, s.minutes()))
    }

    /// Merges the broker's minute history of an instrument someone still wants (see
    /// [`CandleBook::merge_history`]); returns how many minutes were added.
    pub fn merge_history(&mut self, history: &History, now_secs: i64) -> usize {
        if !self.wanted.contains(&history.token) {
            return 0;
        }
        self.candles.merge_history(
            history.token,
            history.divisor,
            history.day,
            &history.candles,
            now_secs,
        )
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
                let (inst, _) = self.held.get(token)?.latest.as_ref()?;
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
            let held = self.held.entry(tick.token).or_default();
            if held.latest.is_none() {
                held.latest = Some((inst, tick));
            }
        }
    }

    /// The union of all subscriptions and the watchlist, at the highest mode wanted.
    pub fn demand(&self) -> Demand {
        self.wanted
            .iter()
            .filter_map(|token| {
                let held = self.held.get(token)?;
                let watched = held.watched.as_ref().map(|(_, m)| *m);
                let subscribed = held.subscribed.as_ref().and_then(Entry::top_mode);
                let kept = held.kept.as_ref().map(|(_, m)| *m);
                let lingering = held.lingering.as_ref().map(|(_, m, _)| *m);
                watched
                    .max(subscribed)
                    .max(kept)
                    .max(lingering)
                    .map(|m| (*token, m))
            })
            .collect()
    }

    pub fn latest(&self, token: Token) -> Option<&Tick> {
        let (_, tick) = self.held.get(&token)?.latest.as_ref()?;
        Some(tick)
    }

    /// Every latest value (for persistence of last-known values).
    pub fn latest_all(&self) -> impl Iterator<Item = (&Arc<Instrument>, &Tick)> {
        self.held
            .values()
            .filter_map(|h| h.latest.as_ref().map(|(i, t)| (i, t)))
    }

    /// Instruments with at least one client subscriber.
    pub fn subscribed_instruments(&self) -> usize {
        self.subscribed
    }

    #[cfg(test)]
    fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Subscribers of one instrument.
    #[cfg(test)]
    fn subscribers(&self, token: Token) -> usize {
        self.held
            .get(&token)
            .and_then(|h| h.subscribed.as_ref())
            .map_or(0, |e| e.subs.len())
    }
}

impl Entry {
    fn top_mode(&self) -> Option<Mode> {
        self.subs.iter().map(|s| s.mode).max()
    }

    /// Adds `client` at `mode`, or re-modes its subscription; `candles` updates what it asked
    /// for unless it says `Keep`. True when a snapshot is due (new, or a new mode).
    fn add(
        &mut self,
        client: ClientId,
        subs: &mut ClientSubs,
        mode: Mode,
        candles: CandleRequest,
    ) -> bool {
        let token = self.inst.token;
        if candles != CandleRequest::Keep
            && let Some(s) = self.subs.iter_mut().find(|s| s.client == client)
        {
            s.candles = candles.interval();
        }
        match subs.tokens.get_mut(&token) {
            Some((old, _)) if *old == mode => false,
            Some((old, _)) => {
                *old = mode;
                if let Some(s) = self.subs.iter_mut().find(|s| s.client == client) {
                    s.mode = mode;
                }
                true
            }
            None => {
                let slot = subs.sink.alloc_slot();
                subs.tokens.insert(token, (mode, slot));
                self.subs.push(Sub {
                    client,
                    sink: subs.sink.clone(),
                    slot,
                    mode,
                    candles: candles.interval(),
                });
                true
            }
        }
    }

    /// Pushes `tick` into every subscriber's conflation slot, encoding it once per kind and
    /// mode (JSON text for `/ws/market`, a Kite packet for `/kite`).
    fn fan_out(
        &self,
        tick: &Tick,
        freshness: Freshness,
        stamp: Stamp,
        received: Instant,
        encoder: &mut Encoder,
        stats: &mut FanoutStats,
    ) {
        let mut json: [Option<Utf8Bytes>; 3] = [None, None, None];
        let mut kite: [Option<Bytes>; 3] = [None, None, None];
        // Counted in a local: the loop body is the per-client cost, kept to the push itself.
        let mut conflated = 0;
        for sub in &self.subs {
            let idx = sub.mode.index();
            let replaced = match &sub.sink {
                Sink::Json(outbox) => {
                    let text = json[idx].get_or_insert_with(|| {
                        encoder.encode(tick, &self.inst, sub.mode, freshness, Some(stamp), stats)
                    });
                    outbox.push_tick(sub.slot, text.clone(), received)
                }
                Sink::Kite(outbox) => {
                    let packet = kite[idx].get_or_insert_with(|| {
                        let p = kite_compat::encode(tick, sub.mode);
                        stats.encoded += 1;
                        stats.encoded_bytes += p.len() as u64;
                        p
                    });
                    outbox.push_tick(sub.slot, packet.clone(), received)
                }
            };
            if replaced {
                conflated += 1;
            }
        }
        stats.messages += self.subs.len() as u64;
        stats.conflated += conflated;
    }

    /// Pushes a closed minute to clients that asked for candles of this instrument: every
    /// minute for `1m`, and the aggregated candle for `5m`/`15m` when this minute completes one.
    fn emit_candle(&self, book: &CandleBook, closed: Closed) {
        if self.subs.iter().all(|s| s.candles.is_none()) {
            return;
        }
        let mut encoded: [Option<Utf8Bytes>; 3] = [None, None, None];
        for sub in &self.subs {
            let Some(interval) = sub.candles else {
                continue;
            };
            let idx = match interval {
                CandleInterval::M1 => 0,
                CandleInterval::M5 => 1,
                CandleInterval::M15 => 2,
            };
            if encoded[idx].is_none() {
                let Some(candle) = candle_for(book, &closed, interval) else {
                    continue;
                };
                let mut text = String::with_capacity(192);
                write_candle_message(
                    &mut text,
                    &self.inst.symbol_json,
                    interval.as_str(),
                    &candle,
                    closed.divisor,
                );
                encoded[idx] = Some(Utf8Bytes::from(text));
            }
            if let (Some(text), Sink::Json(outbox)) = (&encoded[idx], &sub.sink) {
                let _ = outbox.push_immediate(text.clone());
            }
        }
    }
}

/// The candle of `interval` that the closed minute completes, if any: the minute itself for
/// `1m`, the aggregate of its bucket when it is a bucket's last minute.
fn candle_for(book: &CandleBook, closed: &Closed, interval: CandleInterval) -> Option<Candle> {
    let n = interval.minutes();
    if n == 1 {
        return Some(closed.candle);
    }
    if !completes(closed.candle.t, n) {
        return None;
    }
    let start = bucket(closed.candle.t, n);
    let series = book.series(closed.token)?;
    let recent: Vec<Candle> = series
        .closed
        .iter()
        .filter(|c| c.t >= start)
        .copied()
        .collect();
    aggregate(&recent, n).into_iter().find(|c| c.t == start)
}

/// A REST quote whose instrument's latest value came from the WebSocket after the quote was
/// requested (a REST tick's `received_ms` is its request time), or less than the precedence
/// window ago: it is older than what clients have (polled before the WebSocket resumed), or
/// the instrument's shard is streaming it, so it is dropped.
fn ws_precedes(tick: &Tick, latest: &Tick, now_ms: i64, window_ms: i64) -> bool {
    tick.src == Source::Rest
        && latest.src == Source::Ws
        && (latest.received_ms >= tick.received_ms
            || now_ms.saturating_sub(latest.received_ms) < window_ms)
}

#[path = "resume.rs"]
mod resume;

/// Helpers shared by the hub's unit tests.
#[cfg(test)]
pub(super) mod tests_support {
    pub(crate) use super::tests::{LIVE, reg, tick};
}
pub use resume::{ResumeItem, ResumeReport, ResumeStart};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::outbox::{Drained, Outbox};
    use crate::model::instruments::{InstrumentSpec, Registry};
    use crate::model::tick::{Quote, Source};

    /// A hub whose instruments leave the demand as soon as their last client does.
    const NO_LINGER: crate::hub::ResumeConfig = crate::hub::ResumeConfig {
        epoch: 0,
        keep: 16,
        linger: Duration::ZERO,
        anchoring: Anchoring::OFF,
    };

    pub(crate) const LIVE: Liveness = Liveness {
        feed: FeedLive::ALWAYS,
        now_ms: 1_000_000,
    };

    pub(crate) fn reg() -> Registry {
        let spec = |token, ts: &str| InstrumentSpec::nse_equity(token, ts, ts);
        Registry::new([spec(1, "AAA"), spec(2, "BBB"), spec(3, "CCC")])
    }

    pub(crate) fn tick(token: Token, ltp: i64, volume: u64) -> Tick {
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

    /// The kept set (Kite REST reads) counts in the demand at its mode, its ticks are recorded
    /// without any client, and replacing it drops what left it.
    #[test]
    fn kept_instruments_are_demanded_and_recorded() {
        let r = reg();
        let mut hub = HubCore::new();
        let i1 = r.by_token(1).unwrap().clone();
        let i2 = r.by_token(2).unwrap().clone();
        hub.set_watchlist(vec![(i1.clone(), Mode::Ltp)]);
        hub.set_kept(vec![(i1.clone(), Mode::Full), (i2.clone(), Mode::Full)]);
        let want: Demand = [(1, Mode::Full), (2, Mode::Full)].into();
        assert_eq!(hub.demand(), want);
        hub.on_ticks(&[tick(2, 150, 7)], LIVE);
        assert_eq!(hub.latest(2).map(|t| t.ltp), Some(150));
        hub.set_kept(vec![]);
        let want: Demand = [(1, Mode::Ltp)].into();
        assert_eq!(hub.demand(), want, "the watchlist stays at its own mode");
        assert_eq!(hub.subscribed_instruments(), 0, "no client subscribes");
    }

    #[test]
    fn demand_is_the_union_at_the_highest_mode() {
        let r = reg();
        let mut hub = HubCore::new().with_resume(NO_LINGER);
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
            feed: FeedLive::DOWN,
            now_ms: 999_000 + 61_000,
        };
        hub.subscribe(9, &ob, &[(i1, Mode::Ltp)], CandleRequest::Keep, down);
        let (imm, _) = drain(&ob);
        assert!(imm[0].contains("\"stale\":true,\"age_s\":61"), "{}", imm[0]);
    }

    /// Issue 18: after an outage, a value that has not ticked since the feed came back is a
    /// last-known one in the snapshot, while values of the new live period are live; REST
    /// values over a live feed carry their age.
    #[test]
    fn only_values_of_the_current_live_period_are_live() {
        let r = reg();
        let mut hub = HubCore::new();
        let (i1, i2) = (
            r.by_token(1).unwrap().clone(),
            r.by_token(2).unwrap().clone(),
        );
        hub.set_watchlist(vec![(i1.clone(), Mode::Quote), (i2.clone(), Mode::Quote)]);
        hub.on_ticks(&[tick(1, 150, 10), tick(2, 150, 10)], LIVE);
        // The feed went down and came back at 1,200,000; only instrument 2 has ticked since.
        let back = Liveness {
            feed: FeedLive::since(1_200_000),
            now_ms: 1_216_500,
        };
        let fresh = Tick {
            received_ms: 1_210_000,
            ..tick(2, 151, 11)
        };
        hub.on_ticks(&[fresh], back);
        let ob = Arc::new(Outbox::new(1 << 20));
        let items = [(i1.clone(), Mode::Ltp), (i2.clone(), Mode::Ltp)];
        hub.subscribe(9, &ob, &items, CandleRequest::Keep, back);
        let (imm, _) = drain(&ob);
        let of = |sym: &str| imm.iter().find(|m| m.contains(sym)).cloned().unwrap();
        assert!(
            of("NSE:AAA").contains("\"stale\":true,\"age_s\":217"),
            "{imm:?}"
        );
        assert!(!of("NSE:BBB").contains("stale"), "{imm:?}");

        // Fan-out of a REST quote bridged over the live feed: src rest, with its age.
        let polled = Tick {
            received_ms: 1_214_000,
            src: Source::Rest,
            ..tick(1, 152, 12)
        };
        hub.on_ticks(&[polled], back);
        let (_, ticks) = drain(&ob);
        assert_eq!(ticks.len(), 1, "{ticks:?}");
        assert!(
            ticks[0].contains("\"src\":\"rest\",\"age_s\":2"),
            "{ticks:?}"
        );
        assert!(!ticks[0].contains("stale"), "{ticks:?}");
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

    fn full(ltp: i64, exchange_ts: i64) -> Tick {
        let mut depth = crate::model::tick::Depth::default();
        depth.buy[0] = crate::model::tick::Level {
            price: ltp - 5,
            quantity: 10,
            orders: 1,
        };
        depth.sell[0] = crate::model::tick::Level {
            price: ltp + 5,
            quantity: 10,
            orders: 1,
        };
        Tick {
            full: Some(crate::model::tick::Full {
                exchange_ts: Some(exchange_ts),
                last_trade_ts: Some(exchange_ts),
                oi: Some(0),
                oi_day_high: None,
                oi_day_low: None,
                depth: Some(depth),
            }),
            ..tick(1, ltp, 10)
        }
    }

    fn json(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap()
    }

    /// After a full tick, a quote-only one (the full-mode client left; or the WebSocket took
    /// over from a closed-hours REST quote) is sent with its own time, and nobody is shown the
    /// old book.
    #[test]
    fn a_quote_tick_after_a_full_one_carries_its_own_time_and_no_old_depth() {
        let r = reg();
        let mut hub = HubCore::new();
        let i1 = r.by_token(1).unwrap().clone();
        let ob = Arc::new(Outbox::new(1 << 20));
        hub.subscribe(1, &ob, &[(i1, Mode::Full)], CandleRequest::Keep, LIVE);
        // 2026-11-23 09:00:00 IST: a closed-hours REST quote would carry an old exchange time.
        let old_ts = 1_795_404_600;
        hub.on_ticks(&[full(150, old_ts)], LIVE);
        let (_, t) = drain(&ob);
        assert_eq!(json(&t[0])["data"]["ts"], "2026-11-23T09:00:00+05:30");
        assert!(json(&t[0])["data"].get("depth").is_some());

        let quote_only = Tick {
            received_ms: 1_795_409_102_000, // 10:15:02 IST
            ..tick(1, 151, 11)
        };
        hub.on_ticks(&[quote_only], LIVE);
        let (_, t) = drain(&ob);
        let d = &json(&t[0])["data"];
        assert_eq!(d["ts"], "2026-11-23T10:15:02+05:30", "{d}");
        for gone in ["depth", "bid", "ask", "oi", "ltt"] {
            assert!(d.get(gone).is_none(), "{gone} from the older tick: {d}");
        }
        assert_eq!(
            hub.latest(1).unwrap().full,
            None,
            "/api/quotes shows no old book either"
        );
    }

    /// A REST quote does not replace a value the WebSocket delivered within the precedence
    /// window; after it (the WebSocket is evidently not delivering this one) it does.
    #[test]
    fn a_rest_quote_does_not_replace_a_recent_websocket_value() {
        let r = reg();
        let mut hub = HubCore::with_ws_precedence(Duration::from_secs(10));
        let i1 = r.by_token(1).unwrap().clone();
        let ob = Arc::new(Outbox::new(1 << 20));
        hub.subscribe(1, &ob, &[(i1, Mode::Quote)], CandleRequest::Keep, LIVE);
        let at = |ms: i64| Liveness {
            feed: FeedLive::ALWAYS,
            now_ms: ms,
        };
        let ws = Tick {
            received_ms: 1_000_000,
            ..tick(1, 150, 20)
        };
        hub.on_ticks(&[ws], at(1_000_000));
        drain(&ob);

        // Polled before the WebSocket tick, delivered after it: older price and volume.
        let rest = Tick {
            received_ms: 1_002_000,
            src: Source::Rest,
            ..tick(1, 149, 19)
        };
        let s = hub.on_ticks(&[rest], at(1_002_000));
        assert_eq!((s.superseded, s.messages), (1, 0));
        assert_eq!(
            hub.latest(1).unwrap().ltp,
            150,
            "the price does not go back"
        );
        assert_eq!(hub.latest(1).unwrap().src, Source::Ws);
        assert!(drain(&ob).1.is_empty());

        // Nothing from the WebSocket for the whole window: REST values are the news.
        let rest = Tick {
            received_ms: 1_010_000,
            ..rest
        };
        let s = hub.on_ticks(&[rest], at(1_010_000));
        assert_eq!((s.superseded, s.messages), (0, 1));
        assert_eq!(hub.latest(1).unwrap().src, Source::Rest);
        // And a REST value never holds back the next REST one.
        let s = hub.on_ticks(
            &[Tick {
                received_ms: 1_012_000,
                ..rest
            }],
            at(1_012_000),
        );
        assert_eq!(s.superseded, 0);

        // The WebSocket is back while a batch is in flight: however late the batch lands, a
        // quote requested before the WebSocket's tick does not replace it.
        let ws = Tick {
            received_ms: 1_020_000,
            ..tick(1, 152, 25)
        };
        hub.on_ticks(&[ws], at(1_020_000));
        let in_flight = Tick {
            received_ms: 1_019_500,
            ..rest
        };
        let s = hub.on_ticks(&[in_flight], at(1_040_000));
        assert_eq!((s.superseded, s.messages), (1, 0));
        assert_eq!(hub.latest(1).unwrap().ltp, 152);
    }

    /// On a mode change the snapshot in the new mode goes out, and an undelivered tick in the
    /// old mode is not written after it.
    #[test]
    fn a_re_mode_snapshot_is_not_followed_by_an_old_mode_tick() {
        let r = reg();
        let mut hub = HubCore::new();
        let i1 = r.by_token(1).unwrap().clone();
        let ob = Arc::new(Outbox::new(1 << 20));
        hub.subscribe(
            1,
            &ob,
            &[(i1.clone(), Mode::Quote)],
            CandleRequest::Keep,
            LIVE,
        );
        hub.on_ticks(&[full(150, 1_795_409_100)], LIVE); // pending, not drained: quote mode
        hub.subscribe(1, &ob, &[(i1, Mode::Full)], CandleRequest::Keep, LIVE);
        let (imm, ticks) = drain(&ob);
        assert_eq!(imm.len(), 1);
        assert!(
            json(&imm[0])["data"].get("depth").is_some(),
            "the full snapshot"
        );
        assert!(ticks.is_empty(), "no quote-mode tick after it: {ticks:?}");
    }

    /// What `demand` and `subscribed_instruments` must equal, computed the slow way over every
    /// held instrument.
    fn brute_force(hub: &HubCore) -> (Demand, usize) {
        let demand = (hub.held.iter())
            .filter_map(|(token, h)| {
                let watched = h.watched.as_ref().map(|(_, m)| *m);
                let subscribed = h.subscribed.as_ref().and_then(Entry::top_mode);
                watched.max(subscribed).map(|m| (*token, m))
            })
            .collect();
        let subscribed = hub.held.values().filter(|h| h.subscribed.is_some()).count();
        (demand, subscribed)
    }

    proptest::proptest! {
        /// The index of wanted tokens and the subscriber count stay what the held map says,
        /// through any sequence of subscribes, unsubscribes, disconnects, watchlist changes and
        /// seeded or live values.
        #[test]
        fn demand_follows_every_change(ops in proptest::collection::vec((0u8..6, 1u64..4, 1u32..4, 0u8..3), 1..60)) {
            let r = reg();
            let mut hub = HubCore::new().with_resume(NO_LINGER);
            let outboxes: Vec<Arc<Outbox>> = (0..4).map(|_| Arc::new(Outbox::new(1 << 20))).collect();
            for (op, client, token, m) in ops {
                let inst = r.by_token(token).unwrap().clone();
                let mode = Mode::ALL[usize::from(m)];
                let outbox = &outboxes[client as usize];
                match op {
                    0 | 1 => {
                        hub.subscribe(client, outbox, &[(inst, mode)], CandleRequest::Keep, LIVE);
                    }
                    2 => hub.unsubscribe(client, &[token]),
                    3 => hub.disconnect(client),
                    4 => hub.set_watchlist(if m == 0 { vec![] } else { vec![(inst, mode)] }),
                    _ => {
                        hub.seed(vec![(inst, tick(token, 100, 1))]);
                        hub.on_ticks(&[tick(token, 101, 2)], LIVE);
                    }
                }
                let (demand, subscribed) = brute_force(&hub);
                proptest::prop_assert_eq!(hub.demand(), demand);
                proptest::prop_assert_eq!(hub.subscribed_instruments(), subscribed);
            }
        }
    }
}
