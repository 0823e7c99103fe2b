//! The close-of-day candle backup: `FEEDGATE_DATA_DIR/candles/YYYY-MM-DD.csv`, one row per
//! instrument-minute, readable directly by spreadsheets and pandas
//! (`pd.read_csv(path, parse_dates=["time"])`). CSV rather than Parquet: a day is a few
//! hundred kilobytes, every analyst tool opens it without a library, and it needs no extra
//! dependency in feedgate; only 1-minute candles are stored (5/15 minutes are aggregated).
//!
//! Columns: `symbol,token,time,open,high,low,close,volume` with `time` in IST RFC 3339 and
//! prices as exact decimals.

use crate::model::candle::Candle;
use crate::model::ist::write_ist;
use crate::model::price::{parse_price, write_price};
use crate::store::atomic;
use chrono::NaiveDate;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const HEADER: &str = "symbol,token,time,open,high,low,close,volume";

/// How many of the newest day files a lookup without a date searches: a symbol without data
/// must not cost a parse of every day in history on each request.
pub const RECENT_DAYS: usize = 10;

/// One instrument's candles of one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCandles {
    pub symbol: String,
    pub token: u32,
    pub divisor: u32,
    pub candles: Vec<Candle>,
}

#[derive(Debug, Clone)]
pub struct CandleStore {
    dir: PathBuf,
    /// Files (and their sizes) whose malformed rows were reported: a damaged file is read on
    /// every lookup, and one warning per version of it is enough.
    warned: Arc<Mutex<HashSet<(PathBuf, usize)>>>,
}

impl CandleStore {
    pub fn new(data_dir: &Path) -> Self {
        let dir = data_dir.join("candles");
        let swept = atomic::sweep_temp_files(&dir);
        if swept > 0 {
            tracing::info!(files = swept, dir = %dir.display(), "removed partial candle files left by an earlier crash");
        }
        Self {
            dir,
            warned: Arc::default(),
        }
    }

    pub fn path(&self, day: NaiveDate) -> PathBuf {
        self.dir.join(format!("{day}.csv"))
    }

    /// Writes a day's candles atomically. Rows of the day's file for minutes `rows` does not
    /// cover are kept (an earlier run of the same day, before a restart, wrote them; the hub of
    /// this run never saw them); for a minute in both, `rows` wins (it is the same run's newer
    /// view). Malformed rows of the old file (a torn write) are dropped with a warning.
    pub fn write(&self, day: NaiveDate, rows: &[DayCandles]) -> std::io::Result<PathBuf> {
        let path = self.path(day);
        // (symbol, time, line) of every row to write.
        let mut lines: Vec<(String, i64, Vec<u8>)> = Vec::new();
        let mut covered = std::collections::HashSet::new();
        let mut num = itoa::Buffer::new();
        for r in rows {
            for c in &r.candles {
                covered.insert((r.token, c.t));
                let mut out = Vec::with_capacity(96);
                csv_field(&mut out, &r.symbol);
                out.push(b',');
                out.extend_from_slice(num.format(r.token).as_bytes());
                out.push(b',');
                write_ist(&mut out, c.t);
                for p in [c.open, c.high, c.low, c.close] {
                    out.push(b',');
                    write_price(&mut out, p, r.divisor);
                }
                out.push(b',');
                out.extend_from_slice(num.format(c.volume).as_bytes());
                out.push(b'\n');
                lines.push((r.symbol.clone(), c.t, out));
            }
        }
        match std::fs::read_to_string(&path) {
            Ok(old) => {
                let (old_rows, mut bad) = data_rows(&old);
                for line in old_rows {
                    let parsed = parse_row(line).and_then(|r| checked_time(&r).map(|t| (r, t)));
                    let Some((row, t)) = parsed else {
                        bad += 1;
                        continue;
                    };
                    if !covered.contains(&(row.1, t)) {
                        lines.push((row.0, t, format!("{line}\n").into_bytes()));
                    }
                }
                if bad > 0 {
                    tracing::warn!(path = %path.display(), rows = bad, "skipped malformed rows in a candle file");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // Unreadable is not the same as empty: replacing it could lose a day.
            Err(e) => return Err(e),
        }
        // Instruments in the order they first appear (the caller's, then the old file's), each
        // instrument's minutes in time order.
        let mut rank: std::collections::HashMap<&str, usize> = Default::default();
        for (symbol, ..) in &lines {
            let next = rank.len();
            rank.entry(symbol.as_str()).or_insert(next);
        }
        let mut order: Vec<(usize, i64, usize)> = lines
            .iter()
            .enumerate()
            .map(|(i, (symbol, t, _))| (rank[symbol.as_str()], *t, i))
            .collect();
        order.sort_unstable();
        let mut out =
            Vec::with_capacity(HEADER.len() + 1 + lines.iter().map(|l| l.2.len()).sum::<usize>());
        out.extend_from_slice(HEADER.as_bytes());
        out.push(b'\n');
        for (.., i) in order {
            out.extend_from_slice(&lines[i].2);
        }
        atomic::write_atomic(&path, &out)?;
        Ok(path)
    }

    /// Reads a day's candles for one token. `divisor` converts the decimals back exactly.
    /// Missing file → empty; malformed rows are skipped (and counted in the log), never fatal.
    pub fn read(&self, day: NaiveDate, token: u32, divisor: u32) -> Vec<Candle> {
        let path = self.path(day);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Vec::new();
        };
        let (rows, mut bad) = data_rows(&text);
        let mut out = Vec::new();
        for line in rows {
            let Some(row) = parse_row(line) else {
                bad += 1;
                continue;
            };
            if row.1 != token {
                continue;
            }
            match row_candle(&row, divisor) {
                Some(c) => out.push(c),
                None => bad += 1,
            }
        }
        if bad > 0
            && self
                .warned
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((path.clone(), text.len()))
        {
            tracing::warn!(path = %path.display(), rows = bad, "skipped malformed rows in a candle file");
        }
        out.sort_by_key(|c| c.t);
        out
    }

    /// The most recent day with candles for `token`, searching the newest [`RECENT_DAYS`]
    /// files, newest first.
    pub fn latest(&self, token: u32, divisor: u32) -> Option<(NaiveDate, Vec<Candle>)> {
        self.days().into_iter().take(RECENT_DAYS).find_map(|d| {
            let c = self.read(d, token, divisor);
            (!c.is_empty()).then_some((d, c))
        })
    }

    /// Days with a backup, newest first.
    pub fn days(&self) -> Vec<NaiveDate> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut days: Vec<NaiveDate> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".csv")?.parse().ok()
            })
            .collect();
        days.sort_unstable_by(|a, b| b.cmp(a));
        days
    }
}

/// symbol, token, time text, prices text…, volume
type Row<'a> = (String, u32, &'a str, [&'a str; 4], u64);

fn parse_row(line: &str) -> Option<Row<'_>> {
    // The symbol is the only field that can contain a comma or quote, and it comes first.
    let (symbol, rest) = if let Some(stripped) = line.strip_prefix('"') {
        let end = stripped.find("\",")?;
        (stripped[..end].replace("\"\"", "\""), &stripped[end + 2..])
    } else {
        let (s, r) = line.split_once(',')?;
        (s.to_string(), r)
    };
    let f: Vec<&str> = rest.split(',').collect();
    if f.len() != 7 {
        return None;
    }
    Some((
        symbol,
        f[0].parse().ok()?,
        f[1],
        [f[2], f[3], f[4], f[5]],
        f[6].parse().ok()?,
    ))
}

/// The data rows of a file (every line after the header) and how many are torn: the writer
/// ends every row with a newline, so a last line without one was cut short (whatever it
/// parses as).
fn data_rows(text: &str) -> (Vec<&str>, usize) {
    let mut rows: Vec<&str> = text.split_inclusive('\n').skip(1).collect();
    let torn = match rows.last() {
        Some(l) if !l.ends_with('\n') => {
            rows.pop();
            1
        }
        _ => 0,
    };
    let rows = rows
        .into_iter()
        .map(|l| l.trim_end_matches(['\n', '\r']))
        .collect();
    (rows, torn)
}

/// The largest price divisor of any segment (CDS: 10^7), for checking decimals whatever the
/// instrument.
const MAX_DIVISOR: u32 = 10_000_000;

/// A row's time, if the row is whole (its time and prices parse), for merging without knowing
/// the instrument's divisor.
fn checked_time(row: &Row<'_>) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(row.2)
        .ok()?
        .timestamp();
    row.3
        .iter()
        .all(|p| parse_price(p, MAX_DIVISOR).is_some())
        .then_some(t)
}

fn row_candle(row: &Row<'_>, divisor: u32) -> Option<Candle> {
    let t = chrono::DateTime::parse_from_rfc3339(row.2)
        .ok()?
        .timestamp();
    let [o, h, l, c] = row.3;
    Some(Candle {
        t,
        open: parse_price(o, divisor)?,
        high: parse_price(h, divisor)?,
        low: parse_price(l, divisor)?,
        close: parse_price(c, divisor)?,
        volume: row.4,
    })
}

fn csv_field(out: &mut Vec<u8>, s: &str) {
    if s.contains([',', '"', '\n']) {
        out.push(b'"');
        out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_409_100; // 2026-11-23 10:15 IST

    fn day() -> NaiveDate {
        "2026-11-23".parse().unwrap()
    }

    fn rows() -> Vec<DayCandles> {
        vec![
            DayCandles {
                symbol: "NSE:SBIN".into(),
                token: 779_521,
                divisor: 100,
                candles: vec![
                    Candle {
                        t: T0,
                        open: 81_240,
                        high: 81_500,
                        low: 81_200,
                        close: 81_300,
                        volume: 1200,
                    },
                    Candle {
                        t: T0 + 60,
                        open: 81_300,
                        high: 81_305,
                        low: 81_100,
                        close: 81_100,
                        volume: 0,
                    },
                ],
            },
            DayCandles {
                symbol: "NSE:M&M, \"odd\"".into(),
                token: 519_937,
                divisor: 100,
                candles: vec![Candle {
                    t: T0,
                    open: 5,
                    high: 5,
                    low: 5,
                    close: 5,
                    volume: 1,
                }],
            },
            DayCandles {
                symbol: "CDS:USDINR26NOVFUT".into(),
                token: 256_003,
                divisor: 10_000_000,
                candles: vec![Candle {
                    t: T0,
                    open: 832_500_000,
                    high: 832_512_500,
                    low: 832_400_000,
                    close: 832_500_000,
                    volume: 7,
                }],
            },
        ]
    }

    #[test]
    fn writes_analyst_friendly_csv_and_reads_it_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let store = CandleStore::new(dir.path());
        let path = store.write(day(), &rows()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(HEADER));
        assert_eq!(
            lines.next(),
            Some("NSE:SBIN,779521,2026-11-23T10:15:00+05:30,812.4,815,812,813,1200")
        );
        for r in rows() {
            assert_eq!(
                store.read(day(), r.token, r.divisor),
                r.candles,
                "{}",
                r.symbol
            );
        }
        assert_eq!(store.days(), vec![day()]);
        assert!(
            store
                .read("2026-11-20".parse().unwrap(), 779_521, 100)
                .is_empty()
        );
    }

    #[test]
    fn a_later_write_of_the_day_keeps_the_minutes_it_does_not_have() {
        let dir = tempfile::tempdir().unwrap();
        let store = CandleStore::new(dir.path());
        let sbin = |minutes: &[(i64, i64)]| DayCandles {
            symbol: "NSE:SBIN".into(),
            token: 779_521,
            divisor: 100,
            candles: minutes
                .iter()
                .map(|&(m, p)| Candle {
                    t: T0 + m * 60,
                    open: p,
                    high: p,
                    low: p,
                    close: p,
                    volume: 1,
                })
                .collect(),
        };
        // A run until a restart at minute 2, then the next run from minute 2 on (its view of
        // minute 2 wins), and a torn row an older writer left.
        store
            .write(day(), &[sbin(&[(0, 100), (1, 101), (2, 102)])])
            .unwrap();
        let p = store.path(day());
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("NSE:SBIN,779521,2026-11-23T10:25:00+05:30,1,1,1,1,12");
        std::fs::write(&p, text).unwrap();
        store.write(day(), &[sbin(&[(2, 200), (3, 203)])]).unwrap();
        let closes: Vec<(i64, i64)> = store
            .read(day(), 779_521, 100)
            .iter()
            .map(|c| ((c.t - T0) / 60, c.close))
            .collect();
        assert_eq!(closes, [(0, 100), (1, 101), (2, 200), (3, 203)]);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.ends_with('\n') && !text.contains("10:25"), "{text}");
    }

    #[test]
    fn damaged_files_never_block_reading() {
        let dir = tempfile::tempdir().unwrap();
        let store = CandleStore::new(dir.path());
        store.write(day(), &rows()).unwrap();
        let p = store.path(day());
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("garbage line\nNSE:SBIN,779521,not-a-time,1,1,1,1,1\nNSE:SBIN,779521,2026-11-23T10:17:00+05:30,81");
        std::fs::write(&p, text).unwrap();
        assert_eq!(
            store.read(day(), 779_521, 100).len(),
            2,
            "good rows survive"
        );
        // A crash mid-write leaves a temp file: swept at start-up, the real file untouched.
        std::fs::write(
            dir.path()
                .join("candles")
                .join(format!("{}x", atomic::TEMP_PREFIX)),
            "half",
        )
        .unwrap();
        let store = CandleStore::new(dir.path());
        assert_eq!(store.days(), vec![day()]);
    }
}
