//! The REST bridge and fallback: whenever a connection says its WebSocket is not delivering
//! while data is expected (`bridge_wanted`: reconnecting, refused, stalled, backing off, stale,
//! from about a second into the gap) or has failed `FEED_MAX_RECONNECTS` times in a row
//! (`fallback_wanted`), poll quotes for everything clients want and feed them to the hub as
//! ticks with `src: "rest"`. The WebSocket keeps retrying meanwhile; the moment it delivers data
//! again, polling stops (a batch that was in flight then is dropped: the WebSocket's ticks are
//! newer). A token the broker rejects on a quote call is reported to auth and not polled with
//! again until it changes; nothing is polled while a login is needed.
//!
//! Polling respects the broker's quote limits (Kite: ≤ 500 instruments per call, 1 call per
//! second). While bridging a short gap it polls as often as they allow (a cycle of B batches
//! every B × 1 s); once the fallback is reported (a long outage) it keeps to
//! `max(REST_POLL_INTERVAL, B × 1 s)`.

use crate::auth::{AuthHandle, AuthView, TokenUse, usable_token};
use crate::brokers::{BrokerApi, BrokerError};
use crate::model::clock::SharedClock;
use crate::model::demand::Demand;
use crate::model::demand::RunPolicy;
use crate::model::gauges::Gauges;
use crate::model::instruments::Registry;
use crate::model::repeats::Repeats;
use crate::model::secret::CurrentToken;
use crate::model::tick::Tick;
use crate::rest::Stopped;
use crate::rest::quote_call::{Answer, QuoteCall};
use crate::upstream::{ShardStatus, fallback_reported, rest_wanted};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
pub struct FallbackIo {
    pub broker: Arc<dyn BrokerApi>,
    /// Shared spacing of quote calls (the broker's rate limit).
    pub gate: Arc<crate::rest::rate_gate::RateGate>,
    pub shards: watch::Receiver<Vec<ShardStatus>>,
    pub demand: watch::Receiver<Arc<Demand>>,
    pub registry: watch::Receiver<Arc<Registry>>,
    pub token: watch::Receiver<Option<CurrentToken>>,
    pub run: watch::Receiver<RunPolicy>,
    pub ticks: mpsc::Sender<Vec<Tick>>,
    pub active: watch::Sender<bool>,
    pub auth: AuthHandle,
    pub clock: SharedClock,
    pub gauges: Arc<Gauges>,
    pub poll_interval: Duration,
}

/// Should polling run, given the shards and the schedule? (pure)
pub fn wanted(shards: &[ShardStatus], run: RunPolicy) -> bool {
    run.should_run && rest_wanted(shards) && !shards.iter().any(|s| s.auth_rejected)
}

/// The instruments of `demand` in request batches of at most `batch` (pure).
pub fn batches(
    demand: &Demand,
    registry: &Registry,
    batch: usize,
) -> Vec<Vec<Arc<crate::model::instruments::Instrument>>> {
    let insts: Vec<_> = demand
        .keys()
        .filter_map(|t| registry.by_token(*t).cloned())
        .collect();
    insts.chunks(batch.max(1)).map(<[_]>::to_vec).collect()
}

/// Real time spent polling, for `feedgate_fallback_seconds_total` (a counter of whole seconds;
/// fractions carry over).
#[derive(Debug)]
struct PollingTime {
    since: Instant,
    carry: Duration,
}

impl PollingTime {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            carry: Duration::ZERO,
        }
    }

    /// Counts the time since the last mark if polling was active during it.
    fn mark(&mut self, active: bool) {
        let now = Instant::now();
        if active {
            self.carry += now - self.since;
            let whole = self.carry.as_secs();
            if whole > 0 {
                self.carry -= Duration::from_secs(whole);
                metrics::counter!("feedgate_fallback_seconds_total").increment(whole);
            }
        }
        self.since = now;
    }
}

fn still_wanted(io: &FallbackIo) -> bool {
    wanted(&io.shards.borrow(), *io.run.borrow())
}

pub async fn run(io: FallbackIo, shutdown: CancellationToken) {
    let mut poller = Poller {
        auth: io.auth.view.clone(),
        io,
        active: false,
        errors: Repeats::default(),
        rejected: None,
        polling_time: PollingTime::new(),
        news: News::default(),
        shutdown,
    };
    // `Err(Stopped)`: shutdown, or a channel the task needs closed.
    let _ = poller.run().await;
    poller.polling_time.mark(poller.active);
    poller.io.active.send_replace(false);
}

/// The task's state across cycles.
struct Poller {
    io: FallbackIo,
    /// Auth's view, followed for its changes (nothing is polled while a login is needed).
    auth: watch::Receiver<AuthView>,
    /// Polling (and shown as such).
    active: bool,
    errors: Repeats,
    /// A token the broker rejected on a quote call is not polled with again until the token
    /// changes: one rejected call, not one per cycle until the WebSocket's pre-flight notices.
    rejected: Option<u64>,
    polling_time: PollingTime,
    /// Whether a start or stop is news for the log.
    news: News,
    shutdown: CancellationToken,
}

/// Bridges come and go with every reconnect: a start (and its stop) is news when no start in
/// the ten minutes before was; the rest are routine.
#[derive(Debug, Default)]
struct News {
    last: Option<Instant>,
    /// The polling under way (or that just ended) began as news.
    current: bool,
}

impl News {
    const QUIET: Duration = Duration::from_secs(600);

    fn start(&mut self, now: Instant) {
        self.current = self
            .last
            .is_none_or(|t| now.duration_since(t) >= Self::QUIET);
        if self.current {
            self.last = Some(now);
        }
    }
}

impl Poller {
    /// Decide whether to poll; if so, poll one cycle and wait for the next, otherwise wait for
    /// something that could change the decision.
    async fn run(&mut self) -> Result<(), Stopped> {
        loop {
            self.polling_time.mark(self.active);
            let want = still_wanted(&self.io);
            let token = usable_token(
                self.io.token.borrow().as_ref(),
                &self.auth.borrow(),
                self.rejected,
                TokenUse::Rest,
            );
            self.set_active(want && token.is_some(), want);
            let Some(token) = token.filter(|_| self.active) else {
                self.wait_for_change().await?;
                continue;
            };
            let cycle_start = Instant::now();
            self.poll_cycle(&token).await?;
            if self.rejected == Some(token.epoch) || !still_wanted(&self.io) {
                continue; // pause or stop now
            }
            let interval = self.cycle_interval();
            self.wait_for_next_cycle(cycle_start + interval).await?;
        }
    }

    /// The time from one cycle's start to the next: as often as the broker allows while
    /// bridging a gap, `REST_POLL_INTERVAL` once the fallback is reported.
    fn cycle_interval(&self) -> Duration {
        if fallback_reported(&self.io.shards.borrow()) {
            self.io.poll_interval
        } else {
            self.io.broker.quote_interval()
        }
    }

    /// Starts, pauses or stops polling, with one log line per change (a bridge over a short
    /// gap is routine: logged at debug once one was logged in the last ten minutes).
    fn set_active(&mut self, poll: bool, want: bool) {
        if poll == self.active {
            return;
        }
        self.active = poll;
        self.io.active.send_replace(poll);
        if poll {
            self.news.start(Instant::now());
        }
        let news = self.news.current;
        if poll {
            metrics::counter!("feedgate_fallback_started_total").increment(1);
            if news {
                tracing::warn!(
                    interval_s = self.cycle_interval().as_secs_f64(),
                    "REST fallback started: polling quotes while the WebSocket is unavailable (until it delivers again; further bridges within 10 minutes are logged at debug)"
                );
            } else {
                tracing::debug!("REST fallback started again");
            }
        } else if want {
            tracing::warn!(
                "REST fallback paused: the access token was rejected; it resumes after a login"
            );
            self.errors.clear();
        } else {
            if news {
                tracing::info!("REST fallback stopped: the WebSocket is delivering data again");
            } else {
                tracing::debug!("REST fallback stopped");
            }
            self.errors.clear();
        }
    }

    /// While not polling: waits for the shards, the schedule, the token or auth to change.
    async fn wait_for_change(&mut self) -> Result<(), Stopped> {
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => Err(Stopped),
            r = self.io.shards.changed() => r.map_err(|_| Stopped),
            r = self.io.run.changed() => r.map_err(|_| Stopped),
            r = self.io.token.changed() => r.map_err(|_| Stopped),
            r = self.auth.changed() => r.map_err(|_| Stopped),
        }
    }

    /// One polling cycle: every batch of the demand, each within the rate gate. Ends early when
    /// polling is no longer wanted, the token is rejected or the broker asks to slow down.
    async fn poll_cycle(&mut self, token: &CurrentToken) -> Result<(), Stopped> {
        let demand = self.io.demand.borrow().clone();
        let registry = self.io.registry.borrow().clone();
        for batch in batches(&demand, &registry, self.io.broker.quote_batch()) {
            let call = QuoteCall {
                broker: &self.io.broker,
                gate: &self.io.gate,
                auth: &self.io.auth,
                shutdown: &self.shutdown,
            };
            let now_ms = self.io.clock.now_ms();
            let answer = call
                .request(token, batch, || now_ms, || still_wanted(&self.io))
                .await?;
            // The WebSocket may have come back (or the schedule stopped the feed) during the
            // call: its ticks are newer than this batch, which must not follow them.
            if !still_wanted(&self.io) {
                break;
            }
            if self.on_answer(answer, token, now_ms).await?.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Acts on one batch's answer; `Break` ends the cycle.
    async fn on_answer(
        &mut self,
        answer: Answer,
        token: &CurrentToken,
        now_ms: i64,
    ) -> Result<ControlFlow<()>, Stopped> {
        match answer {
            Answer::NotSent => Ok(ControlFlow::Break(())),
            Answer::Quotes(ticks) => {
                if let Some(n) = self.errors.clear() {
                    tracing::info!(suppressed = n, "REST quotes working again");
                }
                if !ticks.is_empty() {
                    self.io.gauges.last_data_ms.store(now_ms, Ordering::Relaxed);
                    metrics::counter!("feedgate_fallback_ticks_total")
                        .increment(ticks.len() as u64);
                    self.io.ticks.send(ticks).await.map_err(|_| Stopped)?;
                }
                Ok(ControlFlow::Continue(()))
            }
            Answer::Rejected => {
                self.rejected = Some(token.epoch);
                Ok(ControlFlow::Break(()))
            }
            Answer::Failed(e) => {
                if self.errors.occur(&e.to_string()) {
                    tracing::warn!(error = %e, "REST quote poll failed; retrying next cycle");
                }
                // Respect the broker: a 429 skips the rest of this cycle.
                Ok(if matches!(e, BrokerError::RateLimited { .. }) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            }
        }
    }

    /// Waits for the next cycle; leaves early only when polling is no longer wanted (the
    /// WebSocket came back, or the schedule stopped the feed) — not on every retry's status
    /// change, which would poll faster than `REST_POLL_INTERVAL`.
    async fn wait_for_next_cycle(&mut self, until: Instant) -> Result<(), Stopped> {
        loop {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return Err(Stopped),
                () = tokio::time::sleep_until(until) => return Ok(()),
                r = self.io.shards.changed() => {
                    r.map_err(|_| Stopped)?;
                    if !still_wanted(&self.io) {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// A scripted broker and a real auth task around it, for the tests of the REST fallback and of
/// the closed-hours quotes.
#[cfg(test)]
pub(crate) mod testing {
    use crate::auth::{AuthConfig, AuthHandle, AuthIo, AuthState};
    use crate::brokers::{BrokerApi, BrokerError, SessionGrant, UserProfile};
    use crate::model::candle::Candle;
    use crate::model::clock::{SharedClock, TokioClock};
    use crate::model::instruments::{Instrument, InstrumentSpec, Registry};
    use crate::model::secret::CurrentToken;
    use crate::model::tick::{Source, Tick, Token};
    use crate::store::token_file::TokenStore;
    use futures_util::future::BoxFuture;
    use secrecy::{ExposeSecret, SecretString};
    use std::collections::{HashSet, VecDeque};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tokio::sync::{mpsc, watch};
    use tokio::time::Instant;
    use tokio_util::sync::CancellationToken;
    use tokio_util::task::TaskTracker;

    /// One quote call the broker answered.
    #[derive(Debug, Clone)]
    pub struct Call {
        pub token: String,
        pub instruments: Vec<Token>,
        pub at: Instant,
    }

    #[derive(Debug, Default)]
    pub struct FakeBroker {
        /// Tokens the broker rejects (profile and quotes).
        rejected: Mutex<HashSet<String>>,
        /// The next quote calls fail with these, in order.
        failures: Mutex<VecDeque<BrokerError>>,
        calls: Mutex<Vec<Call>>,
        /// Historical calls answered (instrument and range).
        history_calls: Mutex<Vec<(Token, i64, i64, Instant)>>,
        /// How long a quote call takes.
        quote_delay: Duration,
        /// How long a profile call takes.
        profile_delay: Duration,
    }

    impl FakeBroker {
        pub fn new(quote_delay: Duration, profile_delay: Duration) -> Self {
            Self {
                quote_delay,
                profile_delay,
                ..Self::default()
            }
        }

        pub fn reject(&self, token: &str) {
            self.rejected.lock().unwrap().insert(token.into());
        }

        pub fn fail_next(&self, errors: impl IntoIterator<Item = BrokerError>) {
            self.failures.lock().unwrap().extend(errors);
        }

        pub fn calls(&self) -> Vec<Call> {
            self.calls.lock().unwrap().clone()
        }

        pub fn history_calls(&self) -> Vec<(Token, i64, i64, Instant)> {
            self.history_calls.lock().unwrap().clone()
        }

        fn rejects(&self, token: &SecretString) -> bool {
            self.rejected
                .lock()
                .unwrap()
                .contains(token.expose_secret())
        }
    }

    impl BrokerApi for FakeBroker {
        fn name(&self) -> &'static str {
            "kite"
        }

        fn profile(
            &self,
            token: SecretString,
        ) -> BoxFuture<'static, Result<UserProfile, BrokerError>> {
            let res = if self.rejects(&token) {
                Err(BrokerError::Auth("TokenException".into()))
            } else {
                Ok(UserProfile {
                    user_id: "AB1234".into(),
                    user_name: "Test".into(),
                })
            };
            let delay = self.profile_delay;
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                res
            })
        }

        fn quotes(
            &self,
            token: SecretString,
            instruments: Vec<Arc<Instrument>>,
            received_ms: i64,
        ) -> BoxFuture<'static, Result<Vec<Tick>, BrokerError>> {
            self.calls.lock().unwrap().push(Call {
                token: token.expose_secret().into(),
                instruments: instruments.iter().map(|i| i.token).collect(),
                at: Instant::now(),
            });
            let failure = self.failures.lock().unwrap().pop_front();
            let res = match failure {
                _ if self.rejects(&token) => Err(BrokerError::Auth("TokenException".into())),
                Some(e) => Err(e),
                None => Ok(instruments
                    .iter()
                    .map(|i| Tick {
                        token: i.token,
                        divisor: i.divisor,
                        ltp: 81_240,
                        quote: None,
                        full: None,
                        received_ms,
                        src: Source::Rest,
                    })
                    .collect()),
            };
            let delay = self.quote_delay;
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                res
            })
        }

        fn instruments(&self) -> BoxFuture<'static, Result<Vec<InstrumentSpec>, BrokerError>> {
            Box::pin(async { Ok(Vec::new()) })
        }

        /// One candle per minute from 09:15 IST of `from`'s day up to `to` (the scripted
        /// failures and rejections as for quotes).
        fn historical_minutes(
            &self,
            token: SecretString,
            instrument: Arc<Instrument>,
            from: i64,
            to: i64,
        ) -> BoxFuture<'static, Result<Vec<Candle>, BrokerError>> {
            self.history_calls
                .lock()
                .unwrap()
                .push((instrument.token, from, to, Instant::now()));
            let failure = self.failures.lock().unwrap().pop_front();
            let res = match failure {
                _ if self.rejects(&token) => Err(BrokerError::Auth("TokenException".into())),
                Some(e) => Err(e),
                None => {
                    let open = from + 9 * 3600 + 15 * 60;
                    Ok((open..=to)
                        .step_by(60)
                        .map(|t| Candle {
                            t,
                            open: 100,
                            high: 101,
                            low: 99,
                            close: 100,
                            volume: 10,
                        })
                        .collect())
                }
            };
            Box::pin(async move { res })
        }

        fn login_url(&self, state: &str) -> String {
            format!("http://broker.invalid/login?state={state}")
        }

        fn exchange(&self, _: String) -> BoxFuture<'static, Result<SessionGrant, BrokerError>> {
            Box::pin(async { Err(BrokerError::Invalid("no login in these tests".into())) })
        }

        fn quote_batch(&self) -> usize {
            500
        }

        fn quote_interval(&self) -> Duration {
            Duration::from_millis(1100)
        }
    }

    /// A registry of NSE equities with these tokens.
    pub fn registry(tokens: impl IntoIterator<Item = Token>) -> Arc<Registry> {
        Arc::new(Registry::new(
            tokens
                .into_iter()
                .map(|t| InstrumentSpec::nse_equity(t, format!("S{t}"), "")),
        ))
    }

    /// 2026-11-23 21:00 IST.
    pub fn clock() -> SharedClock {
        Arc::new(TokioClock::starting_at(
            chrono::DateTime::from_timestamp(1_795_450_800, 0).unwrap(),
        ))
    }

    /// The real auth task, started with `token` (validated by `broker`'s profile).
    #[derive(Debug)]
    pub struct Auth {
        pub handle: AuthHandle,
        pub token: watch::Receiver<Option<CurrentToken>>,
        _view: watch::Receiver<AuthState>,
        _pre_market: mpsc::Sender<()>,
        _dir: tempfile::TempDir,
    }

    impl Auth {
        pub fn start(
            broker: Arc<FakeBroker>,
            token: &str,
            shutdown: &CancellationToken,
            tracker: &TaskTracker,
        ) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let (token_tx, token_rx) = watch::channel(None);
            let (view_tx, view_rx) = watch::channel(AuthState::Refreshing);
            let (pre_tx, pre_rx) = mpsc::channel(1);
            let handle = crate::auth::task::spawn(
                AuthConfig {
                    env_token: Some(SecretString::from(token)),
                    store: TokenStore::new(dir.path(), "kite"),
                    login_url: "http://127.0.0.1:8080/api/login".into(),
                    file_poll: Duration::from_secs(2),
                },
                AuthIo {
                    broker,
                    clock: clock(),
                    token: token_tx,
                    state: view_tx,
                    feed_events: None,
                    pre_market: pre_rx,
                    shared: None,
                },
                shutdown.clone(),
                tracker,
            );
            Self {
                handle,
                token: token_rx,
                _view: view_rx,
                _pre_market: pre_tx,
                _dir: dir,
            }
        }

        /// Waits (at most a minute) until auth is in `state`.
        pub async fn until(&self, state: AuthState) {
            let mut rx = self.handle.view.clone();
            tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|s| s.state == state))
                .await
                .unwrap_or_else(|_| panic!("auth never became {state:?}"))
                .unwrap();
        }

        /// A login with a new token.
        pub async fn login(&self, token: &str) {
            self.handle
                .store_grant(SessionGrant {
                    token: SecretString::from(token),
                    user_id: "AB1234".into(),
                    user_name: "Test".into(),
                })
                .await
                .unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthState;
    use crate::model::instruments::InstrumentSpec;
    use crate::model::tick::Mode;

    fn shard(fallback: bool, auth: bool) -> ShardStatus {
        ShardStatus {
            fallback_wanted: fallback,
            auth_rejected: auth,
            ..ShardStatus::default()
        }
    }

    #[test]
    fn wanted_only_when_a_shard_asks_and_auth_is_fine() {
        let on = RunPolicy::ALWAYS;
        let off = RunPolicy {
            should_run: false,
            expects_data: false,
        };
        assert!(wanted(&[shard(true, false)], on));
        assert!(wanted(&[shard(false, false), shard(true, false)], on));
        assert!(!wanted(&[shard(false, false)], on));
        assert!(
            !wanted(&[shard(true, true)], on),
            "a rejected token needs a login, not polling"
        );
        assert!(!wanted(&[shard(true, false)], off), "market closed");
    }

    #[test]
    fn batches_respect_the_broker_limit() {
        let specs = (1..=1201).map(|t| InstrumentSpec::nse_equity(t, format!("S{t}"), ""));
        let reg = Registry::new(specs);
        let demand: Demand = (1..=1201)
            .chain([99_999])
            .map(|t| (t, Mode::Quote))
            .collect();
        let b = batches(&demand, &reg, 500);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [500, 500, 201]);
    }

    /// A fallback running against a [`testing::FakeBroker`] for instrument 1, with one shard
    /// asking for it, polling every 2 s.
    struct Rig {
        broker: Arc<testing::FakeBroker>,
        auth: testing::Auth,
        shards: watch::Sender<Vec<ShardStatus>>,
        ticks: mpsc::Receiver<Vec<Tick>>,
        active: watch::Receiver<bool>,
        shutdown: CancellationToken,
        _keep: (
            watch::Sender<Arc<Demand>>,
            watch::Sender<Arc<Registry>>,
            watch::Sender<RunPolicy>,
        ),
    }

    impl Rig {
        fn start(broker: testing::FakeBroker) -> Self {
            let broker = Arc::new(broker);
            let shutdown = CancellationToken::new();
            let tracker = tokio_util::task::TaskTracker::new();
            let auth = testing::Auth::start(broker.clone(), "old", &shutdown, &tracker);
            let (shards_tx, shards) = watch::channel(vec![shard(true, false)]);
            let (demand_tx, demand) = watch::channel(Arc::new(Demand::from([(1, Mode::Quote)])));
            let (registry_tx, registry) = watch::channel(testing::registry([1]));
            let (run_tx, run) = watch::channel(RunPolicy::ALWAYS);
            let (ticks_tx, ticks) = mpsc::channel(64);
            let (active_tx, active) = watch::channel(false);
            tracker.spawn(super::run(
                FallbackIo {
                    broker: broker.clone(),
                    gate: Arc::new(crate::rest::rate_gate::RateGate::new(
                        broker.quote_interval(),
                    )),
                    shards,
                    demand,
                    registry,
                    token: auth.token.clone(),
                    run,
                    ticks: ticks_tx,
                    active: active_tx,
                    auth: auth.handle.clone(),
                    clock: testing::clock(),
                    gauges: Arc::new(Gauges::default()),
                    poll_interval: Duration::from_secs(2),
                },
                shutdown.clone(),
            ));
            Self {
                broker,
                auth,
                shards: shards_tx,
                ticks,
                active,
                shutdown,
                _keep: (demand_tx, registry_tx, run_tx),
            }
        }

        async fn next_batch(&mut self, within: Duration) -> Option<Vec<Tick>> {
            tokio::time::timeout(within, self.ticks.recv())
                .await
                .ok()
                .flatten()
        }

        async fn until_active(&mut self, want: bool) {
            let wait = self.active.wait_for(|a| *a == want);
            tokio::time::timeout(Duration::from_secs(60), wait)
                .await
                .unwrap_or_else(|_| panic!("the fallback never became active: {want}"))
                .unwrap();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_fetched_while_the_websocket_came_back_is_dropped() {
        let mut r = Rig::start(testing::FakeBroker::new(
            Duration::from_secs(3),
            Duration::ZERO,
        ));
        let first = r.next_batch(Duration::from_secs(10)).await.expect("polled");
        assert_eq!(first[0].src, crate::model::tick::Source::Rest);
        // The next call is under way when the WebSocket delivers data again.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(r.broker.calls().len(), 2);
        r.shards.send_replace(vec![shard(false, false)]);
        r.until_active(false).await;
        let late = r.next_batch(Duration::from_secs(60)).await;
        assert!(
            late.is_none(),
            "a batch older than the WebSocket's ticks was sent"
        );
        assert_eq!(r.broker.calls().len(), 2, "and nothing polled after");
        r.shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn a_rejected_token_is_not_polled_again_until_a_login() {
        let mut r = Rig::start(testing::FakeBroker::default());
        r.next_batch(Duration::from_secs(10)).await.expect("polled");
        // The token stops working (the WebSocket, retrying at its backoff cap, has not
        // noticed yet: its shard still asks for the fallback).
        r.broker.reject("old");
        r.auth.until(AuthState::Expired).await;
        r.until_active(false).await;
        tokio::time::sleep(Duration::from_secs(300)).await;
        let calls = r.broker.calls();
        assert!(calls.iter().all(|c| c.token == "old"));
        assert_eq!(
            calls.len(),
            2,
            "one good call, then one rejected, then nothing for 5 minutes"
        );
        assert!(
            !*r.active.borrow(),
            "not polling: not shown as REST polling"
        );

        // A login brings a new token: polling resumes with it.
        r.auth.login("new").await;
        r.next_batch(Duration::from_secs(10)).await.expect("polled");
        let calls = r.broker.calls();
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[2].token, "new");
        r.shutdown.cancel();
    }

    /// `feedgate_fallback_seconds_total` counts the time polling really lasted: here REST
    /// answers in 5 s, so cycles are 5 s long, not `REST_POLL_INTERVAL` (2 s).
    #[test]
    fn fallback_seconds_are_the_real_polling_time() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let metrics = recorder.handle();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        metrics::with_local_recorder(&recorder, || {
            rt.block_on(async {
                let start = Instant::now();
                let mut r = Rig::start(testing::FakeBroker::new(
                    Duration::from_secs(5),
                    Duration::ZERO,
                ));
                r.until_active(true).await;
                tokio::time::sleep_until(start + Duration::from_secs(62)).await;
                r.shards.send_replace(vec![shard(false, false)]);
                r.until_active(false).await;
                // The call in flight at 62 s ended at 65 s.
                assert_eq!(start.elapsed(), Duration::from_secs(65));
                tokio::time::sleep(Duration::from_secs(60)).await;
                r.shutdown.cancel();
            });
        });
        let text = metrics.render();
        let seconds = text
            .lines()
            .find_map(|l| l.strip_prefix("feedgate_fallback_seconds_total "))
            .unwrap_or_else(|| panic!("{text}"));
        assert_eq!(seconds, "65", "{text}");
    }
}
