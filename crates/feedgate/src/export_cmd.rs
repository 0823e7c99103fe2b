//! `feedgate export`: a recorded day (DESIGN.md §12) as CSV, one row per tick, decoded by the
//! same code the live upstream uses. Prices are written from their integers and divisors
//! (exact decimals, never through a float); times in IST.

use crate::config_load;
use anyhow::Context;
use chrono::{NaiveDate, NaiveTime};
use feedgate_gateway::brokers::recorded::RecordedDecoder;
use feedgate_gateway::model::instruments::Registry;
use feedgate_gateway::model::ist::write_ist;
use feedgate_gateway::model::price::write_price;
use feedgate_gateway::model::tick::{Level, Tick, Token};
use feedgate_gateway::store::instrument_cache::InstrumentCache;
use feedgate_gateway::store::recording::reader::{DamageKind, DayRecording};
use feedgate_gateway::store::recording::root;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportArgs {
    pub date: NaiveDate,
    pub from: Option<NaiveTime>,
    pub to: Option<NaiveTime>,
    /// `EXCHANGE:SYMBOL` or instrument tokens; empty: every instrument.
    pub symbols: Vec<String>,
    pub out: Option<PathBuf>,
    pub config: Option<PathBuf>,
}

/// The CSV columns, in order.
pub fn header() -> Vec<String> {
    let mut h: Vec<String> = [
        "received_at",
        "received_ns",
        "exchange_time",
        "symbol",
        "token",
        "mode",
        "last_price",
        "last_quantity",
        "average_price",
        "volume",
        "buy_quantity",
        "sell_quantity",
        "open",
        "high",
        "low",
        "close",
        "last_trade_time",
        "oi",
        "oi_day_high",
        "oi_day_low",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for side in ["bid", "ask"] {
        for i in 1..=5 {
            for field in ["price", "quantity", "orders"] {
                h.push(format!("{side}{i}_{field}"));
            }
        }
    }
    h
}

pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let vars = config_load::collect(args.config.as_deref())?;
    let cfg = config_load::gateway_config(&vars)?;
    let registry = load_registry(&cfg.data_dir, broker_name(cfg.broker));
    let wanted = wanted_tokens(&args.symbols, &registry)?;
    let day = DayRecording::open(&root(&cfg.data_dir), args.date)
        .with_context(|| format!("cannot read the recordings of {}", args.date))?;
    if day.segments.is_empty() {
        anyhow::bail!(
            "nothing recorded on {} in {}",
            args.date,
            root(&cfg.data_dir).display()
        );
    }
    let (from_ns, to_ns) = range_ns(args.date, args.from, args.to);
    let sink: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut csv = csv::Writer::from_writer(std::io::BufWriter::new(sink));
    csv.write_record(header())?;
    let mut frames = day.frames(from_ns, to_ns);
    let mut decoder = RecordedDecoder::new();
    let (mut ticks, mut rows) = (Vec::new(), 0u64);
    for rf in frames.by_ref() {
        decoder.decode(&rf, &mut ticks)?;
        for t in ticks.drain(..) {
            if wanted.as_ref().is_none_or(|w| w.contains(&t.token)) {
                csv.write_record(row(&t, rf.frame.ts_ns, symbol(&registry, t.token)))?;
                rows += 1;
            }
        }
    }
    csv.flush()?;
    report(frames.damage(), decoder.malformed, rows);
    Ok(ExitCode::SUCCESS)
}

fn broker_name(b: feedgate_gateway::config::Broker) -> &'static str {
    match b {
        feedgate_gateway::config::Broker::Kite => "kite",
        feedgate_gateway::config::Broker::Fyers => "fyers",
    }
}

/// Tells the person running the export what was skipped (on stderr, through the log).
fn report(
    damage: &[feedgate_gateway::store::recording::reader::Damage],
    malformed: u64,
    rows: u64,
) {
    for d in damage {
        let what = match &d.problem {
            DamageKind::TornTail(e) => format!("torn tail (a crash while writing): {e}"),
            DamageKind::BadBlock(e) => format!("damaged block skipped: {e}"),
            DamageKind::Unreadable(e) => format!("unreadable: {e}"),
        };
        tracing::warn!(file = %d.path.display(), offset = d.offset, problem = %what, "recording damage; the frames before it are exported");
    }
    if malformed > 0 {
        tracing::warn!(
            frames = malformed,
            "recorded frames that did not decode were skipped"
        );
    }
    tracing::info!(rows, "export done");
}

/// The instrument list cached beside the recordings (symbols for tokens); empty if none.
fn load_registry(data_dir: &Path, broker: &'static str) -> Registry {
    match InstrumentCache::new(data_dir, broker).read() {
        Ok(Some((_, specs))) => Registry::new(specs),
        Ok(None) => Registry::new([]),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the instrument cache; symbols are left empty");
            Registry::new([])
        }
    }
}

/// `--symbols` as tokens (`None`: everything).
fn wanted_tokens(
    symbols: &[String],
    registry: &Registry,
) -> anyhow::Result<Option<HashSet<Token>>> {
    if symbols.is_empty() {
        return Ok(None);
    }
    let mut out = HashSet::new();
    for s in symbols {
        let token = match s.parse::<Token>() {
            Ok(t) => t,
            Err(_) => registry
                .resolve(s)
                .map(|i| i.token)
                .map_err(|e| anyhow::anyhow!("--symbols {s}: {e} (the instrument cache in the data directory names the symbols; a token works without it)"))?,
        };
        out.insert(token);
    }
    Ok(Some(out))
}

/// The day's `[from, to]` in ns since the Unix epoch (IST times; the whole day by default).
pub fn range_ns(date: NaiveDate, from: Option<NaiveTime>, to: Option<NaiveTime>) -> (i64, i64) {
    let at = |t: NaiveTime| {
        let utc = feedgate_session::ist::ist_instant(date, t);
        utc.timestamp_nanos_opt().unwrap_or(i64::MAX)
    };
    let from_ns = from.map_or(i64::MIN, at);
    // `--to 15:30` includes 15:30:59.999…: the minute named is part of the range.
    let to_ns = to.map_or(i64::MAX, |t| at(t).saturating_add(60_000_000_000 - 1));
    (from_ns, to_ns)
}

fn symbol(registry: &Registry, token: Token) -> String {
    registry
        .by_token(token)
        .map(|i| i.symbol.to_string())
        .unwrap_or_default()
}

/// One tick as CSV fields (empty where the tick's mode has no value).
pub fn row(t: &Tick, received_ns: i64, symbol: String) -> Vec<String> {
    let price = |raw: i64| {
        let mut s = String::new();
        write_price(&mut s, raw, t.divisor);
        s
    };
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    let q = t.quote;
    let full = t.full;
    let mut r = vec![
        received_at(received_ns),
        received_ns.to_string(),
        full.and_then(|f| f.exchange_ts)
            .map(ist_secs)
            .unwrap_or_default(),
        symbol,
        t.token.to_string(),
        t.mode().as_str().to_string(),
        price(t.ltp),
        opt(q.and_then(|q| q.last_qty)),
        q.and_then(|q| q.avg_price).map(price).unwrap_or_default(),
        opt(q.and_then(|q| q.volume)),
        opt(q.and_then(|q| q.buy_qty)),
        opt(q.and_then(|q| q.sell_qty)),
    ];
    let ohlc = q.map(|q| [q.open, q.high, q.low, q.close]);
    for i in 0..4 {
        r.push(ohlc.map(|v| price(v[i])).unwrap_or_default());
    }
    r.push(
        full.and_then(|f| f.last_trade_ts)
            .map(ist_secs)
            .unwrap_or_default(),
    );
    r.push(opt(full.and_then(|f| f.oi)));
    r.push(opt(full.and_then(|f| f.oi_day_high)));
    r.push(opt(full.and_then(|f| f.oi_day_low)));
    let depth = full.and_then(|f| f.depth);
    let mut levels = |side: Option<[Level; 5]>| {
        for i in 0..5 {
            match side.map(|s| s[i]) {
                Some(l) => r.extend([price(l.price), l.quantity.to_string(), l.orders.to_string()]),
                None => r.extend([String::new(), String::new(), String::new()]),
            }
        }
    };
    levels(depth.map(|d| d.buy));
    levels(depth.map(|d| d.sell));
    r
}

fn ist_secs(unix_secs: i64) -> String {
    let mut s = String::with_capacity(25);
    write_ist(&mut s, unix_secs);
    s
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+05:30`.
fn received_at(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let whole = ist_secs(secs);
    let (date_time, offset) = whole.split_at(whole.len() - 6);
    format!("{date_time}.{frac:09}{offset}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use feedgate_gateway::model::tick::{Depth, Full, Quote, Source};

    #[test]
    fn a_full_tick_is_one_row_of_exact_decimals() {
        let mut depth = Depth::default();
        depth.buy[0] = Level {
            price: 123_450,
            quantity: 10,
            orders: 2,
        };
        let t = Tick {
            token: 738_561,
            divisor: 100,
            ltp: 123_456_789,
            quote: Some(Quote {
                open: 1,
                high: 99_999_999_999,
                low: -5,
                close: 100,
                volume: Some(42),
                last_qty: Some(3),
                avg_price: Some(10_005),
                buy_qty: None,
                sell_qty: Some(7),
            }),
            full: Some(Full {
                exchange_ts: Some(1_765_080_000),
                last_trade_ts: None,
                oi: Some(9),
                oi_day_high: Some(12),
                oi_day_low: Some(4),
                depth: Some(depth),
            }),
            received_ms: 0,
            src: Source::Ws,
        };
        let r = row(&t, 1_765_080_000_123_456_789, "NSE:SBIN".into());
        assert_eq!(r.len(), header().len());
        assert_eq!(r[0], "2025-12-07T09:30:00.123456789+05:30");
        assert_eq!(r[2], "2025-12-07T09:30:00+05:30");
        assert_eq!(&r[3..7], ["NSE:SBIN", "738561", "full", "1234567.89"]);
        assert_eq!(&r[7..12], ["3", "100.05", "42", "", "7"]);
        assert_eq!(&r[12..16], ["0.01", "999999999.99", "-0.05", "1"]);
        assert_eq!(&r[16..23], ["", "9", "12", "4", "1234.5", "10", "2"]);
        assert_eq!(
            &r[23..26],
            ["0", "0", "0"],
            "a full tick's empty levels are the zeros the broker sent"
        );
    }

    #[test]
    fn an_ltp_tick_leaves_the_other_columns_empty_and_cds_keeps_its_precision() {
        let t = Tick {
            token: 1,
            divisor: 10_000_000,
            ltp: 832_512_345,
            quote: None,
            full: None,
            received_ms: 0,
            src: Source::Ws,
        };
        let r = row(&t, 0, String::new());
        assert_eq!(r[5], "ltp");
        assert_eq!(r[6], "83.2512345");
        assert!(r[7..].iter().all(String::is_empty));
    }

    #[test]
    fn the_range_is_ist_and_includes_the_last_minute() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let t = |s| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
        let (from, to) = range_ns(d, Some(t("09:15")), Some(t("09:16")));
        let at_915 = chrono::DateTime::parse_from_rfc3339("2026-12-07T09:15:00+05:30").unwrap();
        assert_eq!(from, at_915.timestamp_nanos_opt().unwrap());
        assert_eq!(to - from, 120_000_000_000 - 1);
        assert_eq!(range_ns(d, None, None), (i64::MIN, i64::MAX));
    }
}
