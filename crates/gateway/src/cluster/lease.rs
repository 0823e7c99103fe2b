//! Leader election among ingest nodes, as a pure state machine: it is fed the answers of the
//! lock store and the passing of time, and says what to send next and when this node leads.
//! The Redis side is `cluster::store`; the task that joins them is `cluster::elect`.
//!
//! The rules (DESIGN.md §9):
//! - a standby asks for the lock every [`LeaseTimes::retry_every`], and sooner when the
//!   holder's lock expires sooner, so it takes over as soon as a dead leader's lease runs out;
//! - the leader renews every [`LeaseTimes::renew_every`]; its lease is counted from when a
//!   renewal (or the acquisition) was *sent*, since Redis starts the lock's clock later, so the
//!   leader's own idea of its lease never outlives the lock in Redis;
//! - a leader steps down at once when a renewal fails, finds the lock no longer its own, or
//!   gets no answer before its lease could have expired (less [`LeaseTimes::margin`]);
//! - every acquisition comes with a new term (the fencing token), strictly increasing.

use std::time::Duration;
use tokio::time::Instant;

/// How long a lease lasts and how often the machine acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimes {
    /// The lock's time to live (PX).
    pub lease: Duration,
    /// Between renewals by the leader.
    pub renew_every: Duration,
    /// Between acquisition attempts by a standby.
    pub retry_every: Duration,
    /// The leader steps down this long before its lease could have expired, for the clock
    /// rates of this host and Redis' to differ.
    pub margin: Duration,
}

impl Default for LeaseTimes {
    fn default() -> Self {
        Self {
            lease: Duration::from_millis(3000),
            renew_every: Duration::from_millis(1000),
            retry_every: Duration::from_millis(1000),
            margin: Duration::from_millis(200),
        }
    }
}

/// After the holder's lock is due to expire, a standby asks again this much later.
const AFTER_EXPIRY: Duration = Duration::from_millis(5);

/// What the lock store answered, or that time passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The machine's deadline was reached.
    Due,
    /// The lock is ours, with a new term; `sent` is when the request left.
    Acquired { term: u64, sent: Instant },
    /// Another node holds the lock: its name, the current term, and the lock's time to live
    /// (`None` when the lock has no expiry or vanished meanwhile).
    Held {
        holder: String,
        term: u64,
        ttl: Option<Duration>,
    },
    /// Our lock was renewed; `sent` is when the request left.
    Renewed { sent: Instant },
    /// The renewal found the lock gone or someone else's.
    Lost,
    /// No answer in time, or an error (the I/O edge logs which).
    Failed,
}

/// Why a leader stopped leading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepDown {
    /// A renewal failed (error or timeout).
    RenewFailed,
    /// The lock was no longer ours.
    Lost,
    /// No renewal answered before the lease could have expired.
    Expired,
    /// Clean shutdown (the lock is released).
    Shutdown,
}

impl StepDown {
    pub fn as_str(self) -> &'static str {
        match self {
            StepDown::RenewFailed => "renewal failed",
            StepDown::Lost => "lock taken by another node",
            StepDown::Expired => "no renewal answered before the lease ran out",
            StepDown::Shutdown => "shutting down",
        }
    }
}

/// What the I/O edge must do, in order (a step-down always comes first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// This node stops leading: close the broker sockets now.
    StepDown { term: u64, why: StepDown },
    /// This node leads from now: open the broker sockets.
    Lead { term: u64 },
    /// Ask for the lock (SET NX PX, then a new term).
    Acquire,
    /// Extend our lock (compare-and-pexpire).
    Renew { term: u64 },
    /// Delete our lock (compare-and-delete).
    Release { term: u64 },
}

/// The request in flight, at most one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Acquire,
    Renew,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Standby,
    Leader { term: u64, valid_until: Instant },
}

/// What this node knows of the election, for health.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Known {
    /// The leader's node name when another node leads (ours is the caller's to add).
    pub holder: Option<String>,
    /// The latest term seen.
    pub term: Option<u64>,
    /// When the holder's lock was due to expire, as of its last answer.
    pub holder_until: Option<Instant>,
}

/// The election state machine.
#[derive(Debug, Clone)]
pub struct Lease {
    times: LeaseTimes,
    state: State,
    pending: Option<Pending>,
    /// When the next request is due (when none is in flight).
    next: Instant,
    known: Known,
}

impl Lease {
    /// A standby that asks for the lock at once.
    pub fn new(times: LeaseTimes, now: Instant) -> Self {
        Self {
            times,
            state: State::Standby,
            pending: None,
            next: now,
            known: Known::default(),
        }
    }

    /// The term this node leads in, if it leads.
    pub fn leading(&self) -> Option<u64> {
        match self.state {
            State::Leader { term, .. } => Some(term),
            State::Standby => None,
        }
    }

    /// Until when our lease holds, if we lead.
    pub fn valid_until(&self) -> Option<Instant> {
        match self.state {
            State::Leader { valid_until, .. } => Some(valid_until),
            State::Standby => None,
        }
    }

    pub fn known(&self) -> &Known {
        &self.known
    }

    /// When to feed [`Input::Due`] next: the next request (unless one is in flight) or, for a
    /// leader, the moment its lease could run out, whichever comes first.
    pub fn deadline(&self) -> Option<Instant> {
        let next = self.pending.is_none().then_some(self.next);
        match self.state {
            State::Leader { valid_until, .. } => {
                let end = valid_until
                    .checked_sub(self.times.margin)
                    .unwrap_or(valid_until);
                Some(next.map_or(end, |n| n.min(end)))
            }
            State::Standby => next,
        }
    }

    /// Feeds one input; returns what to do, step-downs first.
    pub fn step(&mut self, input: Input, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Due => {}
            Input::Acquired { term, sent } => self.on_acquired(term, sent, now, &mut out),
            Input::Held { holder, term, ttl } => self.on_held(holder, term, ttl, now),
            Input::Renewed { sent } => self.on_renewed(sent),
            Input::Lost => self.on_failure(StepDown::Lost, now, &mut out),
            Input::Failed => self.on_failure(StepDown::RenewFailed, now, &mut out),
        }
        self.on_time(now, &mut out);
        out
    }

    /// Clean shutdown: a leader steps down and releases its lock.
    pub fn shutdown(&mut self) -> Vec<Output> {
        match std::mem::replace(&mut self.state, State::Standby) {
            State::Leader { term, .. } => vec![
                Output::StepDown {
                    term,
                    why: StepDown::Shutdown,
                },
                Output::Release { term },
            ],
            State::Standby => Vec::new(),
        }
    }

    fn on_acquired(&mut self, term: u64, sent: Instant, now: Instant, out: &mut Vec<Output>) {
        if !self.answers(Pending::Acquire) {
            return;
        }
        self.known = Known {
            holder: None,
            term: Some(term),
            holder_until: None,
        };
        let valid_until = sent + self.times.lease;
        if valid_until
            .checked_sub(self.times.margin)
            .unwrap_or(valid_until)
            <= now
        {
            // The answer came too late to lead on: the renewal timer sorts it out (a lock we
            // hold is taken back by our next acquisition, with a new term).
            self.next = now;
            return;
        }
        self.state = State::Leader { term, valid_until };
        self.next = sent + self.times.renew_every;
        out.push(Output::Lead { term });
    }

    fn on_held(&mut self, holder: String, term: u64, ttl: Option<Duration>, now: Instant) {
        if !self.answers(Pending::Acquire) {
            return;
        }
        let retry = match ttl {
            Some(ttl) => (ttl + AFTER_EXPIRY).min(self.times.retry_every),
            None => self.times.retry_every,
        };
        self.known = Known {
            holder: Some(holder),
            term: Some(term),
            holder_until: ttl.map(|t| now + t),
        };
        self.next = now + retry;
    }

    fn on_renewed(&mut self, sent: Instant) {
        if !self.answers(Pending::Renew) {
            return;
        }
        if let State::Leader { valid_until, .. } = &mut self.state {
            *valid_until = (*valid_until).max(sent + self.times.lease);
            self.next = sent + self.times.renew_every;
        }
    }

    /// Whether an answer of this kind is the one awaited (then nothing is in flight any more);
    /// any other is stale and changes nothing.
    fn answers(&mut self, kind: Pending) -> bool {
        let ours = self.pending == Some(kind);
        if ours {
            self.pending = None;
        }
        ours
    }

    /// A failed or lost request. A leader whose renewal failed steps down at once; a standby
    /// tries again after the usual interval.
    fn on_failure(&mut self, why: StepDown, now: Instant, out: &mut Vec<Output>) {
        let was = self.pending.take();
        self.next = now + self.times.retry_every;
        if was != Some(Pending::Renew) {
            return;
        }
        if let State::Leader { term, .. } = std::mem::replace(&mut self.state, State::Standby) {
            out.push(Output::StepDown { term, why });
        }
    }

    /// What the clock asks for: a leader whose lease may be running out steps down; a due
    /// request is sent.
    fn on_time(&mut self, now: Instant, out: &mut Vec<Output>) {
        if let State::Leader { term, valid_until } = self.state
            && now + self.times.margin >= valid_until
        {
            self.state = State::Standby;
            self.next = now;
            out.push(Output::StepDown {
                term,
                why: StepDown::Expired,
            });
        }
        if self.pending.is_some() || now < self.next {
            return;
        }
        match self.state {
            State::Leader { term, .. } => {
                self.pending = Some(Pending::Renew);
                out.push(Output::Renew { term });
            }
            State::Standby => {
                self.pending = Some(Pending::Acquire);
                out.push(Output::Acquire);
            }
        }
    }
}

#[cfg(test)]
mod tests;
