//! What the chaos run's client saw, reduced to figures. Pure functions over seconds since the
//! run's start (negative: before it), so they are tested without a gateway.
//!
//! Definitions (also in the README):
//! - a *fresh tick* is a `ticker` message with `src` `ws` or `rest` (`cache` is ignored);
//! - a fault's *window* is `[start, end]`: the injection, and for a stall, WS rejection or
//!   heartbeat flood its end (`start + seconds`), for `expire_token` the re-login's completion;
//!   `drop` and `malformed` are instants;
//! - a fault's *gap* is, over the subscribed symbols, the longest interval between two
//!   consecutive fresh ticks of one symbol (the last one before the run's end closes with it)
//!   that overlaps the window extended to the fault's recovery (reference + time to data, or
//!   the run's end without one): ticks already in flight at the injection must not hide the
//!   silence that follows them;
//! - a fault's *time to data* is, over the symbols, the longest time from the fault's reference
//!   instant (its injection; for `expire_token` the re-login's completion) to the first tick
//!   received after it whose update the simulator sent after it (a tick the simulator never
//!   logged sending, e.g. a REST quote, counts when received after it);
//! - *normal* intervals are those overlapping no window widened by [`SETTLE_SECONDS`] after it;
//! - the *stale share* is the fraction of the run during which at least one symbol had gone
//!   more than [`STALE_AFTER_SECONDS`] without a fresh tick.

/// A symbol is stale after this long without a fresh tick.
pub const STALE_AFTER_SECONDS: f64 = 2.0;
/// Time after a fault's window during which intervals do not count as normal.
pub const SETTLE_SECONDS: f64 = 5.0;

/// One fresh tick: when it was received, and when the simulator sent it (if it logged it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tick {
    pub at: f64,
    pub sent: Option<f64>,
}

/// A fault's window and the instant its time to data counts from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub start: f64,
    pub end: f64,
    pub reference: f64,
}

impl Window {
    /// The window extended to the recovery: `reference + time_to_data`, else `run_end`.
    pub fn until_recovered(self, time_to_data: Option<f64>, run_end: f64) -> Self {
        let recovered = time_to_data.map_or(run_end, |d| self.reference + d);
        Self {
            end: self.end.max(recovered),
            ..self
        }
    }
}

/// Intervals between consecutive ticks of one symbol, the last one closed by `run_end`.
fn intervals(ticks: &[Tick], run_end: f64) -> impl Iterator<Item = (f64, f64)> + '_ {
    let closing = ticks
        .last()
        .filter(|t| t.at < run_end)
        .map(|t| (t.at, run_end));
    ticks.windows(2).map(|w| (w[0].at, w[1].at)).chain(closing)
}

/// The fault's gap (see the module docs); `None` without ticks.
pub fn gap(symbols: &[Vec<Tick>], w: Window, run_end: f64) -> Option<f64> {
    symbols
        .iter()
        .flat_map(|ticks| intervals(ticks, run_end))
        .filter(|&(a, b)| a <= w.end && b >= w.start)
        .map(|(a, b)| b - a)
        .reduce(f64::max)
}

/// The fault's time to data (see the module docs); `None` when some symbol had none by the end.
pub fn time_to_data(symbols: &[Vec<Tick>], reference: f64) -> Option<f64> {
    let first = |ticks: &[Tick]| {
        ticks
            .iter()
            .find(|t| t.at > reference && t.sent.is_none_or(|s| s > reference))
            .map(|t| t.at - reference)
    };
    symbols
        .iter()
        .map(|t| first(t))
        .try_fold(0.0_f64, |acc, d| d.map(|d| acc.max(d)))
}

/// Normal intervals (see the module docs) inside `[0, run_end]`, unsorted.
pub fn normal_intervals(symbols: &[Vec<Tick>], windows: &[Window], run_end: f64) -> Vec<f64> {
    let disturbed = |a: f64, b: f64| {
        windows
            .iter()
            .any(|w| a <= w.end + SETTLE_SECONDS && b >= w.start)
    };
    symbols
        .iter()
        .flat_map(|ticks| intervals(ticks, run_end))
        .filter(|&(a, b)| a >= 0.0 && b <= run_end && !disturbed(a, b))
        .map(|(a, b)| b - a)
        .collect()
}

/// The stale share of `[0, run_end]` (see the module docs).
pub fn stale_share(symbols: &[Vec<Tick>], run_end: f64) -> f64 {
    if run_end <= 0.0 {
        return 0.0;
    }
    let mut stale: Vec<(f64, f64)> = symbols
        .iter()
        .flat_map(|ticks| intervals(ticks, run_end))
        .filter(|(a, b)| b - a > STALE_AFTER_SECONDS)
        .map(|(a, b)| ((a + STALE_AFTER_SECONDS).max(0.0), b.min(run_end)))
        .filter(|(a, b)| b > a)
        .collect();
    // A symbol that never ticked is stale from the start.
    if symbols.iter().any(Vec::is_empty) {
        stale.push((0.0, run_end));
    }
    union_length(&mut stale) / run_end
}

/// Total length of the union of intervals.
fn union_length(v: &mut [(f64, f64)]) -> f64 {
    v.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for &(a, b) in v.iter() {
        current = match current {
            Some((s, e)) if a <= e => Some((s, e.max(b))),
            Some((s, e)) => {
                total += e - s;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    total + current.map_or(0.0, |(s, e)| e - s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticks(at: &[f64]) -> Vec<Tick> {
        at.iter().map(|&at| Tick { at, sent: Some(at) }).collect()
    }

    fn instant(t: f64) -> Window {
        Window {
            start: t,
            end: t,
            reference: t,
        }
    }

    #[test]
    fn gap_is_the_longest_interval_overlapping_the_window() {
        let s = vec![ticks(&[0.0, 1.0, 2.0, 5.0, 6.0]), ticks(&[0.0, 3.0, 4.0])];
        assert_eq!(gap(&s, instant(2.5), 10.0), Some(3.0));
        // The second symbol's last tick is closed by the run's end.
        assert_eq!(gap(&s, instant(8.0), 10.0), Some(6.0));
        let window = Window {
            start: 0.5,
            end: 1.5,
            reference: 0.5,
        };
        assert_eq!(gap(&s, window, 10.0), Some(3.0));
        // In flight at the injection (2.5 → 2.75), then silence until 9.0: the recovery
        // extends the window over it.
        let s = vec![ticks(&[0.0, 2.25, 2.75, 9.0])];
        assert_eq!(gap(&s, instant(2.5), 10.0), Some(0.5));
        assert_eq!(
            time_to_data(&s, 2.5),
            Some(0.25),
            "sent at 2.75 in this test"
        );
        let w = instant(2.5).until_recovered(Some(6.5), 10.0);
        assert_eq!(gap(&s, w, 10.0), Some(6.25));
        let w = instant(2.5).until_recovered(None, 10.0);
        assert_eq!(w.end, 10.0);
    }

    #[test]
    fn time_to_data_needs_a_tick_sent_after_the_reference_on_every_symbol() {
        let mut a = ticks(&[0.0, 1.2, 2.0]);
        // Received after 1.0 but sent before it: in flight, not new data.
        a[1].sent = Some(0.9);
        let b = vec![Tick {
            at: 1.5,
            sent: None,
        }];
        assert_eq!(time_to_data(&[a.clone(), b.clone()], 1.0), Some(1.0));
        assert_eq!(time_to_data(&[a, b], 1.6), None, "b has nothing after");
    }

    #[test]
    fn stale_share_is_the_union_over_symbols() {
        // Symbol 1 stale on (3, 6), symbol 2 on (5, 10): union (3, 10) = 7 of 10 s.
        let s = vec![
            ticks(&[0.0, 1.0, 6.0, 7.0, 8.0, 9.0]),
            ticks(&[0.0, 1.0, 3.0]),
        ];
        assert!((stale_share(&s, 10.0) - 0.7).abs() < 1e-9);
        assert_eq!(stale_share(&[ticks(&[0.0, 1.0, 2.0])], 3.0), 0.0);
        assert_eq!(stale_share(&[ticks(&[0.0]), Vec::new()], 4.0), 1.0);
    }

    #[test]
    fn normal_intervals_skip_fault_windows_and_their_settling() {
        let s = vec![ticks(&[0.0, 1.0, 2.0, 4.0, 9.0, 10.0])];
        let n = normal_intervals(&s, &[instant(1.5)], 10.0);
        // (1,2) overlaps the fault, (2,4) and (4,9) its settling time.
        assert_eq!(n, vec![1.0, 1.0]);
    }
}
