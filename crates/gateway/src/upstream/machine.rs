//! The connection's decisions as a pure state machine: `on(event, now)` → actions. When to
//! connect, when to wait and how long, when a live socket is dead or stale, when the REST bridge
//! should carry the data, what the shard status says and what is worth a log line are decided
//! here and nowhere else; `conn.rs` only performs what the machine asks (open a socket, close it,
//! publish, log) and reports what happened. Time comes in with every event, so every rule is
//! table-tested without a clock.
//!
//! Rules:
//! - an attempt needs the feed to run and a token that was not rejected; a rejected token is
//!   never tried again (no 403 storm) until a different one is published;
//! - after a failed attempt, and before the first attempt of a run, the token is checked over
//!   REST first (pre-flight);
//! - a connection that delivered data clears the failure count (one that broke after data, or
//!   delivered for `stale_threshold` before falling silent): the next attempt is immediate,
//!   failed ones then wait the [`QUICK`](super::backoff::QUICK) delays (0.5, 1, 2 s), then the
//!   `FEED_RECONNECT_DELAY` ladder. One that sent a little data and fell silent counts as a
//!   failure from the short delays on, so a feed that sends a snapshot and goes quiet, over and
//!   over, still climbs the ladder and is reported;
//! - the flap guard allows at most `attempts_per_minute` attempts in any 60 s;
//! - a live socket with no frame for `liveness_timeout` is dead; with no data for subscribed
//!   instruments for `stale_threshold` while the market expects data it is stale. Both are
//!   deadlines the caller checks on every frame as well as on its timer, so a busy stream of
//!   frames without data cannot starve them;
//! - the REST bridge is wanted whenever the market expects data, the demand is not empty, the
//!   token is usable and the WebSocket is not delivering: no socket (reconnecting, refused,
//!   backing off) for `bridge_after` since the last data, or a live socket without data for
//!   subscribed instruments for `bridge_after` plus [`FRAME_GRACE`] (heartbeats or not: a
//!   flood of frames without data is no feed). Data from the socket ends the bridge at once.
//!   (A watchlist of only illiquid instruments that all stay quiet for two seconds is polled
//!   too, at the broker's quote rate: the price of never missing a stalled feed; REST then
//!   re-confirms unchanged prices.) `FEED_MAX_RECONNECTS` consecutive failures are *reported* as the
//!   REST fallback (health mode "REST API Polling"); data flows from the bridge long before;
//! - logs follow failure episodes ([`Episode`]): each kind once until a connection has stayed
//!   healthy for `healthy_after`.

use crate::model::demand::RunPolicy;
use crate::upstream::backoff::Backoff;
use crate::upstream::episode::Episode;
use crate::upstream::state::{AttemptError, Disconnect, FeedEvent, FeedState, ShardStatus};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// The flap guard's window.
const FLAP_WINDOW: Duration = Duration::from_secs(60);

/// A live socket gets this much longer than a lost one before the bridge starts: a liquid
/// instrument ticks about every second, so a second without any data on a socket that is up
/// can still be a quiet moment.
const FRAME_GRACE: Duration = Duration::from_secs(1);

/// The machine's fixed parameters.
#[derive(Debug, Clone)]
pub struct MachineConfig {
    pub shard: usize,
    pub reconnect_delay: Duration,
    pub max_reconnect_delay: Duration,
    /// Consecutive failures before the REST fallback is reported (`FEED_MAX_RECONNECTS`).
    pub max_reconnects: u32,
    /// The flap guard: attempts allowed in any 60 s.
    pub attempts_per_minute: u32,
    /// The WebSocket delivering nothing this long while data is expected → REST bridge.
    pub bridge_after: Duration,
    pub liveness_timeout: Duration,
    pub stale_threshold: Duration,
    /// A connection that stays up this long with data ends the failure episode (logging).
    pub healthy_after: Duration,
    /// Seed of the backoff jitter (injected so runs are reproducible).
    pub seed: u64,
}

/// What happened, as the connection reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The scheduler's run policy now.
    Run(RunPolicy),
    /// The current token's epoch (`None`: no token).
    Token(Option<u64>),
    /// How many instruments the shard should subscribe.
    Demand(usize),
    /// The token was rejected: by the pre-flight check, or a refusal classified over REST.
    TokenRejected,
    /// An attempt failed for another reason than the token.
    AttemptFailed(AttemptError),
    /// The socket is up and the broker accepted it.
    Connected,
    /// The live socket now carries this many subscriptions; `first` after connecting.
    Subscribed { instruments: usize, first: bool },
    /// A frame of any kind arrived (the socket is alive).
    Frame,
    /// Market data for subscribed instruments arrived (the feed is fresh).
    Data,
    /// The gateway itself held the connection up this long (room in the hub's channel, a
    /// symbol lookup): no silence of the broker's.
    Held(Duration),
    /// The live connection ended.
    Ended(Disconnect),
    /// Time passed: due at [`Machine::deadline`], and on every frame.
    Tick,
}

/// What the connection must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start an attempt now with the current token; `preflight`: check it over REST first.
    Connect { preflight: bool },
    /// End the live connection for this reason.
    Close(Disconnect),
    /// Tell the listeners (supervisor, auth, tests).
    Emit(FeedEvent),
    /// Say so in the log.
    Log(Note),
}

/// A log line the machine asks for (the caller formats it; the machine decides whether it is
/// news or a repeat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    Connected {
        recovering: bool,
    },
    Subscribed {
        instruments: usize,
        recovering: bool,
    },
    /// The first connection of a failure episode that got as far as its subscriptions.
    Reconnected {
        instruments: usize,
        failures: u64,
    },
    Lost {
        reason: Disconnect,
        lasted: Duration,
        first: bool,
        retry_in: Duration,
    },
    AttemptFailed {
        error: AttemptError,
        failures: u32,
        retry_in: Duration,
        first: bool,
    },
    FallbackReported {
        failures: u32,
        first: bool,
    },
    FlapGuard {
        retry_in: Duration,
    },
    Stable {
        failures: u64,
    },
    Stopped,
    TokenChanged,
}

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing to do until the run policy or the token changes.
    Idle,
    /// The next attempt starts at `until`.
    Waiting {
        until: Instant,
    },
    /// An attempt is under way; its outcome comes as an event.
    Attempting,
    Live(Live),
}

/// A live connection's clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Live {
    since: Instant,
    /// The epoch of the token it was opened with.
    epoch: Option<u64>,
    last_frame: Instant,
    /// Freshness: the last data, or when freshness started to count (subscribed, market open).
    last_data: Instant,
    /// The first data on this connection.
    first_data: Option<Instant>,
    /// Data has flowed for `stale_threshold`: the connection proved itself.
    proven: bool,
}

impl Live {
    /// The connection delivered data in a way that forgives earlier failures, given how it
    /// ended: a socket that broke after data is a blip; one that fell silent must have
    /// delivered for a while first (a snapshot and silence, over and over, is a failing feed).
    fn delivered(&self, end: &Disconnect) -> bool {
        let silent = matches!(end, Disconnect::Stale { .. } | Disconnect::Dead { .. });
        self.proven || (self.first_data.is_some() && !silent)
    }
}

/// The connection's decisions.
#[derive(Debug)]
pub struct Machine {
    cfg: MachineConfig,
    backoff: Backoff,
    phase: Phase,
    run: RunPolicy,
    token: Option<u64>,
    rejected: Option<u64>,
    wanted: usize,
    /// Consecutive failures since the last data.
    failures: u32,
    /// The failures began with the loss of a connection that delivered data.
    quick: bool,
    /// The earliest next attempt (backoff).
    retry_at: Option<Instant>,
    preflight_due: bool,
    /// The last attempt failed: check the token over REST before the next one.
    attempt_failed: bool,
    /// The epoch of the token the current attempt or connection uses.
    attempt_epoch: Option<u64>,
    connected_once: bool,
    /// Recent attempt starts, for the flap guard.
    attempts: VecDeque<Instant>,
    /// The WebSocket has delivered nothing since then (while data is expected).
    quiet_since: Instant,
    /// `FallbackWanted` was emitted and `Recovered` not yet.
    fallback_reported: bool,
    flap_logged: bool,
    episode: Episode,
    status: ShardStatus,
    changed: bool,
    rng: u64,
}

impl Machine {
    pub fn new(cfg: MachineConfig, now: Instant) -> Self {
        Self {
            backoff: Backoff::new(cfg.reconnect_delay, cfg.max_reconnect_delay),
            rng: cfg.seed | 1,
            cfg,
            phase: Phase::Idle,
            run: RunPolicy {
                should_run: false,
                expects_data: false,
            },
            token: None,
            rejected: None,
            wanted: 0,
            failures: 0,
            quick: false,
            retry_at: None,
            preflight_due: true,
            attempt_failed: false,
            attempt_epoch: None,
            connected_once: false,
            attempts: VecDeque::new(),
            quiet_since: now,
            fallback_reported: false,
            flap_logged: false,
            episode: Episode::default(),
            status: ShardStatus::default(),
            changed: true,
        }
    }

    /// feedgate is shutting down: the status says so.
    pub fn shut_down(&mut self) {
        self.phase = Phase::Idle;
        self.status.state = FeedState::Disconnected;
        self.status.idle = true;
        self.status.bridge_wanted = false;
        self.changed = true;
    }

    /// What the shard reports (published by the caller when [`Self::take_changed`] says so).
    pub fn status(&self) -> &ShardStatus {
        &self.status
    }

    /// Whether the status changed since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// A live connection is open.
    pub fn is_live(&self) -> bool {
        matches!(self.phase, Phase::Live(_))
    }

    /// The failure episode under way has logged a failure (recovery is routine, not news).
    pub fn recovering(&self) -> bool {
        self.episode.is_active()
    }

    /// When the caller must deliver [`Event::Tick`] next, if anything is due by time alone.
    pub fn deadline(&self) -> Option<Instant> {
        let own = match self.phase {
            Phase::Waiting { until } => Some(until),
            Phase::Live(l) => Some(self.live_deadline(&l)),
            Phase::Idle | Phase::Attempting => None,
        };
        let bridge =
            (!self.status.bridge_wanted && self.bridge_possible()).then(|| self.bridge_due());
        match (own, bridge) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Nothing scheduled while something should happen: the feed should run with a usable
    /// token, yet no attempt is under way, none is scheduled and no socket is open.
    pub fn is_stuck(&self) -> bool {
        let idle_with_work = self.phase == Phase::Idle && self.can_run();
        let bridge_unscheduled =
            !self.status.bridge_wanted && self.bridge_possible() && self.deadline().is_none();
        idle_with_work || bridge_unscheduled
    }

    /// Feeds one event at `now`; the actions go to `out` (a buffer the caller reuses).
    pub fn on(&mut self, event: Event, now: Instant, out: &mut Vec<Action>) {
        match event {
            Event::Run(run) => self.on_run(run, now, out),
            Event::Token(epoch) => self.on_token(epoch, now, out),
            Event::Demand(n) => self.wanted = n,
            Event::TokenRejected => self.on_rejected(out),
            Event::AttemptFailed(error) => self.on_attempt_failed(error, now, out),
            Event::Connected => self.on_connected(now, out),
            Event::Subscribed { instruments, first } => {
                self.on_subscribed(instruments, first, now, out)
            }
            Event::Frame => {
                if let Phase::Live(l) = &mut self.phase {
                    l.last_frame = now;
                }
            }
            Event::Data => self.on_data(now, out),
            Event::Held(d) => {
                if let Phase::Live(l) = &mut self.phase {
                    l.last_frame += d;
                    l.last_data += d;
                }
            }
            Event::Ended(end) => self.on_ended(end, now, out),
            Event::Tick => self.on_tick(now, out),
        }
        self.schedule(now, out);
        self.update_bridge(now);
    }

    fn on_run(&mut self, run: RunPolicy, now: Instant, out: &mut Vec<Action>) {
        let was = std::mem::replace(&mut self.run, run);
        if run.should_run && !was.should_run {
            // A new run starts afresh, with its token checked first.
            self.preflight_due = true;
            self.retry_at = None;
            self.quiet_since = now;
        }
        // The market opens: the quiet before it was no silence of the broker's.
        if run.expects_data && !was.expects_data {
            self.quiet_since = now;
            if let Phase::Live(l) = &mut self.phase {
                l.last_data = now;
            }
        }
        if let Phase::Live(_) = self.phase
            && !run.should_run
        {
            out.push(Action::Close(Disconnect::Stopped));
        }
        self.set_idle();
    }

    fn on_token(&mut self, epoch: Option<u64>, now: Instant, out: &mut Vec<Action>) {
        if epoch == self.token {
            return;
        }
        self.token = epoch;
        match self.phase {
            Phase::Live(l) if l.epoch != epoch => out.push(Action::Close(Disconnect::TokenChanged)),
            Phase::Waiting { .. } | Phase::Idle if epoch.is_some() => {
                // A new token: whatever failed with the old one says nothing about it.
                self.failures = 0;
                self.quick = false;
                self.retry_at = Some(now);
            }
            _ => {}
        }
        // Only a different token lifts a rejection (a withdrawn one that comes back does not).
        if self.rejected.is_some() && epoch.is_some() && epoch != self.rejected {
            self.rejected = None;
            self.status.auth_rejected = false;
            self.changed = true;
        }
    }

    fn on_rejected(&mut self, out: &mut Vec<Action>) {
        self.phase = Phase::Idle;
        self.rejected = self.attempt_epoch;
        self.status.state = FeedState::Error;
        self.status.auth_rejected = true;
        self.status.last_error = Some("access token rejected by the broker".into());
        self.changed = true;
        if let Some(token_epoch) = self.attempt_epoch {
            out.push(Action::Emit(FeedEvent::AuthRejected {
                shard: self.cfg.shard,
                token_epoch,
            }));
        }
    }

    fn on_attempt_failed(&mut self, error: AttemptError, now: Instant, out: &mut Vec<Action>) {
        self.phase = Phase::Idle;
        self.attempt_failed = true;
        let retry_in = self.fail(now);
        let failures = self.failures;
        self.status.state = FeedState::Error;
        out.push(Action::Emit(FeedEvent::AttemptFailed {
            shard: self.cfg.shard,
            error: error.clone(),
            failures,
            retry_in,
        }));
        let first = self.episode.fail(error.kind());
        self.status.last_error = Some(error.to_string());
        out.push(Action::Log(Note::AttemptFailed {
            error,
            failures,
            retry_in,
            first,
        }));
        self.after_failure(out);
    }

    fn on_connected(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.phase = Phase::Live(Live {
            since: now,
            epoch: self.attempt_epoch,
            last_frame: now,
            last_data: now,
            first_data: None,
            proven: false,
        });
        self.connected_once = true;
        self.attempt_failed = false;
        self.status.state = FeedState::Connected;
        self.status.failures = 0;
        self.status.last_error = None;
        self.status.auth_rejected = false;
        self.changed = true;
        out.push(Action::Emit(FeedEvent::Connected {
            shard: self.cfg.shard,
            token_epoch: self.attempt_epoch.unwrap_or_default(),
        }));
        let recovering = self.episode.is_active();
        out.push(Action::Log(Note::Connected { recovering }));
        // The token changed while the attempt was under way: this socket uses the old one.
        if self.attempt_epoch != self.token {
            out.push(Action::Close(Disconnect::TokenChanged));
        }
    }

    fn on_subscribed(
        &mut self,
        instruments: usize,
        first: bool,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if let Phase::Live(l) = &mut self.phase {
            if first {
                // The watchdog's clocks start once the subscriptions are out.
                l.last_frame = now;
                l.last_data = now;
            }
            self.status.subscribed = instruments;
            self.changed = true;
        }
        if first {
            out.push(Action::Emit(FeedEvent::Resubscribed {
                shard: self.cfg.shard,
                instruments,
            }));
            let recovering = self.episode.is_active();
            out.push(Action::Log(Note::Subscribed {
                instruments,
                recovering,
            }));
            if recovering && self.episode.reconnected() {
                out.push(Action::Log(Note::Reconnected {
                    instruments,
                    failures: self.episode.failures(),
                }));
            }
        }
    }

    fn on_data(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Phase::Live(l) = &mut self.phase else {
            return;
        };
        l.last_data = now;
        self.quiet_since = now;
        if self.status.bridge_wanted {
            self.status.bridge_wanted = false;
            self.changed = true;
        }
        let Some(first) = l.first_data else {
            l.first_data = Some(now);
            // Data flows again: the fallback stands down.
            if self.status.fallback_wanted {
                self.status.fallback_wanted = false;
                self.changed = true;
            }
            if std::mem::take(&mut self.fallback_reported) {
                out.push(Action::Emit(FeedEvent::Recovered {
                    shard: self.cfg.shard,
                }));
            }
            return;
        };
        if !l.proven && now.duration_since(first) >= self.cfg.stale_threshold {
            // Data kept flowing: the failures before are forgiven.
            l.proven = true;
            self.failures = 0;
            self.quick = false;
            self.status.failures = 0;
            self.changed = true;
        }
    }

    fn on_ended(&mut self, end: Disconnect, now: Instant, out: &mut Vec<Action>) {
        let live = match self.phase {
            Phase::Live(l) => Some(l),
            _ => None,
        };
        self.phase = Phase::Idle;
        self.record_end(&end, out);
        let lasted = live.map_or(Duration::ZERO, |l| now.duration_since(l.since));
        match end.failure_kind() {
            Some(kind) => {
                // A connection that delivered data and broke is usually a blip: at once, and
                // not counted. One that did not is a failed attempt.
                let retry_in = if live.is_some_and(|l| l.delivered(&end)) {
                    self.failures = 0;
                    self.quick = true;
                    self.retry_at = Some(now);
                    Duration::ZERO
                } else {
                    // Silence after a little data: counted, but from the short delays.
                    if live.is_some_and(|l| l.first_data.is_some()) && self.failures == 0 {
                        self.quick = true;
                    }
                    self.fail(now)
                };
                let first = self.episode.fail(kind);
                self.status.last_error = Some(end.to_string());
                out.push(Action::Log(Note::Lost {
                    reason: end,
                    lasted,
                    first,
                    retry_in,
                }));
                self.after_failure(out);
            }
            None => self.ended_on_purpose(&end, now, out),
        }
    }

    /// Why the connection ended, in the shard status and the events.
    fn record_end(&mut self, end: &Disconnect, out: &mut Vec<Action>) {
        let stalled = matches!(end, Disconnect::Stale { .. } | Disconnect::Dead { .. });
        // `stale` stays visible until the next attempt starts (`connecting`).
        self.status.state = if matches!(end, Disconnect::Stale { .. }) {
            FeedState::Stale
        } else {
            FeedState::Disconnected
        };
        self.status.subscribed = 0;
        self.status.last_disconnect = Some(end.to_string());
        if stalled {
            self.status.stalls += 1;
        }
        self.changed = true;
        out.push(Action::Emit(FeedEvent::Disconnected {
            shard: self.cfg.shard,
            reason: end.clone(),
        }));
    }

    fn ended_on_purpose(&mut self, end: &Disconnect, now: Instant, out: &mut Vec<Action>) {
        match end {
            Disconnect::Stopped => {
                out.push(Action::Log(Note::Stopped));
                // The next run starts afresh: its first failure is news again.
                self.episode.end();
                self.preflight_due = true;
            }
            Disconnect::TokenChanged => out.push(Action::Log(Note::TokenChanged)),
            _ => {}
        }
        self.retry_at = Some(now);
        self.set_idle();
    }

    /// One more consecutive failure: when to try again.
    fn fail(&mut self, now: Instant) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let unit = self.jitter();
        let delay = self.backoff.after(self.failures, self.quick, unit);
        self.retry_at = Some(now + delay);
        self.status.failures = self.failures;
        self.changed = true;
        delay
    }

    /// After a failure: report the REST fallback once failures reach the limit.
    fn after_failure(&mut self, out: &mut Vec<Action>) {
        let failures = self.failures;
        if failures < self.cfg.max_reconnects || self.status.fallback_wanted {
            return;
        }
        self.status.fallback_wanted = true;
        self.changed = true;
        let first = self.episode.want_fallback();
        if first {
            self.fallback_reported = true;
            out.push(Action::Emit(FeedEvent::FallbackWanted {
                shard: self.cfg.shard,
            }));
        }
        out.push(Action::Log(Note::FallbackReported { failures, first }));
    }

    fn on_tick(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Phase::Live(l) = self.phase else {
            return;
        };
        let silent = now.duration_since(l.last_frame);
        let quiet = now.duration_since(l.last_data);
        if silent >= self.cfg.liveness_timeout {
            out.push(Action::Close(Disconnect::Dead { silent_for: silent }));
        } else if self.run.expects_data
            && self.status.subscribed > 0
            && quiet >= self.cfg.stale_threshold
        {
            out.push(Action::Close(Disconnect::Stale { no_data_for: quiet }));
        } else if l.first_data.is_some()
            && now.duration_since(l.since) >= self.cfg.healthy_after
            && let Some(failures) = self.episode.end()
        {
            self.flap_logged = false;
            out.push(Action::Log(Note::Stable { failures }));
        }
    }

    /// Starts an attempt when one is due and allowed, or schedules it.
    fn schedule(&mut self, now: Instant, out: &mut Vec<Action>) {
        if matches!(self.phase, Phase::Attempting | Phase::Live(_)) {
            return;
        }
        if !self.can_run() {
            self.phase = Phase::Idle;
            self.set_idle();
            return;
        }
        let due = self.retry_at.unwrap_or(now).max(now);
        let at = due.max(self.flap_guard(now, out));
        if at > now {
            self.phase = Phase::Waiting { until: at };
            return;
        }
        self.start_attempt(now, out);
    }

    /// The earliest instant another attempt fits the flap guard.
    fn flap_guard(&mut self, now: Instant, out: &mut Vec<Action>) -> Instant {
        while self
            .attempts
            .front()
            .is_some_and(|t| now.duration_since(*t) >= FLAP_WINDOW)
        {
            self.attempts.pop_front();
        }
        let limit = self.cfg.attempts_per_minute.max(1) as usize;
        let Some(oldest) = self
            .attempts
            .front()
            .filter(|_| self.attempts.len() >= limit)
        else {
            return now;
        };
        let at = *oldest + FLAP_WINDOW;
        if !std::mem::replace(&mut self.flap_logged, true) {
            out.push(Action::Log(Note::FlapGuard {
                retry_in: at.duration_since(now),
            }));
        }
        at
    }

    fn start_attempt(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.phase = Phase::Attempting;
        self.retry_at = None;
        self.attempts.push_back(now);
        self.attempt_epoch = self.token;
        let preflight = std::mem::take(&mut self.preflight_due) || self.attempt_failed;
        self.status.state = FeedState::Connecting;
        self.status.idle = false;
        if self.connected_once {
            self.status.reconnects += 1;
        }
        self.changed = true;
        out.push(Action::Emit(FeedEvent::Connecting {
            shard: self.cfg.shard,
            attempt: self.failures + 1,
        }));
        out.push(Action::Connect { preflight });
    }

    /// Waiting for the scheduler or a token: what the status says meanwhile.
    fn set_idle(&mut self) {
        if matches!(self.phase, Phase::Attempting | Phase::Live(_)) {
            return;
        }
        let idle = !self.run.should_run;
        // An error stays until the next attempt, and so does `stale` while the feed should run.
        let keep = self.status.state == FeedState::Error
            || (self.status.state == FeedState::Stale && self.run.should_run);
        let state = if keep {
            self.status.state
        } else {
            FeedState::Disconnected
        };
        if self.status.idle != idle || self.status.state != state {
            self.status.idle = idle;
            self.status.state = state;
            self.changed = true;
        }
    }

    /// The bridge is wanted once the WebSocket's quiet lasts `bridge_after`.
    fn bridge_possible(&self) -> bool {
        self.run.should_run && self.run.expects_data && self.wanted > 0 && self.token_usable()
    }

    /// When the bridge starts if nothing is delivered meanwhile.
    fn bridge_due(&self) -> Instant {
        match self.phase {
            Phase::Live(l) => l.last_data + self.cfg.bridge_after + FRAME_GRACE,
            _ => self.quiet_since + self.cfg.bridge_after,
        }
    }

    /// Once started, the bridge lasts until the socket delivers data (or it is pointless).
    fn update_bridge(&mut self, now: Instant) {
        let want =
            self.bridge_possible() && (self.status.bridge_wanted || now >= self.bridge_due());
        if self.status.bridge_wanted != want {
            self.status.bridge_wanted = want;
            self.changed = true;
        }
    }

    fn live_deadline(&self, l: &Live) -> Instant {
        let mut at = l.last_frame + self.cfg.liveness_timeout;
        if self.run.expects_data && self.status.subscribed > 0 {
            at = at.min(l.last_data + self.cfg.stale_threshold);
        }
        if l.first_data.is_some() && self.episode.is_active() {
            at = at.min(l.since + self.cfg.healthy_after);
        }
        at
    }

    fn token_usable(&self) -> bool {
        self.token.is_some() && self.token != self.rejected
    }

    fn can_run(&self) -> bool {
        self.run.should_run && self.token_usable()
    }

    /// A uniform number in `[0, 1)` for the jitter (xorshift: no need for more), also lent to
    /// the live connection's retries.
    pub fn jitter(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests;
