//! Limit refusals (DESIGN.md §10, "Limits"): each is counted in
//! `feedgate_limit_rejections_total{cause="…"}`; the first of a cause is logged at once, then
//! [`summarise`] logs once a minute how many more there were, and a cause that stayed quiet for
//! a whole minute logs its next occurrence again. An attacker can make thousands of refusals a
//! second; the log gets one line per cause per minute.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why a client was refused or disconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// `FEEDGATE_MAX_CONNECTIONS` reached: 503.
    Connections,
    /// `FEEDGATE_MAX_CONNECTIONS_PER_IP` reached: 503.
    ConnectionsPerIp,
    /// `accept` failed for lack of file descriptors (the cap should prevent it).
    FdExhausted,
    /// A request head not complete within the header timeout.
    HeaderTimeout,
    /// A request head over the size limit: 431.
    HeaderTooLarge,
    /// A WebSocket message over the size limit: close 1009.
    FrameTooLarge,
    /// A WebSocket message not completed within the deadline: close 1008.
    UnfinishedFrame,
    /// Inbound WebSocket frames over the rate: dropped.
    RateLimited,
    /// Persistent flooding: close 1008.
    Flood,
    /// A client that does not read: its pending outbound bytes over the bound.
    SlowConsumer,
}

const ALL: [Cause; 10] = [
    Cause::Connections,
    Cause::ConnectionsPerIp,
    Cause::FdExhausted,
    Cause::HeaderTimeout,
    Cause::HeaderTooLarge,
    Cause::FrameTooLarge,
    Cause::UnfinishedFrame,
    Cause::RateLimited,
    Cause::Flood,
    Cause::SlowConsumer,
];

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Connections => "max_connections",
            Cause::ConnectionsPerIp => "max_connections_per_ip",
            Cause::FdExhausted => "fd_exhausted",
            Cause::HeaderTimeout => "header_timeout",
            Cause::HeaderTooLarge => "header_too_large",
            Cause::FrameTooLarge => "frame_too_large",
            Cause::UnfinishedFrame => "unfinished_frame",
            Cause::RateLimited => "rate_limited",
            Cause::Flood => "flood",
            Cause::SlowConsumer => "slow_consumer",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Occurrences per cause since the last summary; `None` when the cause is quiet (its next
/// occurrence is logged).
static PENDING: Mutex<[Option<u64>; ALL.len()]> = Mutex::new([None; ALL.len()]);

/// Records one refusal. Returns `true` when the caller should log it (the first of its cause
/// since the cause was last quiet for a summary interval); later ones are only counted.
pub fn record(cause: Cause) -> bool {
    metrics::counter!("feedgate_limit_rejections_total", "cause" => cause.as_str()).increment(1);
    let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
    match &mut pending[cause.index()] {
        Some(n) => {
            *n += 1;
            false
        }
        slot @ None => {
            *slot = Some(0);
            true
        }
    }
}

/// Logs, every `every`, how many refusals of each cause were not logged individually; a cause
/// with none in a whole interval becomes quiet again.
pub async fn summarise(every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {
                for (cause, more) in take_summary() {
                    tracing::warn!(
                        cause = cause.as_str(),
                        count = more,
                        interval_s = every.as_secs(),
                        "connections refused or closed by a limit since the last summary"
                    );
                }
            }
        }
    }
}

/// The causes with unlogged occurrences (and how many); quiet causes are reset.
fn take_summary() -> Vec<(Cause, u64)> {
    let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
    let mut out = Vec::new();
    for cause in ALL {
        let slot = &mut pending[cause.index()];
        match *slot {
            Some(0) => *slot = None,
            Some(n) => {
                out.push((cause, n));
                *slot = Some(0);
            }
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_the_first_then_summarises_then_logs_again_after_a_quiet_interval() {
        // The state is process-wide; this is the only test touching this cause.
        let c = Cause::HeaderTooLarge;
        assert!(record(c));
        assert!(!record(c));
        assert!(!record(c));
        assert!(take_summary().contains(&(c, 2)));
        assert!(!record(c), "still in the same episode");
        assert!(take_summary().contains(&(c, 1)));
        assert!(
            !take_summary().iter().any(|(k, _)| *k == c),
            "a quiet interval"
        );
        assert!(record(c), "a new episode logs again");
        for (i, cause) in ALL.iter().enumerate() {
            assert_eq!(cause.index(), i);
        }
    }
}
