//! The close-of-day candle backup: `FEEDGATE_DATA_DIR/candles/YYYY-MM-DD.csv`, one row per
//! instrument-minute, readable directly by spreadsheets and pandas
//! (`pd.read_csv(path, parse_dates=["time"])`). CSV rather than Parquet: a day is a few
//! hundred kilobytes, every analyst tool opens it without a library, and it needs no extra
//! dependency in feedgate; only 1-minute candles are stored (5/15 minutes are aggregated).
//!
//! Columns: `symbol,token,time,open,high,low,close,volume` with `time` in IST RFC 3339 and
//! prices as exact decimals.

use crate::candles::Candle;
use crate::persist;
use crate::price::{parse_price, write_price};
use crate::protocol::ist::write_ist;
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const HEADER: &str = "symbol,token,time,open,high,low,close,volume";

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
}

impl CandleStore {
    pub fn new(data_dir: &Path) -> Self {
        let dir = data_dir.join("candles");
        let swept = persist::sweep_temp_files(&dir);
        if swept > 0 {
            tracing::info!(files = swept, dir = %dir.display(), "removed partial candle files left by an earlier crash");
        }
        Self { dir }
    }

    pub fn path(&self, day: NaiveDate) -> PathBuf {
        self.dir.join(format!("{day}.csv"))
    }

    /// Writes a day's candles atomically (replacing an earlier write of the same day).
    pub fn write(&self, day: NaiveDate, rows: &[DayCandles]) -> std::io::Result<PathBuf> {
        let mut out = Vec::with_capacity(64 * 1024);
        out.extend_from_slice(HEADER.as_bytes());
        out.push(b'\n');
        let mut num = itoa::Buffer::new();
        for r in rows {
            for c in &r.candles {
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
            }
        }
        let path = self.path(day);
        persist::write_atomic(&path, &out)?;
        Ok(path)
    }

    /// Reads a day's candles for one token. `divisor` converts the decimals back exactly.
    /// Missing file → empty; malformed rows are skipped (and counted in the log), never fatal.
    pub fn read(&self, day: NaiveDate, token: u32, divisor: u32) -> Vec<Candle> {
        let path = self.path(day);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Vec::new();
        };
        let mut bad = 0usize;
        let mut out = Vec::new();
        for line in text.lines().skip(1) {
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
        if bad > 0 {
            tracing::warn!(path = %path.display(), rows = bad, "skipped malformed rows in a candle file");
        }
        out.sort_by_key(|c| c.t);
        out
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

/// Groups of rows by token, for callers assembling a day.
pub type ByToken = BTreeMap<u32, DayCandles>;

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
                .join(format!("{}x", persist::TEMP_PREFIX)),
            "half",
        )
        .unwrap();
        let store = CandleStore::new(dir.path());
        assert_eq!(store.days(), vec![day()]);
    }
}
