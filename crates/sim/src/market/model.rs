//! One instrument's simulated market: a random walk on the tick grid inside daily circuit
//! limits, with trades (strictly increasing cumulative volume), VWAP, resting quantities, a
//! 5+5 order book around the last price and open interest for derivatives. Pure: the caller
//! supplies the random source and the time.

use crate::universe::{Instrument, InstrumentType};
use chrono::NaiveDate;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Depth levels per side.
pub const DEPTH_LEVELS: usize = 5;

/// One price level of the order book (prices in wire units), as everywhere in feedgate.
pub use feedgate_market::Level;

/// The observable market state of an instrument, broker-neutral. Prices are integers in the
/// instrument's wire unit (`Instrument::divisor` per rupee); times are Unix epoch seconds.
/// Indices have no trades: their quantities, volume, depth and OI stay zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Quote {
    pub last_price: i64,
    pub last_quantity: u64,
    pub average_price: i64,
    /// Cumulative volume today; strictly increases on every update of a tradable instrument.
    pub volume: u64,
    pub buy_quantity: u64,
    pub sell_quantity: u64,
    pub open: i64,
    pub high: i64,
    pub low: i64,
    /// Previous session's close, fixed for the day.
    pub close: i64,
    pub lower_circuit: i64,
    pub upper_circuit: i64,
    pub oi: u64,
    pub oi_day_high: u64,
    pub oi_day_low: u64,
    pub last_trade_time: i64,
    pub exchange_time: i64,
    pub bids: [Level; DEPTH_LEVELS],
    pub asks: [Level; DEPTH_LEVELS],
    /// Number of updates since start (a per-instrument sequence number).
    pub updates: u64,
}

/// How an instrument class moves; derived from the instrument once.
#[derive(Debug, Clone, Copy)]
struct Params {
    tick: i64,
    /// Largest single move, in ticks.
    max_step: i64,
    /// Circuit band around the previous close, in basis points.
    band_bps: i64,
    lot: u64,
    max_trade_lots: u64,
    max_level_lots: u64,
    index: bool,
    derivative: bool,
}

impl Params {
    fn of(inst: &Instrument) -> Self {
        // Volatility per update (bps of price) and circuit band (bps) by class: about one
        // update per second gives daily ranges of roughly 1 % for stocks and indices.
        let (vol_bps, band_bps, max_trade_lots, max_level_lots) = match inst.instrument_type {
            _ if inst.is_index() => (1, 1_000, 0, 0),
            InstrumentType::Ce | InstrumentType::Pe => (30, 5_000, 40, 200),
            InstrumentType::Fut if inst.exchange == "CDS" || inst.exchange == "BCD" => {
                (1, 300, 100, 500)
            }
            InstrumentType::Fut => (1, 1_000, 10, 60),
            InstrumentType::Eq if inst.base_price >= 500_000 => (1, 1_000, 20, 80),
            InstrumentType::Eq => (1, 1_000, 200, 1_500),
        };
        let tick = inst.tick_size.max(1);
        Self {
            tick,
            max_step: (inst.base_price * vol_bps / 10_000 / tick).max(1),
            band_bps,
            lot: u64::from(inst.lot_size.max(1)),
            max_trade_lots,
            max_level_lots,
            index: inst.is_index(),
            derivative: inst.is_derivative(),
        }
    }

    fn round_to_tick(&self, price: i64) -> i64 {
        ((price + self.tick / 2) / self.tick) * self.tick
    }

    /// Lowest price the walk may reach: 20 ticks keeps all five bid levels above zero.
    fn floor(&self) -> i64 {
        20 * self.tick
    }
}

/// Simulation state of one instrument.
#[derive(Debug, Clone)]
pub(crate) struct InstrumentModel {
    params: Params,
    quote: Quote,
    turnover: i128,
    resting_buy: u64,
    resting_sell: u64,
    session_day: NaiveDate,
}

impl InstrumentModel {
    /// A session already under way at start-up: previous close near the reference price, some
    /// volume traded at the open, OI in place.
    pub(crate) fn start<R: Rng>(
        inst: &Instrument,
        rng: &mut R,
        now_secs: i64,
        day: NaiveDate,
    ) -> Self {
        let params = Params::of(inst);
        let perturbed = inst.base_price * (10_000 + rng.random_range(-200..=200)) / 10_000;
        let close = params.round_to_tick(perturbed).max(params.floor());
        let mut model = Self {
            params,
            quote: Quote::default(),
            turnover: 0,
            resting_buy: 0,
            resting_sell: 0,
            session_day: day,
        };
        model.open_session(rng, close, now_secs);
        if !params.index {
            let lots = rng.random_range(5_000..=50_000) * params.max_trade_lots.max(1) / 10;
            model.quote.volume = lots * params.lot;
            model.turnover = i128::from(model.quote.last_price) * i128::from(model.quote.volume);
            model.quote.average_price = model.quote.last_price;
            model.resting_buy = params.lot * params.max_level_lots * rng.random_range(20..=60);
            model.resting_sell = params.lot * params.max_level_lots * rng.random_range(20..=60);
        }
        if params.derivative {
            let oi = params.lot * rng.random_range(20_000..=200_000);
            model.quote.oi = oi;
            model.quote.oi_day_high = oi;
            model.quote.oi_day_low = oi;
        }
        model.refresh_book(rng, 0);
        model
    }

    pub(crate) fn quote(&self) -> &Quote {
        &self.quote
    }

    /// Opens a trading day with `close` as the previous close: circuit limits, an opening
    /// price near the close, and today's counters at zero.
    fn open_session<R: Rng>(&mut self, rng: &mut R, close: i64, now_secs: i64) {
        let p = self.params;
        let lower = p
            .round_to_tick(close * (10_000 - p.band_bps) / 10_000)
            .max(p.floor());
        let upper = p
            .round_to_tick(close * (10_000 + p.band_bps) / 10_000)
            .max(lower + p.tick);
        let open = p
            .round_to_tick(close * (10_000 + rng.random_range(-50..=50)) / 10_000)
            .clamp(lower, upper);
        let q = &mut self.quote;
        q.close = close;
        q.lower_circuit = lower;
        q.upper_circuit = upper;
        q.open = open;
        q.high = open;
        q.low = open;
        q.last_price = open;
        q.last_quantity = 0;
        q.volume = 0;
        q.average_price = 0;
        q.oi_day_high = q.oi;
        q.oi_day_low = q.oi;
        q.last_trade_time = now_secs;
        q.exchange_time = now_secs;
        self.turnover = 0;
    }

    /// One market update (a trade for tradables, a new value for indices) at `now_secs`, on
    /// trading day `day` (a new day rolls the session first).
    pub(crate) fn update<R: Rng>(&mut self, rng: &mut R, now_secs: i64, day: NaiveDate) {
        if day != self.session_day {
            self.session_day = day;
            let close = self.quote.last_price;
            self.open_session(rng, close, now_secs);
        }
        let p = self.params;
        let step = if rng.random_bool(0.35) {
            0
        } else {
            let size = rng.random_range(1..=p.max_step);
            if rng.random_bool(0.5) { size } else { -size }
        };
        let q = &mut self.quote;
        let mut price = q.last_price + step * p.tick;
        if price < q.lower_circuit || price > q.upper_circuit {
            // Reflect off the circuit limits rather than sticking to them.
            price = q.last_price - step * p.tick;
        }
        price = price.clamp(q.lower_circuit, q.upper_circuit);
        q.last_price = price;
        q.high = q.high.max(price);
        q.low = q.low.min(price);
        q.last_trade_time = now_secs;
        q.exchange_time = now_secs;
        q.updates += 1;
        if p.index {
            return;
        }
        let quantity = p.lot * rng.random_range(1..=p.max_trade_lots);
        q.last_quantity = quantity;
        q.volume = q.volume.saturating_add(quantity);
        self.turnover += i128::from(price) * i128::from(quantity);
        q.average_price = vwap(self.turnover, q.volume);
        if p.derivative {
            let change = rng.random_range(-3..=3) * i64::try_from(p.lot).unwrap_or(1);
            q.oi = q.oi.saturating_add_signed(change).max(p.lot * 100);
            q.oi_day_high = q.oi_day_high.max(q.oi);
            q.oi_day_low = q.oi_day_low.min(q.oi);
        }
        self.resting_buy = drift(rng, self.resting_buy, p.lot * 100);
        self.resting_sell = drift(rng, self.resting_sell, p.lot * 100);
        self.refresh_book(rng, step);
    }

    /// Rebuilds the 5+5 book around the last price on the tick grid: an up-move traded at the
    /// ask, a down-move at the bid. Best bid < best ask; every level has quantity and orders.
    fn refresh_book<R: Rng>(&mut self, rng: &mut R, step: i64) {
        let p = self.params;
        if p.index {
            return;
        }
        let q = &mut self.quote;
        let spread = p.tick * rng.random_range(1..=2);
        let traded_at_ask = match step.signum() {
            1 => true,
            -1 => false,
            _ => rng.random_bool(0.5),
        };
        let (best_bid, best_ask) = if traded_at_ask {
            (q.last_price - spread, q.last_price)
        } else {
            (q.last_price, q.last_price + spread)
        };
        let mut bid_total = 0;
        let mut ask_total = 0;
        let (mut bid, mut ask) = (best_bid, best_ask);
        for (b, a) in q.bids.iter_mut().zip(q.asks.iter_mut()) {
            *b = level(rng, bid, p);
            *a = level(rng, ask, p);
            bid_total += b.quantity;
            ask_total += a.quantity;
            bid -= p.tick * rng.random_range(1..=2);
            ask += p.tick * rng.random_range(1..=2);
        }
        q.buy_quantity = bid_total + self.resting_buy;
        q.sell_quantity = ask_total + self.resting_sell;
    }
}

fn level<R: Rng>(rng: &mut R, price: i64, p: Params) -> Level {
    let lots = rng.random_range(1..=p.max_level_lots.max(1));
    Level {
        price,
        quantity: lots * p.lot,
        orders: u32::try_from(rng.random_range(1..=lots.min(30))).unwrap_or(1),
    }
}

/// A resting quantity drifting by up to ±2 % per update, never below `min`.
fn drift<R: Rng>(rng: &mut R, value: u64, min: u64) -> u64 {
    let pct = rng.random_range(-2i64..=2);
    let delta = i64::try_from(value / 100).unwrap_or(i64::MAX) * pct;
    value.saturating_add_signed(delta).max(min)
}

/// Volume-weighted average price, rounded to the nearest wire unit.
fn vwap(turnover: i128, volume: u64) -> i64 {
    if volume == 0 {
        return 0;
    }
    let volume = i128::from(volume);
    i64::try_from((turnover + volume / 2) / volume).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::build_universe;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn check_invariants(inst: &Instrument, before: &Quote, after: &Quote) {
        let name = &inst.tradingsymbol;
        let tick = inst.tick_size;
        assert_eq!(after.last_price % tick, 0, "{name} ltp off grid");
        assert!(
            after.low <= after.last_price && after.last_price <= after.high,
            "{name}"
        );
        assert!(
            after.lower_circuit <= after.low && after.high <= after.upper_circuit,
            "{name}"
        );
        assert_eq!(after.updates, before.updates + 1, "{name}");
        if inst.is_index() {
            assert_eq!(after.volume, 0, "{name}");
            return;
        }
        assert!(
            after.volume > before.volume,
            "{name} volume must strictly increase"
        );
        assert!(after.last_quantity > 0, "{name}");
        let best_bid = after.bids[0].price;
        let best_ask = after.asks[0].price;
        assert!(
            best_bid < best_ask,
            "{name} crossed book {best_bid} {best_ask}"
        );
        for pair in after.bids.windows(2) {
            assert!(pair[0].price > pair[1].price, "{name} bids not descending");
        }
        for pair in after.asks.windows(2) {
            assert!(pair[0].price < pair[1].price, "{name} asks not ascending");
        }
        for l in after.bids.iter().chain(after.asks.iter()) {
            assert_eq!(l.price % tick, 0, "{name} depth off grid");
            assert!(
                l.price > 0 && l.quantity > 0 && l.orders > 0,
                "{name} {l:?}"
            );
        }
        if inst.is_derivative() {
            assert!(after.oi > 0 && after.oi_day_low <= after.oi && after.oi <= after.oi_day_high);
        }
        assert!(after.buy_quantity >= after.bids.iter().map(|l| l.quantity).sum::<u64>());
    }

    #[test]
    fn every_instrument_keeps_its_invariants_over_many_updates() {
        let universe = build_universe(day("2025-11-10"));
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for inst in universe.instruments() {
            let mut model =
                InstrumentModel::start(inst, &mut rng, 1_700_000_000, day("2025-11-10"));
            for i in 0..5_000 {
                let before = *model.quote();
                model.update(&mut rng, 1_700_000_000 + i, day("2025-11-10"));
                check_invariants(inst, &before, model.quote());
            }
        }
    }

    #[test]
    fn a_new_day_fixes_the_close_and_restarts_the_session() {
        let universe = build_universe(day("2025-11-10"));
        let inst = universe
            .get(universe.index_of_symbol("NSE:INFY").unwrap())
            .unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut model = InstrumentModel::start(inst, &mut rng, 0, day("2025-11-10"));
        for _ in 0..100 {
            model.update(&mut rng, 10, day("2025-11-10"));
        }
        let last = model.quote().last_price;
        model.update(&mut rng, 20, day("2025-11-11"));
        let q = model.quote();
        assert_eq!(q.close, last);
        assert_eq!(
            q.volume, q.last_quantity,
            "volume restarts with the day's first trade"
        );
        assert!(q.low <= q.open && q.open <= q.high);
    }

    #[test]
    fn vwap_rounds_to_nearest() {
        assert_eq!(vwap(0, 0), 0);
        assert_eq!(vwap(1_000, 3), 333);
        assert_eq!(vwap(1_001, 2), 501);
    }

    proptest! {
        #[test]
        fn invariants_hold_for_any_seed(seed in any::<u64>(), which in 0usize..61) {
            let universe = build_universe(day("2026-02-02"));
            let inst = universe.get(which % universe.len()).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut model = InstrumentModel::start(inst, &mut rng, 0, day("2026-02-02"));
            for i in 0..200 {
                let before = *model.quote();
                model.update(&mut rng, i, day("2026-02-02"));
                check_invariants(inst, &before, model.quote());
            }
        }
    }
}
