//! What the soak measured and what it must show: per day (live, stale and stuck seconds, faults
//! by kind, the 08:50 check, the candle file), per fault (kind, when, time to data), the
//! simulator's REST and WebSocket counters; the targets as violations, and the table
//! the README quotes.

use super::script::{KINDS, ist};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// What one day produced.
#[derive(Debug, Default, Clone)]
pub struct DayReport {
    pub day: NaiveDate,
    pub trading: bool,
    pub live_s: f64,
    pub stale_s: f64,
    pub stuck_s: f64,
    pub faults: BTreeMap<&'static str, u32>,
    pub login_required_at_check: bool,
    pub candle_file: bool,
    /// What the gateway said the first time the client was stuck that day.
    pub stuck_note: Option<String>,
}

/// One injected fault.
#[derive(Debug, Clone)]
pub struct FaultRecord {
    pub kind: &'static str,
    /// When it was injected (simulated time).
    pub at: DateTime<Utc>,
    /// Seconds until every symbol had a fresh tick again, from the injection (an expiry, or a
    /// fault injected while a re-login was pending: from the re-login); `None` if that never
    /// happened before the close.
    pub time_to_data: Option<f64>,
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct SoakReport {
    pub seed: u64,
    pub days: Vec<DayReport>,
    pub faults: Vec<FaultRecord>,
    pub quote_requests: u64,
    pub rate_limited: u64,
    /// WebSocket upgrades the simulator refused for a bad or expired token.
    pub refused_bad_token: u64,
    pub wall: Duration,
}

/// Count, median, max and the worst one of some faults' times to data.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    pub count: usize,
    pub unrecovered: usize,
    pub median: Option<f64>,
    pub max: Option<f64>,
    pub worst_at: Option<DateTime<Utc>>,
}

impl Recovery {
    pub fn of<'a>(faults: impl Iterator<Item = &'a FaultRecord>) -> Self {
        let faults: Vec<&FaultRecord> = faults.collect();
        let mut times: Vec<f64> = faults.iter().filter_map(|f| f.time_to_data).collect();
        times.sort_by(f64::total_cmp);
        let median = match times.len() {
            0 => None,
            n if n % 2 == 1 => times.get(n / 2).copied(),
            n => Some((times[n / 2 - 1] + times[n / 2]) / 2.0),
        };
        let worst = faults
            .iter()
            .filter_map(|f| Some((f.time_to_data?, f.at)))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        Self {
            count: faults.len(),
            unrecovered: faults.iter().filter(|f| f.time_to_data.is_none()).count(),
            median,
            max: worst.map(|w| w.0),
            worst_at: worst.map(|w| w.1),
        }
    }
}

impl SoakReport {
    pub fn trading_days(&self) -> usize {
        self.days.iter().filter(|d| d.trading).count()
    }

    pub fn live_s(&self) -> f64 {
        self.days.iter().map(|d| d.live_s).sum()
    }

    pub fn stale_share(&self) -> f64 {
        let stale: f64 = self.days.iter().map(|d| d.stale_s).sum();
        stale / self.live_s().max(1.0)
    }

    pub fn stuck_s(&self) -> f64 {
        self.days.iter().map(|d| d.stuck_s).sum()
    }

    /// Expiries: each trading morning's and every injected one.
    pub fn expiries(&self) -> u64 {
        let injected = self
            .faults
            .iter()
            .filter(|f| f.kind == "expire_token")
            .count();
        (self.trading_days() + injected) as u64
    }

    /// The targets this run missed (empty: all met).
    pub fn violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.stuck_s() > 0.0 {
            v.push(format!("stuck for {:.0} s (must be 0)", self.stuck_s()));
        }
        if self.stale_share() > 0.001 {
            v.push(format!(
                "stale share {:.3} % (at most 0.1 %)",
                100.0 * self.stale_share()
            ));
        }
        if self.rate_limited > 0 {
            v.push(format!(
                "{} REST calls over the broker's limit",
                self.rate_limited
            ));
        }
        // Each expiry may cost one refused WebSocket attempt, which classifies it; never more.
        if self.refused_bad_token > self.expiries() {
            v.push(format!(
                "{} WebSocket attempts with a rejected token over {} expiries",
                self.refused_bad_token,
                self.expiries()
            ));
        }
        for d in self.days.iter().filter(|d| d.trading) {
            if !d.login_required_at_check {
                v.push(format!(
                    "{}: the 08:50 check did not report the expired token",
                    d.day
                ));
            }
            if !d.candle_file {
                v.push(format!("{}: no candle file after the close", d.day));
            }
            if let Some(note) = &d.stuck_note {
                v.push(format!("{}: {note}", d.day));
            }
        }
        v
    }

    /// The summary and the per-fault table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "soak (seed {}): {} days ({} trading) in {:.1} s; live {:.1} h; stale {:.3} %; stuck {:.0} s",
            self.seed,
            self.days.len(),
            self.trading_days(),
            self.wall.as_secs_f64(),
            self.live_s() / 3600.0,
            100.0 * self.stale_share(),
            self.stuck_s(),
        );
        let _ = writeln!(
            out,
            "REST quote calls {}, rate-limited {}; WebSocket attempts refused for a rejected token {} over {} expiries",
            self.quote_requests,
            self.rate_limited,
            self.refused_bad_token,
            self.expiries(),
        );
        let _ = writeln!(
            out,
            "{:<16} {:>6} {:>10} {:>8} {:>8}  worst at (IST)",
            "fault", "count", "no data", "median", "max"
        );
        let rows = KINDS
            .iter()
            .map(|k| {
                (
                    *k,
                    Recovery::of(self.faults.iter().filter(|f| f.kind == *k)),
                )
            })
            .chain([("all", Recovery::of(self.faults.iter()))]);
        for (kind, r) in rows {
            let secs = |s: Option<f64>| s.map_or_else(|| "-".into(), |s| format!("{s:.2}"));
            let worst = r.worst_at.map_or_else(
                || "-".into(),
                |t| {
                    t.with_timezone(&ist())
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string()
                },
            );
            let _ = writeln!(
                out,
                "{kind:<16} {:>6} {:>10} {:>8} {:>8}  {worst}",
                r.count,
                r.unrecovered,
                secs(r.median),
                secs(r.max),
            );
        }
        let _ = writeln!(
            out,
            "(time to data: seconds from the injection (an expiry, or a fault while a re-login was pending: from the re-login) until every symbol had a fresh tick; each symbol ticks every 0.5–1.5 s, so about 1 s is no gap; \"no data\": never before the close)"
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(kind: &'static str, minute: i64, t: Option<f64>) -> FaultRecord {
        FaultRecord {
            kind,
            at: DateTime::from_timestamp(1_800_000_000 + 60 * minute, 0).unwrap(),
            time_to_data: t,
        }
    }

    #[test]
    fn recovery_takes_the_median_the_max_and_when_the_worst_began() {
        let faults = [
            fault("drop", 0, Some(0.4)),
            fault("drop", 1, Some(3.0)),
            fault("drop", 2, None),
            fault("drop", 3, Some(1.0)),
        ];
        let r = Recovery::of(faults.iter());
        assert_eq!(r.count, 4);
        assert_eq!(r.unrecovered, 1);
        assert_eq!(r.median, Some(1.0));
        assert_eq!(r.max, Some(3.0));
        assert_eq!(r.worst_at, Some(faults[1].at));
        let even = Recovery::of(faults[..2].iter());
        assert_eq!(even.median, Some(1.7));
        assert_eq!(Recovery::of([].iter()).median, None);
    }

    #[test]
    fn targets_missed_are_named() {
        let mut r = SoakReport {
            seed: 1,
            days: vec![DayReport {
                trading: true,
                live_s: 1_000.0,
                stale_s: 0.0,
                login_required_at_check: true,
                candle_file: true,
                ..DayReport::default()
            }],
            faults: vec![],
            quote_requests: 10,
            rate_limited: 0,
            refused_bad_token: 1,
            wall: Duration::from_secs(1),
        };
        assert!(r.violations().is_empty(), "{:?}", r.violations());
        r.days[0].stale_s = 2.0;
        r.refused_bad_token = 2;
        let v = r.violations();
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[0].starts_with("stale share 0.200 %"), "{v:?}");
    }
}
