//! The simulated market over the universe, independent of any broker's wire format: state per
//! instrument, advanced in timer ticks. Deterministic: the same seed gives the same prices at
//! the same tick, whatever the wall clock, the subscribers or the order of reads.
//!
//! With the default pace every instrument runs on its own clock and random stream (a lane), so
//! the market costs only what is watched: the feed steps the instruments someone streams, tick
//! by tick, and any other one is run forward to the current tick when it is read (a REST quote,
//! a snapshot). While nothing is streamed the feed sleeps and the market's tick follows the
//! wall clock on reads ([`Market::follow`]). The aggregate-rate pace of the benchmarks steps
//! every instrument it picks on every tick from shared streams, as it always did.

/// One instrument's 1-minute candles.
mod bars;
/// One instrument's model.
mod model;
/// Which instruments update when.
mod schedule;

pub use bars::MinuteBar;
pub use model::{DEPTH_LEVELS, Level, Quote};
pub use schedule::TICK_PERIOD;

use crate::universe::Universe;
use bars::Bars;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use model::InstrumentModel;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use schedule::{Jitter, Schedule, TICK_PERIOD_US, tick_of};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How fast the market moves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Aggregate updates per second across all instruments; `None` = about one per second per
    /// instrument (jittered).
    pub rate: Option<f64>,
    /// Multiplies the update rate.
    pub speed: f64,
}

/// Updates of one or more ticks: per tick (market sequence number), its rounds of instrument
/// indices, each instrument at most once per round.
pub type Updates = BTreeMap<u64, Vec<Vec<usize>>>;

/// One instrument: its model, and with the jittered pace its own clock and random stream.
#[derive(Debug)]
struct Lane {
    model: InstrumentModel,
    rng: ChaCha8Rng,
    jitter: Jitter,
    /// Market time (µs since the origin) of its next update.
    next_due_us: u64,
    /// The tick it has been run to.
    tick: u64,
    /// Its minutes so far (the historical endpoints' candles).
    bars: Bars,
}

/// How ticks pick the instruments that update.
#[derive(Debug)]
enum Pacing {
    /// Each lane on its own clock: computed when streamed or read.
    Jittered,
    /// A fixed aggregate rate from shared streams: every tick steps what it picks.
    Rate {
        schedule: Schedule,
        rng: ChaCha8Rng,
        schedule_rng: ChaCha8Rng,
    },
}

/// The market: one lane per instrument plus how ticks are paced.
#[derive(Debug)]
pub struct Market {
    universe: Arc<Universe>,
    lanes: Vec<Lane>,
    pacing: Pacing,
    /// Wall time of tick 0.
    origin: DateTime<Utc>,
    tick: u64,
    /// Whether the feed steps the market (someone streams it); otherwise reads follow the clock.
    streamed: bool,
}

impl Market {
    /// Opens the market at `now` with the seed's prices.
    pub fn new(universe: Arc<Universe>, seed: u64, pace: Pace, now: DateTime<Utc>) -> Self {
        let day = ist_day(now.timestamp());
        let secs = now.timestamp();
        let slow_from = universe.synthetic_from();
        let fast = Jitter::every(std::time::Duration::from_secs(1), pace.speed);
        let slow = Jitter::every(crate::universe::SYNTHETIC_UPDATE_INTERVAL, pace.speed);
        let lanes = universe
            .instruments()
            .iter()
            .enumerate()
            .map(|(idx, inst)| {
                // One stream per instrument (streams 0 and 1 are the rate pace's).
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(2 + idx as u64);
                let model = InstrumentModel::start(inst, &mut rng, secs, day);
                let bars = Bars::starting_with(model.quote(), secs, day);
                let jitter = if idx >= slow_from { slow } else { fast };
                let next_due_us = jitter.first(&mut rng);
                Lane {
                    model,
                    rng,
                    jitter,
                    next_due_us,
                    tick: 0,
                    bars,
                }
            })
            .collect();
        let pacing = match pace.rate {
            None => Pacing::Jittered,
            Some(rate) => {
                let rng = ChaCha8Rng::seed_from_u64(seed);
                // A separate stream for scheduling keeps prices independent of the pace.
                let mut schedule_rng = ChaCha8Rng::seed_from_u64(seed);
                schedule_rng.set_stream(1);
                Pacing::Rate {
                    schedule: Schedule::rate(universe.len(), rate * pace.speed),
                    rng,
                    schedule_rng,
                }
            }
        };
        Self {
            universe,
            lanes,
            pacing,
            origin: now,
            tick: 0,
            streamed: false,
        }
    }

    pub fn universe(&self) -> &Arc<Universe> {
        &self.universe
    }

    /// Timer ticks elapsed so far: a market-wide sequence number for consistent snapshots.
    pub fn seq(&self) -> u64 {
        self.tick
    }

    /// The tick the wall clock is in at `now`.
    pub fn tick_at(&self, now: DateTime<Utc>) -> u64 {
        let us = (now - self.origin).num_microseconds().unwrap_or(i64::MAX);
        u64::try_from(us).unwrap_or(0) / TICK_PERIOD_US
    }

    /// Wall time of the end of tick `tick`.
    pub fn time_of(&self, tick: u64) -> DateTime<Utc> {
        time_at(self.origin, tick)
    }

    /// Whether the feed steps the market. While it does not, reads move the market to the wall
    /// clock's tick first ([`Self::follow`]): prices keep moving for REST clients with nobody
    /// streaming.
    pub fn set_streamed(&mut self, streamed: bool) {
        self.streamed = streamed;
    }

    /// Brings the market's tick to the wall clock's when nobody streams it (the feed owns the
    /// tick otherwise: a read must not move it past ticks the feed has yet to send).
    pub fn follow(&mut self, now: DateTime<Utc>) {
        if !self.streamed {
            self.tick = self.tick.max(self.tick_at(now));
        }
    }

    /// The current state of instrument `idx` (run forward to the current tick if need be).
    pub fn quote(&mut self, idx: usize) -> Option<&Quote> {
        let (tick, origin) = (self.tick, self.origin);
        let lane = self.lanes.get_mut(idx)?;
        if matches!(self.pacing, Pacing::Jittered) {
            lane.run_to(tick, origin, |_, _| {});
        }
        Some(lane.model.quote())
    }

    /// The 1-minute candles of instrument `idx` starting in `from..=to` (Unix seconds), run
    /// forward to the current tick first: the minute in progress is the candle so far.
    pub fn minutes(&mut self, idx: usize, from: i64, to: i64) -> Option<Vec<MinuteBar>> {
        let (tick, origin) = (self.tick, self.origin);
        let lane = self.lanes.get_mut(idx)?;
        if matches!(self.pacing, Pacing::Jittered) {
            lane.run_to(tick, origin, |_, _| {});
        }
        Some(lane.bars.between(from, to))
    }

    /// The earliest tick after the current one at which an instrument `wanted` updates (`None`:
    /// none is wanted). The rate pace updates on every tick.
    pub fn next_update(&self, wanted: impl Fn(usize) -> bool) -> Option<u64> {
        if matches!(self.pacing, Pacing::Rate { .. }) {
            return Some(self.tick + 1);
        }
        self.lanes
            .iter()
            .enumerate()
            .filter(|(idx, _)| wanted(*idx))
            .map(|(_, lane)| tick_of(lane.next_due_us).max(lane.tick + 1))
            .min()
            .map(|t| t.max(self.tick + 1))
    }

    /// Advances to tick `to` (at least one tick), stepping the instruments `wanted` (the rate
    /// pace: every one it picks) and returning their updates per tick. Instruments that became
    /// wanted since they were last run are brought to the previous tick first, silently: their
    /// reader has just seen that state.
    pub fn advance_to(&mut self, to: u64, wanted: impl Fn(usize) -> bool) -> Updates {
        let from = self.tick;
        let to = to.max(from + 1);
        let mut updates = Updates::new();
        let origin = self.origin;
        match &mut self.pacing {
            Pacing::Jittered => {
                for (idx, lane) in self.lanes.iter_mut().enumerate() {
                    if !wanted(idx) {
                        continue;
                    }
                    lane.run_to(from, origin, |_, _| {});
                    lane.run_to(to, origin, |tick, occurrence| {
                        let rounds = updates.entry(tick).or_default();
                        if rounds.len() <= occurrence {
                            rounds.resize_with(occurrence + 1, Vec::new);
                        }
                        if let Some(round) = rounds.get_mut(occurrence) {
                            round.push(idx);
                        }
                    });
                }
            }
            Pacing::Rate {
                schedule,
                rng,
                schedule_rng,
            } => {
                for tick in from + 1..=to {
                    let rounds = schedule.due(schedule_rng);
                    let at = time_at(origin, tick);
                    let (secs, day) = (at.timestamp(), ist_day(at.timestamp()));
                    for idx in rounds.iter().flatten() {
                        if let Some(lane) = self.lanes.get_mut(*idx) {
                            lane.model.update(rng, secs, day);
                            lane.bars.record(lane.model.quote(), secs, day);
                            lane.tick = tick;
                        }
                    }
                    if !rounds.is_empty() {
                        updates.insert(tick, rounds);
                    }
                }
            }
        }
        self.tick = to;
        updates
    }

    /// Advances one timer tick; returns its rounds of updated instruments.
    pub fn advance(&mut self, wanted: impl Fn(usize) -> bool) -> Vec<Vec<usize>> {
        let to = self.tick + 1;
        self.advance_to(to, wanted).remove(&to).unwrap_or_default()
    }
}

impl Lane {
    /// Runs the lane's clock to the end of tick `to`, calling `each(tick, occurrence)` after
    /// every update (`occurrence`: how many earlier updates the same tick carried).
    fn run_to(&mut self, to: u64, origin: DateTime<Utc>, mut each: impl FnMut(u64, usize)) {
        if to <= self.tick {
            return;
        }
        let end_us = to.saturating_mul(TICK_PERIOD_US);
        let mut last = (0, 0);
        while self.next_due_us <= end_us {
            let tick = tick_of(self.next_due_us);
            let occurrence = if last.0 == tick { last.1 + 1 } else { 0 };
            last = (tick, occurrence);
            let secs = time_at(origin, tick).timestamp();
            let day = ist_day(secs);
            self.model.update(&mut self.rng, secs, day);
            self.bars.record(self.model.quote(), secs, day);
            each(tick, occurrence);
            self.next_due_us += self.jitter.gap(&mut self.rng);
        }
        self.tick = to;
    }
}

/// Wall time of the end of `tick` after `origin`.
fn time_at(origin: DateTime<Utc>, tick: u64) -> DateTime<Utc> {
    let us = i64::try_from(tick.saturating_mul(TICK_PERIOD_US)).unwrap_or(i64::MAX);
    origin + TimeDelta::microseconds(us)
}

/// The IST calendar date of Unix time `secs` (the market's trading day). India keeps one
/// offset all year, so this is arithmetic (it runs for every update).
fn ist_day(secs: i64) -> NaiveDate {
    const IST_OFFSET_S: i64 = 5 * 3600 + 1800;
    let days = (secs + IST_OFFSET_S).div_euclid(86_400);
    DateTime::from_timestamp(days * 86_400, 0)
        .unwrap_or_default()
        .date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::build_universe;

    fn market(seed: u64, pace: Pace) -> Market {
        let now = DateTime::parse_from_rfc3339("2025-11-10T05:00:00Z")
            .unwrap()
            .to_utc();
        let universe = Arc::new(build_universe(crate::clock::ist_date(now)));
        Market::new(universe, seed, pace, now)
    }

    fn run(seed: u64, ticks: u64) -> Vec<Quote> {
        let pace = Pace {
            rate: None,
            speed: 1.0,
        };
        let mut m = market(seed, pace);
        for _ in 0..ticks {
            m.advance(|_| true);
        }
        (0..m.universe().len())
            .map(|i| *m.quote(i).unwrap())
            .collect()
    }

    #[test]
    fn deterministic_per_seed() {
        assert_eq!(run(42, 400), run(42, 400));
        assert_ne!(run(42, 400), run(43, 400));
    }

    #[test]
    fn reading_late_gives_what_stepping_gave() {
        let pace = Pace {
            rate: None,
            speed: 1.0,
        };
        let stepped = run(7, 1_200);
        // Nothing stepped: every instrument is run forward when read.
        let mut lazy = market(7, pace);
        lazy.advance_to(1_200, |_| false);
        // Nobody streams: the tick follows the wall clock on reads.
        let mut following = market(7, pace);
        following.follow(following.time_of(1_200));
        // Half the instruments streamed, tick by tick, the others read at the end.
        let mut mixed = market(7, pace);
        for _ in 0..1_200 {
            mixed.advance(|idx| idx % 2 == 0);
        }
        for m in [&mut lazy, &mut following, &mut mixed] {
            assert_eq!(m.seq(), 1_200);
            let quotes: Vec<Quote> = (0..stepped.len()).map(|i| *m.quote(i).unwrap()).collect();
            assert_eq!(quotes, stepped);
        }
    }

    #[test]
    fn minutes_are_what_a_subscriber_builds_from_the_ticks() {
        let pace = Pace {
            rate: None,
            speed: 1.0,
        };
        let idx = 3;
        let mut streamed = market(9, pace);
        // The subscriber's view: the snapshot, then every update as it streams.
        let snapshot = *streamed.quote(idx).unwrap();
        let mut last_volume = snapshot.volume;
        let p = snapshot.last_price;
        let t = snapshot.exchange_time.div_euclid(60) * 60;
        let mut built = vec![MinuteBar {
            t,
            open: p,
            high: p,
            low: p,
            close: p,
            volume: 0,
        }];
        for _ in 0..20 * 150 {
            if streamed.advance(|i| i == idx).concat().contains(&idx) {
                let q = *streamed.quote(idx).unwrap();
                let minute = q.exchange_time.div_euclid(60) * 60;
                let traded = q.volume - last_volume;
                last_volume = q.volume;
                match built.last_mut() {
                    Some(b) if b.t == minute => {
                        b.high = b.high.max(q.last_price);
                        b.low = b.low.min(q.last_price);
                        b.close = q.last_price;
                        b.volume += traded;
                    }
                    _ => built.push(MinuteBar {
                        t: minute,
                        open: q.last_price,
                        high: q.last_price,
                        low: q.last_price,
                        close: q.last_price,
                        volume: traded,
                    }),
                }
            }
        }
        assert!(built.len() >= 3, "2.5 minutes span 3 minutes: {built:?}");
        // Nobody streamed it here: the candles come from running it forward when asked.
        let mut lazy = market(9, pace);
        lazy.advance_to(20 * 150, |_| false);
        assert_eq!(lazy.minutes(idx, 0, i64::MAX).unwrap(), built);
        let first = built[0].t;
        assert_eq!(lazy.minutes(idx, first + 1, i64::MAX).unwrap(), built[1..]);
    }

    #[test]
    fn a_streamed_market_keeps_its_tick_on_reads() {
        let pace = Pace {
            rate: None,
            speed: 1.0,
        };
        let mut m = market(1, pace);
        m.set_streamed(true);
        m.follow(m.time_of(100));
        assert_eq!(m.seq(), 0, "the feed owns the tick while it streams");
        m.set_streamed(false);
        m.follow(m.time_of(100));
        assert_eq!(m.seq(), 100);
    }

    #[test]
    fn the_feed_wakes_for_the_next_update_of_what_is_wanted() {
        let pace = Pace {
            rate: None,
            speed: 1.0,
        };
        let mut m = market(1, pace);
        assert_eq!(m.next_update(|_| false), None);
        let next = m.next_update(|idx| idx == 3).unwrap();
        assert!((1..=20).contains(&next), "within the first second: {next}");
        let updates = m.advance_to(next, |idx| idx == 3);
        assert_eq!(updates.get(&next), Some(&vec![vec![3]]), "{updates:?}");
        assert_eq!(m.quote(3).unwrap().updates, 1);
        let after = m.next_update(|idx| idx == 3).unwrap();
        assert!(
            (next + 10..=next + 30).contains(&after),
            "0.5–1.5 s later: {after}"
        );
    }

    #[test]
    fn default_pace_updates_each_instrument_about_once_a_second() {
        let quotes = run(1, 20 * 60); // 60 s
        for q in quotes {
            assert!((50..=70).contains(&q.updates), "{} updates", q.updates);
        }
    }

    #[test]
    fn rate_pace_sustains_the_aggregate_rate() {
        let mut m = market(
            1,
            Pace {
                rate: Some(100_000.0),
                speed: 1.0,
            },
        );
        let mut total = 0;
        for _ in 0..20 {
            total += m.advance(|_| true).iter().map(Vec::len).sum::<usize>();
        }
        // How fast the simulator generates it is a benchmark's question (`feedgate-bench`
        // drives it at 10k–100k ticks/s), not a wall-clock assertion that fails on a busy box.
        assert_eq!(total, 100_000, "one second of market time");
    }
}
