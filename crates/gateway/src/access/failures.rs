//! Per-address back-off on failed key checks: the first few failures are free (typos), then
//! each further one shuts the address out for twice as long as the last (capped), so guessing
//! keys from one address goes nowhere. A success clears the address. Monotonic time, so tests
//! drive it with paused time; the table is bounded (the oldest address goes first).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Failures an address may make before it is made to wait.
pub const FREE_FAILURES: u32 = 5;
/// The first wait; doubles with every further failure.
const FIRST_BLOCK: Duration = Duration::from_secs(1);
/// The longest wait.
pub const MAX_BLOCK: Duration = Duration::from_secs(300);
/// An address with no failure this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Addresses tracked at most.
const CAPACITY: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    blocked_until: Option<Instant>,
    last: Instant,
}

/// What a failure did to its address (for the log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The first failure from this address since it last succeeded or was forgotten.
    First,
    /// Another failure within the free ones.
    Again(u32),
    /// The address must now wait this long.
    Blocked { failures: u32, wait: Duration },
}

#[derive(Debug)]
pub struct FailureGate {
    table: Mutex<HashMap<IpAddr, Record>>,
    free: u32,
}

impl Default for FailureGate {
    fn default() -> Self {
        Self::new(FREE_FAILURES)
    }
}

impl FailureGate {
    /// A gate that lets each address fail `free` times before it must wait.
    pub fn new(free: u32) -> Self {
        Self {
            table: Mutex::new(HashMap::new()),
            free,
        }
    }

    /// `Err(wait)` while `ip` is shut out.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let table = self.lock();
        match table.get(&ip).and_then(|r| r.blocked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    pub fn failed(&self, ip: IpAddr, now: Instant) -> Failure {
        let mut table = self.lock();
        if !table.contains_key(&ip) && table.len() >= CAPACITY {
            make_room(&mut table, now);
        }
        let r = table.entry(ip).or_insert(Record {
            failures: 0,
            blocked_until: None,
            last: now,
        });
        if now.duration_since(r.last) >= FORGET_AFTER {
            r.failures = 0;
        }
        r.failures = r.failures.saturating_add(1);
        r.last = now;
        if r.failures <= self.free {
            return if r.failures == 1 {
                Failure::First
            } else {
                Failure::Again(r.failures)
            };
        }
        let doublings = (r.failures - self.free - 1).min(16);
        let wait = FIRST_BLOCK.saturating_mul(1 << doublings).min(MAX_BLOCK);
        r.blocked_until = Some(now + wait);
        Failure::Blocked {
            failures: r.failures,
            wait,
        }
    }

    pub fn succeeded(&self, ip: IpAddr) {
        self.lock().remove(&ip);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Record>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Forgets idle addresses; if none is idle, the one whose last failure is oldest.
fn make_room(table: &mut HashMap<IpAddr, Record>, now: Instant) {
    table.retain(|_, r| now.duration_since(r.last) < FORGET_AFTER);
    if table.len() >= CAPACITY
        && let Some(oldest) = table.iter().min_by_key(|(_, r)| r.last).map(|(ip, _)| *ip)
    {
        table.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_failures_then_doubling_waits_and_success_clears() {
        let gate = FailureGate::default();
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let other: IpAddr = "203.0.113.8".parse().unwrap();
        let t0 = Instant::now();
        assert_eq!(gate.failed(ip, t0), Failure::First);
        for n in 2..=FREE_FAILURES {
            assert_eq!(gate.failed(ip, t0), Failure::Again(n));
            assert_eq!(gate.check(ip, t0), Ok(()));
        }
        let wait = |f| match f {
            Failure::Blocked { wait, .. } => wait,
            other => panic!("{other:?}"),
        };
        assert_eq!(wait(gate.failed(ip, t0)), Duration::from_secs(1));
        assert_eq!(wait(gate.failed(ip, t0)), Duration::from_secs(2));
        assert_eq!(gate.check(ip, t0), Err(Duration::from_secs(2)));
        assert_eq!(
            gate.check(other, t0),
            Ok(()),
            "other addresses are not affected"
        );
        assert_eq!(gate.check(ip, t0 + Duration::from_secs(2)), Ok(()));
        for _ in 0..30 {
            gate.failed(ip, t0);
        }
        assert_eq!(gate.check(ip, t0), Err(MAX_BLOCK));
        gate.succeeded(ip);
        assert_eq!(gate.check(ip, t0), Ok(()));
    }

    #[test]
    fn the_table_is_bounded() {
        let gate = FailureGate::default();
        let t0 = Instant::now();
        for i in 0..(CAPACITY as u32 + 10) {
            gate.failed(
                IpAddr::from(i.to_be_bytes()),
                t0 + Duration::from_millis(u64::from(i)),
            );
        }
        assert_eq!(gate.lock().len(), CAPACITY);
    }
}
