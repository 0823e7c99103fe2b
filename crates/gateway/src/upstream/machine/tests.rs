//! Table tests per transition and a property test over random event sequences.

use super::*;
use crate::upstream::state::FailureKind;
use proptest::prelude::*;

const S: Duration = Duration::from_secs(1);

fn cfg() -> MachineConfig {
    MachineConfig {
        shard: 0,
        reconnect_delay: 5 * S,
        max_reconnect_delay: 60 * S,
        max_reconnects: 3,
        attempts_per_minute: 12,
        bridge_after: S,
        liveness_timeout: 3 * S,
        stale_threshold: 10 * S,
        healthy_after: 30 * S,
        seed: 42,
    }
}

/// A machine and its clock.
struct Rig {
    m: Machine,
    now: Instant,
}

impl Rig {
    fn new() -> Self {
        Self::with(cfg())
    }

    fn with(cfg: MachineConfig) -> Self {
        let now = Instant::now();
        Self {
            m: Machine::new(cfg, now),
            now,
        }
    }

    fn on(&mut self, ev: Event) -> Vec<Action> {
        let mut out = Vec::new();
        self.m.on(ev, self.now, &mut out);
        out
    }

    fn at(&mut self, after: Duration, ev: Event) -> Vec<Action> {
        self.now += after;
        self.on(ev)
    }

    /// Runs to the next deadline and ticks there.
    fn tick_at_deadline(&mut self) -> (Duration, Vec<Action>) {
        let at = self.m.deadline().expect("something is scheduled");
        let waited = at.saturating_duration_since(self.now);
        self.now = self.now.max(at);
        (waited, self.on(Event::Tick))
    }

    /// Ticks at each deadline until an attempt starts: how long that took, and its actions.
    fn until_attempt(&mut self) -> (Duration, Vec<Action>) {
        let from = self.now;
        loop {
            let (_, a) = self.tick_at_deadline();
            if connects(&a) {
                return (self.now.duration_since(from), a);
            }
        }
    }

    /// The feed runs with token 1 and one instrument wanted: the first attempt starts.
    fn running() -> Self {
        let mut r = Self::new();
        r.on(Event::Demand(1));
        r.on(Event::Token(Some(1)));
        let a = r.on(Event::Run(RunPolicy::ALWAYS));
        assert!(connects(&a), "{a:?}");
        r
    }

    /// A live, subscribed connection that has delivered data.
    fn live_with_data() -> Self {
        let mut r = Self::running();
        r.on(Event::Connected);
        r.on(Event::Subscribed {
            instruments: 1,
            first: true,
        });
        r.on(Event::Data);
        r
    }
}

fn connects(actions: &[Action]) -> bool {
    actions.iter().any(|a| matches!(a, Action::Connect { .. }))
}

fn preflight(actions: &[Action]) -> Option<bool> {
    actions.iter().find_map(|a| match a {
        Action::Connect { preflight } => Some(*preflight),
        _ => None,
    })
}

fn close(actions: &[Action]) -> Option<&Disconnect> {
    actions.iter().find_map(|a| match a {
        Action::Close(d) => Some(d),
        _ => None,
    })
}

fn emitted(actions: &[Action], f: impl Fn(&FeedEvent) -> bool) -> bool {
    actions.iter().any(|a| matches!(a, Action::Emit(e) if f(e)))
}

fn dropped() -> Event {
    Event::Ended(Disconnect::Closed {
        code: None,
        reason: String::new(),
    })
}

fn refused() -> Event {
    Event::AttemptFailed(AttemptError::Upgrade { status: 403 })
}

#[test]
fn an_attempt_needs_a_run_and_a_usable_token() {
    let mut r = Rig::new();
    assert!(!connects(&r.on(Event::Run(RunPolicy::ALWAYS))), "no token");
    assert!(!r.m.is_stuck());
    let a = r.on(Event::Token(Some(1)));
    assert_eq!(
        preflight(&a),
        Some(true),
        "the first attempt of a run checks the token"
    );
    assert_eq!(r.m.status().state, FeedState::Connecting);

    let mut r = Rig::new();
    r.on(Event::Token(Some(1)));
    assert!(r.m.status().idle, "the scheduler has not started the feed");
    assert!(!r.m.is_stuck());
}

#[test]
fn a_loss_after_data_retries_at_once_then_after_short_delays_then_the_ladder() {
    let mut r = Rig::live_with_data();
    let a = r.on(dropped());
    assert_eq!(
        preflight(&a),
        Some(false),
        "at once, no pre-flight for a blip"
    );
    let mut waits = Vec::new();
    for _ in 0..6 {
        r.on(Event::AttemptFailed(AttemptError::Connect("reset".into())));
        let (waited, a) = r.until_attempt();
        assert_eq!(
            preflight(&a),
            Some(true),
            "a failed attempt is followed by a check"
        );
        waits.push(waited.as_secs_f64());
    }
    let nominal = [0.5, 1.0, 2.0, 5.0, 15.0, 30.0];
    for (got, want) in waits.iter().zip(nominal) {
        assert!(
            (got - want).abs() <= want * 0.2 + 1e-9,
            "waits {waits:?} should follow {nominal:?} ±20 %"
        );
    }
}

#[test]
fn data_clears_the_failures_but_a_connection_without_data_does_not() {
    let mut r = Rig::running();
    r.on(refused());
    let (w1, _) = r.until_attempt();
    r.on(Event::Connected);
    r.on(dropped());
    let (w2, _) = r.until_attempt();
    assert!(w1 >= 4 * S && w1 <= 6 * S, "{w1:?}");
    assert!(
        w2 >= 12 * S,
        "a socket that died before any data is a failure: {w2:?}"
    );
    assert_eq!(r.m.status().failures, 2);

    r.on(Event::Connected);
    r.on(Event::Data);
    assert_eq!(r.m.status().failures, 0, "data forgives the failures");
    assert_eq!(preflight(&r.on(dropped())), Some(false));
}

#[test]
fn a_snapshot_then_silence_is_a_failing_feed_but_a_stall_after_steady_data_is_a_blip() {
    // Each connection sends one snapshot tick, then nothing: counted, and reported.
    let mut r = Rig::running();
    let mut reported = false;
    for _ in 0..4 {
        r.on(Event::Connected);
        r.on(Event::Subscribed {
            instruments: 1,
            first: true,
        });
        r.on(Event::Data);
        let a = r.at(10 * S, Event::Tick);
        let end = close(&a).cloned().expect("stale");
        let a = r.on(Event::Ended(end));
        reported |= emitted(&a, |e| matches!(e, FeedEvent::FallbackWanted { .. }));
        r.until_attempt();
    }
    assert!(reported, "after FEED_MAX_RECONNECTS silent connections");

    // Data for longer than the stale threshold, then a stall: reconnect at once.
    let mut r = Rig::live_with_data();
    for _ in 0..12 {
        r.at(S, Event::Frame);
        r.on(Event::Data);
    }
    let a = r.at(3 * S, Event::Tick);
    let end = close(&a).cloned().expect("dead");
    assert!(matches!(end, Disconnect::Dead { .. }), "{end:?}");
    assert_eq!(preflight(&r.on(Event::Ended(end))), Some(false));
}

#[test]
fn a_rejected_token_is_never_tried_again_until_a_new_one() {
    let mut r = Rig::running();
    let a = r.on(Event::TokenRejected);
    assert!(emitted(&a, |e| matches!(
        e,
        FeedEvent::AuthRejected { token_epoch: 1, .. }
    )));
    assert!(r.m.status().auth_rejected && r.m.deadline().is_none());
    assert!(!r.m.is_stuck(), "waiting for a login is not stuck");
    for ev in [
        Event::Tick,
        Event::Run(RunPolicy::ALWAYS),
        Event::Token(Some(1)),
        Event::Demand(5),
    ] {
        assert!(!connects(&r.at(60 * S, ev)));
    }
    let a = r.on(Event::Token(Some(2)));
    assert!(connects(&a), "a new token is tried at once");
    assert!(!r.m.status().auth_rejected);
}

#[test]
fn a_busy_stream_without_data_goes_stale_and_a_silent_one_dies() {
    let mut r = Rig::live_with_data();
    let mut closed = None;
    for _ in 0..1200 {
        r.now += Duration::from_millis(10);
        let mut a = r.on(Event::Frame);
        if r.m.deadline().is_some_and(|d| d <= r.now) {
            a.extend(r.on(Event::Tick));
        }
        if let Some(d) = close(&a) {
            closed = Some(d.clone());
            break;
        }
    }
    assert!(
        matches!(closed, Some(Disconnect::Stale { no_data_for }) if no_data_for == 10 * S),
        "{closed:?}"
    );

    let mut r = Rig::live_with_data();
    let (waited, a) = r.tick_at_deadline();
    assert_eq!(waited, 2 * S, "the bridge comes first for a silent socket");
    assert!(close(&a).is_none());
    let (_, a) = r.tick_at_deadline();
    assert!(matches!(close(&a), Some(Disconnect::Dead { .. })), "{a:?}");
}

#[test]
fn the_bridge_starts_a_second_into_a_gap_and_ends_with_data() {
    // No socket: a second after the last data.
    let mut r = Rig::live_with_data();
    let data_at = r.now;
    r.at(Duration::from_millis(100), dropped());
    while !r.m.status().bridge_wanted {
        let (_, a) = r.tick_at_deadline();
        if connects(&a) {
            r.on(refused());
        }
    }
    assert_eq!(r.now - data_at, S, "1 s without data");
    r.on(Event::Connected);
    assert!(
        r.m.status().bridge_wanted,
        "a socket that has not delivered yet"
    );
    r.at(Duration::from_millis(10), Event::Data);
    assert!(!r.m.status().bridge_wanted, "data ends the bridge at once");

    // A silent socket: a second, plus the grace a live socket gets.
    let mut r = Rig::live_with_data();
    let (waited, _) = r.tick_at_deadline();
    assert_eq!(waited, 2 * S);
    assert!(r.m.status().bridge_wanted);

    // A socket that sends frames without data (a heartbeat flood) is bridged just the same,
    // and replaced once it is stale.
    let mut r = Rig::live_with_data();
    for _ in 0..19 {
        r.at(Duration::from_millis(100), Event::Frame);
        r.on(Event::Tick);
    }
    assert!(!r.m.status().bridge_wanted, "1.9 s: not yet");
    r.at(Duration::from_millis(100), Event::Frame);
    r.on(Event::Tick);
    assert!(r.m.status().bridge_wanted, "2 s of frames without data");
    let mut a = Vec::new();
    while close(&a).is_none() {
        a = r.at(Duration::from_millis(100), Event::Frame);
        a.extend(r.on(Event::Tick));
    }
    r.on(Event::Ended(close(&a).cloned().expect("stale")));
    assert!(
        r.m.status().bridge_wanted,
        "bridged while the stale socket is replaced"
    );

    // Not while the market expects no data, nor without a usable token or demand.
    let mut r = Rig::live_with_data();
    r.on(Event::Run(RunPolicy {
        should_run: true,
        expects_data: false,
    }));
    r.at(5 * S, Event::Tick);
    assert!(!r.m.status().bridge_wanted);
    let mut r = Rig::running();
    r.on(Event::TokenRejected);
    r.at(5 * S, Event::Tick);
    assert!(!r.m.status().bridge_wanted);
    let mut r = Rig::running();
    r.on(Event::Demand(0));
    r.at(5 * S, Event::Tick);
    assert!(!r.m.status().bridge_wanted);
}

#[test]
fn the_bridge_covers_an_attempt_that_hangs_and_a_refused_websocket() {
    let mut r = Rig::running();
    let (waited, _) = r.tick_at_deadline();
    assert_eq!(waited, S);
    assert!(
        r.m.status().bridge_wanted,
        "the attempt under way has delivered nothing"
    );
    r.on(refused());
    assert!(r.m.status().bridge_wanted, "while backing off");
    r.until_attempt();
    r.on(Event::Connected);
    assert!(r.m.status().bridge_wanted, "until the new socket delivers");
}

#[test]
fn the_flap_guard_bounds_attempts_per_minute() {
    let mut r = Rig::live_with_data();
    let mut attempts = 1;
    let mut guarded = 0;
    let start = r.now;
    while r.now.duration_since(start) < 120 * S {
        let a = r.at(Duration::from_millis(100), dropped());
        let mut a = if connects(&a) {
            a
        } else {
            let (_, b) = r.until_attempt();
            [a, b].concat()
        };
        guarded += a
            .iter()
            .filter(|x| matches!(x, Action::Log(Note::FlapGuard { .. })))
            .count();
        assert!(connects(&a));
        attempts += 1;
        a.clear();
        r.on(Event::Connected);
        r.on(Event::Data);
    }
    assert!(
        attempts <= 12 * 3,
        "{attempts} attempts in about two minutes"
    );
    assert_eq!(guarded, 1, "the flap guard is logged once per episode");
}

#[test]
fn the_fallback_is_reported_once_after_max_reconnects_and_recovered_by_data() {
    let mut r = Rig::running();
    let mut reported = 0;
    for _ in 0..5 {
        let a = r.on(refused());
        reported += usize::from(emitted(&a, |e| {
            matches!(e, FeedEvent::FallbackWanted { .. })
        }));
        r.until_attempt();
    }
    assert_eq!(reported, 1);
    assert!(r.m.status().fallback_wanted);
    r.on(Event::Connected);
    assert!(
        r.m.status().fallback_wanted,
        "connected is not yet delivering"
    );
    let a = r.on(Event::Data);
    assert!(emitted(&a, |e| matches!(e, FeedEvent::Recovered { .. })));
    assert!(!r.m.status().fallback_wanted);
}

#[test]
fn the_scheduler_stops_and_restarts_the_feed() {
    let mut r = Rig::live_with_data();
    let a = r.on(Event::Run(RunPolicy {
        should_run: false,
        expects_data: false,
    }));
    assert_eq!(close(&a), Some(&Disconnect::Stopped));
    let a = r.on(Event::Ended(Disconnect::Stopped));
    assert!(!connects(&a));
    assert!(r.m.status().idle && r.m.deadline().is_none() && !r.m.is_stuck());
    let a = r.at(3600 * S, Event::Run(RunPolicy::ALWAYS));
    assert_eq!(
        preflight(&a),
        Some(true),
        "a new run checks the token first"
    );
}

#[test]
fn a_new_token_replaces_the_connection_at_once() {
    let mut r = Rig::live_with_data();
    let a = r.on(Event::Token(Some(2)));
    assert_eq!(close(&a), Some(&Disconnect::TokenChanged));
    let a = r.on(Event::Ended(Disconnect::TokenChanged));
    assert!(connects(&a));

    // Changed while the attempt was under way: the socket it opened uses the old token.
    let mut r = Rig::running();
    r.on(Event::Token(Some(2)));
    let a = r.on(Event::Connected);
    assert_eq!(close(&a), Some(&Disconnect::TokenChanged));
}

#[test]
fn stability_ends_the_failure_episode() {
    let mut r = Rig::live_with_data();
    let a = r.on(dropped());
    assert!(matches!(
        a.iter()
            .find(|x| matches!(x, Action::Log(Note::Lost { .. }))),
        Some(Action::Log(Note::Lost { first: true, .. }))
    ));
    r.on(Event::Connected);
    r.on(Event::Data);
    assert!(r.m.recovering());
    let mut stable = false;
    for _ in 0..40 {
        let a = r.at(S, Event::Frame);
        let a = [a, r.on(Event::Data), r.on(Event::Tick)].concat();
        stable |= a
            .iter()
            .any(|x| matches!(x, Action::Log(Note::Stable { .. })));
    }
    assert!(stable && !r.m.recovering());
    assert_eq!(FailureKind::Closed, dropped_kind());
}

/// A reconnect is visible once per episode, as soon as it is subscribed (not only when it has
/// also stayed up for `healthy_after`), and later reconnects of the same episode are quiet.
#[test]
fn the_first_reconnect_of_an_episode_is_announced_once() {
    let reconnected = |a: &[Action]| {
        a.iter()
            .filter(|x| matches!(x, Action::Log(Note::Reconnected { .. })))
            .count()
    };
    let mut r = Rig::live_with_data();
    // After a connection that delivered, the retry starts at once.
    assert!(connects(&r.on(dropped())));
    r.on(Event::Connected);
    let a = r.on(Event::Subscribed {
        instruments: 1,
        first: true,
    });
    assert_eq!(reconnected(&a), 1, "{a:?}");
    r.on(Event::Data);
    if !connects(&r.on(dropped())) {
        r.until_attempt();
    }
    r.on(Event::Connected);
    let a = r.on(Event::Subscribed {
        instruments: 1,
        first: true,
    });
    assert_eq!(reconnected(&a), 0, "same episode: {a:?}");
}

fn dropped_kind() -> FailureKind {
    match dropped() {
        Event::Ended(d) => d.failure_kind().expect("a failure"),
        _ => unreachable!(),
    }
}

/// One step of a random run: an event the connection could report in the machine's phase,
/// after some time.
#[derive(Debug, Clone)]
enum Step {
    Wait(u64),
    Run(bool, bool),
    /// 0: no token, 1: the same one published again, 2: a new one (epochs only grow).
    Token(u8),
    Demand(usize),
    /// The outcome of an attempt under way: 0 connected, 1 rejected, 2 failed.
    Outcome(u8),
    Frame,
    Data,
    Drop,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u64..70_000).prop_map(Step::Wait),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(a, b)| Step::Run(a, b)),
        1 => (0u8..3).prop_map(Step::Token),
        1 => (0usize..3).prop_map(Step::Demand),
        4 => (0u8..3).prop_map(Step::Outcome),
        2 => Just(Step::Frame),
        2 => Just(Step::Data),
        1 => Just(Step::Drop),
    ]
}

/// Plays the steps as the connection would: outcomes only while attempting, frames only on a
/// live socket, a close carried out at once.
fn play(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut r = Rig::new();
    let mut attempting = false;
    let mut rejected: Option<u64> = None;
    let mut epoch = 0;
    for s in steps {
        let mut actions = match s.clone() {
            Step::Wait(ms) => {
                let until = r.now + Duration::from_millis(ms);
                let mut all = Vec::new();
                while let Some(d) = r.m.deadline().filter(|d| *d <= until) {
                    r.now = r.now.max(d);
                    let a = r.on(Event::Tick);
                    let stop = connects(&a) || close(&a).is_some();
                    all.extend(a);
                    if stop {
                        break;
                    }
                }
                r.now = r.now.max(until);
                all
            }
            Step::Run(should_run, expects_data) => r.on(Event::Run(RunPolicy {
                should_run,
                expects_data,
            })),
            Step::Token(t) => {
                let current = match t {
                    0 => None,
                    1 => Some(epoch).filter(|e| *e > 0),
                    _ => {
                        epoch += 1;
                        Some(epoch)
                    }
                };
                r.on(Event::Token(current))
            }
            Step::Demand(n) => r.on(Event::Demand(n)),
            Step::Outcome(o) if attempting => {
                attempting = false;
                match o {
                    0 => r.on(Event::Connected),
                    1 => {
                        rejected = r.m.attempt_epoch;
                        r.on(Event::TokenRejected)
                    }
                    _ => r.on(refused()),
                }
            }
            Step::Frame if r.m.is_live() => r.on(Event::Frame),
            Step::Data if r.m.is_live() => r.on(Event::Data),
            Step::Drop if r.m.is_live() => r.on(dropped()),
            _ => Vec::new(),
        };
        // Closing is immediate: the connection reports the end it was asked for.
        while let Some(end) = close(&actions).cloned() {
            actions = r.on(Event::Ended(end));
        }
        if connects(&actions) {
            attempting = true;
            prop_assert!(
                rejected.is_none() || r.m.attempt_epoch != rejected,
                "a rejected token tried on the WebSocket again"
            );
        }
        prop_assert!(!r.m.is_stuck(), "stuck after {s:?}: {:?}", r.m.phase);
        if r.m.status().bridge_wanted {
            prop_assert!(r.m.token_usable() && r.m.run.expects_data && r.m.wanted > 0);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_event_sequence_leaves_the_connection_stuck(steps in proptest::collection::vec(step(), 1..80)) {
        play(&steps)?;
    }
}
