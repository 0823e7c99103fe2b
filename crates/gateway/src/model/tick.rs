//! The normalised tick: one broker-independent market-data update for one instrument, with
//! prices as integers in the instrument's wire unit (see [`crate::model::price`]).
//!
//! Broker wire types convert into this (`crate::brokers::kite::wire` for Kite); everything after
//! the upstream — hub, cache, candles, JSON — works on `Tick` only.

use serde::{Deserialize, Serialize};

/// Instrument token (the broker's numeric id; Kite's `instrument_token`).
pub type Token = u32;

/// How much of an instrument's data a subscriber wants, and one depth level: defined once for
/// every crate in `feedgate-market`.
pub use feedgate_market::{Level, Mode};

/// Where a tick came from. Clients see it as `src`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The broker's streaming socket.
    Ws,
    /// A REST quote poll (fallback or closed-hours quote).
    Rest,
    /// The persisted last-known value, loaded from disk.
    Cache,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ws => "ws",
            Self::Rest => "rest",
            Self::Cache => "cache",
        }
    }
}

/// Five bid and five ask levels, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Depth {
    pub buy: [Level; 5],
    pub sell: [Level; 5],
}

/// Fields present from `quote` mode up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Quote {
    pub open: i64,
    pub high: i64,
    pub low: i64,
    /// Previous session's close: the base of `ch`/`chp`.
    pub close: i64,
    /// Tradable instruments only (indices carry no volume).
    pub volume: Option<u64>,
    pub last_qty: Option<u64>,
    pub avg_price: Option<i64>,
    pub buy_qty: Option<u64>,
    pub sell_qty: Option<u64>,
}

/// Fields present in `full` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Full {
    /// Exchange timestamp, Unix seconds.
    pub exchange_ts: Option<i64>,
    /// Last trade time, Unix seconds (tradable only).
    pub last_trade_ts: Option<i64>,
    /// Open interest (derivatives; 0 elsewhere).
    pub oi: Option<u64>,
    /// The day's highest and lowest open interest, where the broker sends them (Kite's full
    /// packet); kept so the Kite-compatible endpoint can pass them on.
    pub oi_day_high: Option<u64>,
    pub oi_day_low: Option<u64>,
    pub depth: Option<Depth>,
}

/// A normalised market-data update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    pub token: Token,
    /// The number wire prices are divided by (100 for paise, 10^7 for CDS…).
    pub divisor: u32,
    pub ltp: i64,
    pub quote: Option<Quote>,
    pub full: Option<Full>,
    /// When feedgate received it, Unix milliseconds (wall clock, for `ts` when the exchange
    /// gave none, and for the age of cached values).
    pub received_ms: i64,
    pub src: Source,
}

impl Tick {
    /// The richest mode this tick carries.
    pub fn mode(&self) -> Mode {
        if self.full.is_some() {
            Mode::Full
        } else if self.quote.is_some() {
            Mode::Quote
        } else {
            Mode::Ltp
        }
    }

    /// Cumulative day volume when known: with the token it identifies an update uniquely,
    /// which the load harness uses to match sends to receives.
    pub fn volume(&self) -> Option<u64> {
        self.quote.and_then(|q| q.volume)
    }

    /// Exchange time in Unix seconds when the broker sent one.
    pub fn exchange_ts(&self) -> Option<i64> {
        self.full.and_then(|f| f.exchange_ts)
    }

    /// Merges a newer update into this (older) one.
    ///
    /// The `full` part (exchange and trade time, depth, bid/ask, open interest) describes the
    /// instant of the tick that carried it, so it is kept only with that tick: a newer tick
    /// without one drops it. Kept, it would stamp later ticks with the old exchange time (`ts`)
    /// and show an old order book next to a live price — after a full-mode client leaves, when
    /// the WebSocket takes over from REST polling, or when the morning feed follows a night
    /// closed-hours REST quote. The `quote` part (the day's OHLC and previous close, the base of
    /// `ch`/`chp`) survives an `ltp`-only update.
    pub fn merge_newer(&mut self, newer: &Tick) {
        self.ltp = newer.ltp;
        self.divisor = newer.divisor;
        self.received_ms = newer.received_ms;
        self.src = newer.src;
        if newer.quote.is_some() {
            self.quote = newer.quote;
        }
        self.full = newer.full;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ltp(ltp: i64) -> Tick {
        Tick {
            token: 1,
            divisor: 100,
            ltp,
            quote: None,
            full: None,
            received_ms: 10,
            src: Source::Ws,
        }
    }

    #[test]
    fn mode_order_is_ltp_quote_full() {
        assert!(Mode::Ltp < Mode::Quote && Mode::Quote < Mode::Full);
        assert_eq!(Mode::default(), Mode::Quote);
        for m in Mode::ALL {
            assert_eq!(Mode::parse(m.as_str()), Some(m));
        }
        assert_eq!(Mode::parse("depth"), None);
    }

    #[test]
    fn merge_keeps_richer_fields_and_takes_newest_price() {
        let mut old = ltp(100);
        old.quote = Some(Quote {
            open: 1,
            high: 2,
            low: 0,
            close: 1,
            ..Quote::default()
        });
        let newer = Tick {
            received_ms: 20,
            ..ltp(105)
        };
        old.merge_newer(&newer);
        assert_eq!(old.ltp, 105);
        assert_eq!(old.received_ms, 20);
        assert_eq!(old.mode(), Mode::Quote);
    }

    /// The full part belongs to the tick that carried it: a newer quote- or ltp-only tick
    /// drops the old exchange time, depth and open interest, and a newer full tick replaces them.
    #[test]
    fn merge_drops_an_older_full_part() {
        let full = Full {
            exchange_ts: Some(1_000),
            last_trade_ts: Some(999),
            oi: Some(7),
            oi_day_high: None,
            oi_day_low: None,
            depth: Some(Depth::default()),
        };
        let quote = Some(Quote {
            close: 100,
            ..Quote::default()
        });
        let with_full = Tick {
            quote,
            full: Some(full),
            ..ltp(100)
        };
        for (newer, want_mode) in [
            (
                Tick {
                    quote,
                    received_ms: 20_000,
                    ..ltp(101)
                },
                Mode::Quote,
            ),
            (
                Tick {
                    received_ms: 20_000,
                    ..ltp(101)
                },
                Mode::Quote,
            ),
        ] {
            let mut t = with_full;
            t.merge_newer(&newer);
            assert_eq!(t.mode(), want_mode, "{newer:?}");
            assert_eq!(t.full, None, "no old depth, oi or exchange time");
            assert_eq!(t.exchange_ts(), None);
            assert_eq!(t.quote, quote);
        }
        let mut t = with_full;
        let newer_full = Full {
            exchange_ts: Some(2_000),
            ..full
        };
        t.merge_newer(&Tick {
            quote,
            full: Some(newer_full),
            ..ltp(102)
        });
        assert_eq!(t.full, Some(newer_full));
    }
}
