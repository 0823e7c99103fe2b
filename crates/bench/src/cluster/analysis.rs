//! The failover run's figures from what it recorded (pure: no I/O, no clock): per kill, the
//! longest silence each client saw (a *gap*: from its last fresh tick before the kill to its
//! first after, or any longer silence until the next kill), the time until the simulator saw
//! a broker socket other than the killed leader's, and the most broker sockets open at once;
//! for the run, the medians, the maxima and the targets (gap ≤ 3 s, no client disconnected,
//! never more than one broker socket).

use super::{median, quantile};
use std::fmt::Write as _;

/// The target: no client goes longer than this without a fresh tick.
pub const GAP_TARGET_S: f64 = 3.0;

/// One leader kill, as the harness did it (seconds since the run's base).
#[derive(Debug, Clone, PartialEq)]
pub struct Kill {
    pub at: f64,
    pub killed: String,
    /// The leader the edges named afterwards.
    pub new_leader: Option<String>,
    /// The killed leader's broker socket(s), as the simulator numbered them.
    pub old_sockets: Vec<u64>,
}

/// One sample of the simulator's broker sockets.
#[derive(Debug, Clone, PartialEq)]
pub struct SocketSample {
    pub t: f64,
    pub ids: Vec<u64>,
}

/// What one client recorded.
#[derive(Debug, Clone, Default)]
pub struct ClientTrace {
    pub edge: String,
    /// Fresh ticks (a higher volume than the client had for that instrument), seconds since
    /// the base, in order.
    pub fresh: Vec<f64>,
    /// Why its connection ended before the run did.
    pub ended: Option<String>,
}

/// One kill's row.
#[derive(Debug, Clone, PartialEq)]
pub struct KillRow {
    pub kill: Kill,
    pub gap_max: f64,
    pub gap_p50: f64,
    /// From the kill to the first sample with a new broker socket.
    pub to_socket: Option<f64>,
    pub sockets_max: usize,
}

/// The run's figures.
#[derive(Debug, Clone)]
pub struct FailoverReport {
    pub rows: Vec<KillRow>,
    pub run_secs: f64,
    pub clients: usize,
    pub disconnects: Vec<String>,
    pub sockets_max: usize,
    pub samples: usize,
}

/// The longest silence in `fresh` that touches `[kill, until]`: between consecutive ticks
/// around and after the kill; with no tick after it, from the last one (or the kill) to `until`.
pub fn gap(fresh: &[f64], kill: f64, until: f64) -> f64 {
    let after = fresh.partition_point(|&t| t <= kill);
    let mut prev = after.checked_sub(1).and_then(|i| fresh.get(i)).copied();
    let mut longest: f64 = 0.0;
    let mut resumed = false;
    for &t in fresh.iter().skip(after) {
        if t > until && resumed {
            break;
        }
        longest = longest.max(t - prev.unwrap_or(kill));
        prev = Some(t);
        resumed = true;
    }
    if !resumed {
        longest = until - prev.unwrap_or(kill);
    }
    longest
}

/// Seconds from `kill` to the first sample (before `until`) holding a socket the killed
/// leader did not hold.
pub fn to_socket(samples: &[SocketSample], kill: &Kill, until: f64) -> Option<f64> {
    samples
        .iter()
        .filter(|s| s.t > kill.at && s.t <= until)
        .find(|s| s.ids.iter().any(|id| !kill.old_sockets.contains(id)))
        .map(|s| s.t - kill.at)
}

fn sockets_max(samples: &[SocketSample], from: f64, until: f64) -> usize {
    samples
        .iter()
        .filter(|s| s.t >= from && s.t <= until)
        .map(|s| s.ids.len())
        .max()
        .unwrap_or(0)
}

/// Every kill's row, each over its window up to the next kill (the last: to `end`).
pub fn analyse(
    kills: &[Kill],
    clients: &[ClientTrace],
    samples: &[SocketSample],
    end: f64,
) -> FailoverReport {
    let mut rows = Vec::new();
    for (i, kill) in kills.iter().enumerate() {
        let until = kills.get(i + 1).map_or(end, |k| k.at);
        let gaps: Vec<f64> = clients
            .iter()
            .map(|c| gap(&c.fresh, kill.at, until))
            .collect();
        rows.push(KillRow {
            kill: kill.clone(),
            gap_max: gaps.iter().copied().fold(0.0, f64::max),
            gap_p50: median(&gaps),
            to_socket: to_socket(samples, kill, until),
            sockets_max: sockets_max(samples, kill.at, until),
        });
    }
    FailoverReport {
        rows,
        run_secs: end,
        clients: clients.len(),
        disconnects: clients
            .iter()
            .filter_map(|c| c.ended.as_ref().map(|e| format!("{}: {e}", c.edge)))
            .collect(),
        sockets_max: sockets_max(samples, f64::NEG_INFINITY, f64::INFINITY),
        samples: samples.len(),
    }
}

impl FailoverReport {
    fn gaps(&self) -> Vec<f64> {
        self.rows.iter().map(|r| r.gap_max).collect()
    }

    /// The targets missed, in words (empty: all met).
    pub fn violations(&self) -> Vec<String> {
        let mut out = Vec::new();
        let over: Vec<String> = self
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.gap_max > GAP_TARGET_S)
            .map(|(i, r)| format!("#{} {:.2} s", i + 1, r.gap_max))
            .collect();
        if !over.is_empty() {
            out.push(format!("gaps over {GAP_TARGET_S} s: {}", over.join(", ")));
        }
        if !self.disconnects.is_empty() {
            out.push(format!(
                "client disconnects: {}",
                self.disconnects.join("; ")
            ));
        }
        if self.sockets_max > 1 {
            out.push(format!("{} broker sockets at once", self.sockets_max));
        }
        out
    }

    /// The Markdown table and its summary.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "\n| kill | at s | killed | new leader | new broker socket after s | gap max s | gap p50 s | broker sockets max |\n\
             |---:|---:|---|---|---:|---:|---:|---:|\n",
        );
        for (i, r) in self.rows.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {:.1} | {} | {} | {} | {:.2} | {:.2} | {} |",
                i + 1,
                r.kill.at,
                r.kill.killed,
                r.kill.new_leader.as_deref().unwrap_or("?"),
                r.to_socket.map_or("–".into(), |s| format!("{s:.1}")),
                r.gap_max,
                r.gap_p50,
                r.sockets_max
            );
        }
        let gaps = self.gaps();
        let sockets: Vec<f64> = self.rows.iter().filter_map(|r| r.to_socket).collect();
        let _ = write!(
            out,
            "\n{} kills in {:.0} s, {} clients: gap (max over clients) median {:.2} s, p95 {:.2} s, \
             max {:.2} s; new broker socket after median {:.1} s, max {:.1} s (sampled every \
             100 ms); client disconnects {}; most broker sockets at once {} ({} samples).\n",
            self.rows.len(),
            self.run_secs,
            self.clients,
            median(&gaps),
            quantile(&gaps, 0.95),
            gaps.iter().copied().fold(0.0, f64::max),
            median(&sockets),
            sockets.iter().copied().fold(0.0, f64::max),
            self.disconnects.len(),
            self.sockets_max,
            self.samples
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticks(from: f64, to: f64, every: f64) -> Vec<f64> {
        let n = ((to - from) / every).round() as usize;
        (0..=n).map(|i| from + i as f64 * every).collect()
    }

    #[test]
    fn the_gap_spans_the_kill() {
        let mut fresh = ticks(0.0, 10.0, 0.05);
        fresh.extend(ticks(12.8, 20.0, 0.05));
        // Killed at 10.02: silent from the last tick (10.0) to the first after (12.8).
        assert!((gap(&fresh, 10.02, 20.0) - 2.8).abs() < 1e-9);
        // A window without any silence: the normal interval.
        assert!((gap(&fresh, 15.0, 18.0) - 0.05).abs() < 1e-9);
    }

    #[test]
    fn a_later_longer_silence_counts_and_no_resumption_runs_to_the_end() {
        let mut fresh = ticks(0.0, 10.0, 0.1);
        fresh.extend([11.0, 15.0, 15.1]);
        assert!((gap(&fresh, 10.05, 20.0) - 4.0).abs() < 1e-9);
        // Nothing after the kill: from the last tick to the window's end.
        assert!((gap(&ticks(0.0, 10.0, 0.1), 10.05, 14.0) - 4.0).abs() < 1e-9);
        assert!((gap(&[], 1.0, 4.0) - 3.0).abs() < 1e-9);
    }

    fn kill(at: f64) -> Kill {
        Kill {
            at,
            killed: "ingest-1".into(),
            new_leader: Some("ingest-2".into()),
            old_sockets: vec![1],
        }
    }

    #[test]
    fn rows_sockets_and_violations() {
        let samples: Vec<SocketSample> = (0..300)
            .map(|i| {
                let t = f64::from(i) * 0.1;
                let ids = match t {
                    t if t < 10.0 => vec![1],
                    t if t < 12.5 => vec![],
                    t if t < 20.0 => vec![2],
                    _ => vec![2, 3],
                };
                SocketSample { t, ids }
            })
            .collect();
        let mut a = ticks(0.0, 10.0, 0.05);
        a.extend(ticks(12.6, 30.0, 0.05));
        let mut b = ticks(0.0, 10.0, 0.05);
        b.extend(ticks(13.2, 30.0, 0.05));
        let clients = vec![
            ClientTrace {
                edge: "edge-1".into(),
                fresh: a,
                ended: None,
            },
            ClientTrace {
                edge: "edge-2".into(),
                fresh: b,
                ended: Some("closed by the gateway".into()),
            },
        ];
        let r = analyse(&[kill(10.01)], &clients, &samples, 30.0);
        let row = &r.rows[0];
        assert!((row.gap_max - 3.2).abs() < 1e-9, "{row:?}");
        assert!((row.gap_p50 - 2.6).abs() < 1e-9, "{row:?}");
        assert!(
            row.to_socket.is_some_and(|s| (s - 2.49).abs() < 1e-6),
            "{row:?}"
        );
        assert_eq!((row.sockets_max, r.sockets_max), (2, 2));
        let v = r.violations();
        assert_eq!(v.len(), 3, "{v:?}");
        assert!(v[0].contains("#1 3.20 s") && v[1].contains("edge-2") && v[2].contains("2 broker"));
        let table = r.render();
        assert!(
            table.contains("| 1 | 10.0 | ingest-1 | ingest-2 | 2.5 | 3.20 | 2.60 | 2 |"),
            "{table}"
        );
    }
}
