//! History backfill: today's 1-minute candles of every demanded instrument (the watchlist and
//! what clients subscribe to) fetched from the broker's historical API and merged into the
//! hub's candles, so a restart mid-session does not wipe the morning from the chart. Each
//! instrument once per IST day and whenever it is demanded again after nobody wanted it; within
//! the broker's historical rate limit (a gate of its own, apart from quotes); only with a token
//! auth finds usable; 429, 5xx and timeouts retried with backoff (a bounded number of times); a
//! rejected token is reported to auth and the backfill waits for the next one.
//!
//! Before 09:00 IST nothing of the day has traded (NSE's pre-open makes no candles; MCX and
//! currencies open at 09:00): the live feed will see the whole day, so nothing is fetched.

use crate::auth::{AuthHandle, AuthView, TokenUse, usable_token};
use crate::brokers::{BrokerApi, BrokerError};
use crate::model::candle::{History, ist_day};
use crate::model::clock::SharedClock;
use crate::model::demand::Demand;
use crate::model::instruments::{Instrument, Registry};
use crate::model::ist::IST_OFFSET_SECS;
use crate::model::repeats::Repeats;
use crate::model::secret::CurrentToken;
use crate::model::tick::Token;
use crate::rest::Stopped;
use crate::rest::rate_gate::RateGate;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Attempts per instrument and day before a failing fetch is given up (429s included): with
/// [`retry_delay`] about a minute of retries.
pub const MAX_ATTEMPTS: u32 = 6;

/// Seconds after IST midnight before which the day has no candles yet (09:00).
pub const DAY_OPENS_AT: i64 = 9 * 3600;

/// The wait after the `failures`-th failed attempt: 2, 4, 8, 16, 32 s.
pub fn retry_delay(failures: u32) -> Duration {
    Duration::from_secs(2) * 2u32.saturating_pow(failures.saturating_sub(1).min(4))
}

/// Where fetched history goes (the hub's candles).
pub trait HistorySink: Send + Sync + std::fmt::Debug {
    /// Merges `history` into today's candles; the minutes added, or `None` once the receiver
    /// has stopped.
    fn merge(&self, history: History) -> BoxFuture<'static, Option<usize>>;
}

#[derive(Debug)]
pub struct BackfillIo {
    pub broker: Arc<dyn BrokerApi>,
    /// The historical calls' own gate ([`BrokerApi::historical_interval`]).
    pub gate: Arc<RateGate>,
    pub demand: watch::Receiver<Arc<Demand>>,
    pub registry: watch::Receiver<Arc<Registry>>,
    pub token: watch::Receiver<Option<CurrentToken>>,
    pub auth: AuthHandle,
    pub sink: Arc<dyn HistorySink>,
    pub clock: SharedClock,
}

pub async fn run(io: BackfillIo, shutdown: CancellationToken) {
    let mut task = Backfill {
        auth: io.auth.view.clone(),
        io,
        done: HashMap::new(),
        failures: HashMap::new(),
        rejected: None,
        tally: Tally::default(),
        reported: false,
        errors: Repeats::default(),
        shutdown,
    };
    // `Err(Stopped)`: shutdown, or a channel the task needs was closed.
    let _ = task.run().await;
}

/// What a round of fetches achieved, for the one summary line.
#[derive(Debug, Default)]
struct Tally {
    instruments: usize,
    minutes: usize,
    given_up: usize,
}

struct Backfill {
    io: BackfillIo,
    auth: watch::Receiver<AuthView>,
    /// Instruments backfilled (or given up), with the IST day they were done for.
    done: HashMap<Token, i64>,
    /// Failed attempts per instrument, for the bounded retries.
    failures: HashMap<Token, u32>,
    /// A token a call was rejected with: not used again until the token changes.
    rejected: Option<u64>,
    tally: Tally,
    /// Whether the first round's summary was logged (later rounds log at debug).
    reported: bool,
    errors: Repeats,
    shutdown: CancellationToken,
}

impl Backfill {
    async fn run(&mut self) -> Result<(), Stopped> {
        loop {
            let now = self.now_secs();
            let day = ist_day(now);
            let todo = self.todo(day);
            if todo.is_empty() {
                self.report();
                self.wait_for_demand().await?;
                continue;
            }
            if (now + IST_OFFSET_SECS).rem_euclid(86_400) < DAY_OPENS_AT {
                // The live feed will see all of today.
                self.done.extend(todo.iter().map(|i| (i.token, day)));
                continue;
            }
            let token = self.wait_for_token().await?;
            for inst in todo {
                if self.fetch(&inst, &token, day).await?.is_break() {
                    break;
                }
            }
        }
    }

    fn now_secs(&self) -> i64 {
        self.io.clock.now_ms().div_euclid(1000)
    }

    /// Demanded instruments not yet done for `day`; forgets those nobody demands any more (a
    /// later subscription fetches them again: the hub may have dropped their minutes).
    fn todo(&mut self, day: i64) -> Vec<Arc<Instrument>> {
        let demand = self.io.demand.borrow().clone();
        self.done.retain(|t, _| demand.contains_key(t));
        let registry = self.io.registry.borrow().clone();
        demand
            .keys()
            .filter(|t| self.done.get(t) != Some(&day))
            .filter_map(|t| registry.by_token(*t).cloned())
            .collect()
    }

    async fn wait_for_demand(&mut self) -> Result<(), Stopped> {
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => Err(Stopped),
            r = self.io.demand.changed() => r.map_err(|_| Stopped),
        }
    }

    /// The token to fetch with; without a usable one, waits for a login.
    async fn wait_for_token(&mut self) -> Result<CurrentToken, Stopped> {
        loop {
            let token = usable_token(
                self.io.token.borrow().as_ref(),
                &self.auth.borrow(),
                self.rejected,
                TokenUse::Rest,
            );
            if let Some(t) = token {
                return Ok(t);
            }
            tracing::debug!("no usable token: the history backfill waits for one");
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return Err(Stopped),
                r = self.io.token.changed() => r.map_err(|_| Stopped)?,
                r = self.auth.changed() => r.map_err(|_| Stopped)?,
            }
        }
    }

    /// Fetches and merges one instrument's day; `Break` when the token was rejected.
    async fn fetch(
        &mut self,
        inst: &Arc<Instrument>,
        token: &CurrentToken,
        day: i64,
    ) -> Result<ControlFlow<()>, Stopped> {
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => return Err(Stopped),
            () = self.io.gate.acquire() => {}
        }
        let from = day * 86_400 - IST_OFFSET_SECS;
        let to = self.now_secs();
        let res = self
            .io
            .broker
            .historical_minutes(token.token.clone(), inst.clone(), from, to)
            .await;
        match res {
            Ok(candles) => {
                let history = History {
                    token: inst.token,
                    divisor: inst.divisor,
                    day,
                    candles,
                };
                let added = self.io.sink.merge(history).await.ok_or(Stopped)?;
                self.settled(inst.token, day);
                self.tally.instruments += 1;
                self.tally.minutes += added;
                if let Some(repeats) = self.errors.clear() {
                    tracing::info!(repeats, "history backfill recovered");
                }
                Ok(ControlFlow::Continue(()))
            }
            Err(e) if e.is_auth() => {
                self.io.auth.report_rejected(token.epoch).await;
                self.rejected = Some(token.epoch);
                if self.errors.occur("auth") {
                    tracing::info!(
                        "history backfill: the broker rejected the token; waiting for a login"
                    );
                }
                Ok(ControlFlow::Break(()))
            }
            Err(e) => self.failed(inst, &e, day).await,
        }
    }

    /// A failed call: retried after a backoff unless it used its attempts or can never work.
    async fn failed(
        &mut self,
        inst: &Instrument,
        e: &BrokerError,
        day: i64,
    ) -> Result<ControlFlow<()>, Stopped> {
        if let BrokerError::RateLimited { retry_after } = e {
            self.io.gate.rate_limited(*retry_after);
        }
        let kind = match e {
            BrokerError::RateLimited { .. } => "rate limited",
            BrokerError::Unavailable(_) => "unavailable",
            _ => "refused",
        };
        if self.errors.occur(kind) {
            tracing::warn!(symbol = %inst.symbol, error = %e, "history backfill failed (said once; retried with backoff)");
        }
        let n = self.failures.entry(inst.token).or_default();
        *n += 1;
        let n = *n;
        if !e.is_retryable() || n >= MAX_ATTEMPTS {
            self.settled(inst.token, day);
            self.tally.given_up += 1;
            return Ok(ControlFlow::Continue(()));
        }
        if !matches!(e, BrokerError::RateLimited { .. }) {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return Err(Stopped),
                () = tokio::time::sleep(retry_delay(n)) => {}
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn settled(&mut self, token: Token, day: i64) {
        self.failures.remove(&token);
        self.done.insert(token, day);
    }

    /// One line per round: the first after start at info, later ones (instruments subscribed
    /// later) at debug.
    fn report(&mut self) {
        let t = std::mem::take(&mut self.tally);
        if t.instruments == 0 && t.given_up == 0 {
            return;
        }
        if self.reported {
            tracing::debug!(
                instruments = t.instruments,
                minutes = t.minutes,
                given_up = t.given_up,
                "history backfilled"
            );
        } else {
            tracing::info!(
                instruments = t.instruments,
                minutes = t.minutes,
                given_up = t.given_up,
                "history backfilled"
            );
            self.reported = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthState;
    use crate::model::clock::TokioClock;
    use crate::model::tick::Mode;
    use crate::rest::fallback::testing::{self, FakeBroker};
    use std::sync::Mutex;
    use tokio::time::Instant;
    use tokio_util::task::TaskTracker;

    /// Collects what would be merged; answers the number of candles as the minutes added.
    #[derive(Debug, Default)]
    struct Collect(Mutex<Vec<History>>);

    impl HistorySink for Collect {
        fn merge(&self, history: History) -> BoxFuture<'static, Option<usize>> {
            let n = history.candles.len();
            self.0.lock().unwrap().push(history);
            Box::pin(async move { Some(n) })
        }
    }

    struct Rig {
        broker: Arc<FakeBroker>,
        sink: Arc<Collect>,
        demand: watch::Sender<Arc<Demand>>,
        auth: testing::Auth,
        shutdown: CancellationToken,
        _registry: watch::Sender<Arc<Registry>>,
    }

    fn demand(tokens: &[Token]) -> Arc<Demand> {
        Arc::new(tokens.iter().map(|t| (*t, Mode::Quote)).collect())
    }

    impl Rig {
        async fn start(tokens: &[Token], clock: SharedClock) -> Self {
            let broker = Arc::new(FakeBroker::new(Duration::ZERO, Duration::ZERO));
            Self::start_with(broker, tokens, clock).await
        }

        async fn start_with(broker: Arc<FakeBroker>, tokens: &[Token], clock: SharedClock) -> Self {
            let shutdown = CancellationToken::new();
            let tracker = TaskTracker::new();
            let auth = testing::Auth::start(broker.clone(), "good", &shutdown, &tracker);
            auth.until(AuthState::Valid).await;
            let (registry_tx, registry) = watch::channel(testing::registry(1..=5));
            let (demand_tx, demand_rx) = watch::channel(demand(tokens));
            let sink = Arc::new(Collect::default());
            tokio::spawn(run(
                BackfillIo {
                    broker: broker.clone(),
                    gate: Arc::new(RateGate::new(Duration::from_millis(350))),
                    demand: demand_rx,
                    registry,
                    token: auth.token.clone(),
                    auth: auth.handle.clone(),
                    sink: sink.clone(),
                    clock,
                },
                shutdown.clone(),
            ));
            Self {
                broker,
                sink,
                demand: demand_tx,
                auth,
                shutdown,
                _registry: registry_tx,
            }
        }

        fn merged(&self) -> Vec<Token> {
            self.sink
                .0
                .lock()
                .unwrap()
                .iter()
                .map(|h| h.token)
                .collect()
        }
    }

    impl Drop for Rig {
        fn drop(&mut self) {
            self.shutdown.cancel();
        }
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn each_demanded_instrument_once_within_the_rate_and_later_ones_when_demanded() {
        let rig = Rig::start(&[1, 2, 3], testing::clock()).await;
        settle().await;
        assert_eq!(rig.merged(), [1, 2, 3]);
        let calls = rig.broker.history_calls();
        for pair in calls.windows(2) {
            let gap = pair[1].3 - pair[0].3;
            assert!(gap >= Duration::from_millis(350), "{gap:?} between calls");
        }
        // The whole IST day up to now: from 2026-11-23 00:00 IST to the clock's now.
        let (from, to) = (calls[0].1, calls[0].2);
        assert_eq!(from, 1_795_372_200);
        assert!((1_795_450_800..1_795_450_810).contains(&to), "{to}");
        let h = rig.sink.0.lock().unwrap()[0].clone();
        assert_eq!((h.day, h.divisor), (ist_day(from), 100));
        // A new subscription is fetched; the others are not fetched again.
        rig.demand.send(demand(&[1, 2, 3, 4])).unwrap();
        settle().await;
        assert_eq!(rig.merged(), [1, 2, 3, 4]);
        // Dropped and demanded again: fetched again (the hub may have forgotten its minutes).
        rig.demand.send(demand(&[1, 2, 3])).unwrap();
        settle().await;
        rig.demand.send(demand(&[1, 2, 3, 4])).unwrap();
        settle().await;
        assert_eq!(rig.merged(), [1, 2, 3, 4, 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_retried_with_backoff_and_given_up_after_the_attempts() {
        let broker = Arc::new(FakeBroker::new(Duration::ZERO, Duration::ZERO));
        broker.fail_next([
            BrokerError::RateLimited {
                retry_after: Some(Duration::from_secs(3)),
            },
            BrokerError::Unavailable("502".into()),
        ]);
        let started = Instant::now();
        let rig = Rig::start_with(broker, &[1], testing::clock()).await;
        settle().await;
        settle().await;
        assert_eq!(rig.merged(), [1], "retried until it worked");
        let calls = rig.broker.history_calls();
        assert_eq!(calls.len(), 3);
        assert!(
            calls[1].3 - calls[0].3 >= Duration::from_secs(3),
            "Retry-After honoured"
        );
        assert!(
            calls[2].3 - calls[1].3 >= Duration::from_secs(2),
            "backoff after a 5xx"
        );
        assert!(calls[0].3 >= started);
        // A request that can never work is given up after one attempt.
        rig.broker
            .fail_next([BrokerError::Invalid("bad token".into())]);
        rig.demand.send(demand(&[1, 2])).unwrap();
        settle().await;
        assert_eq!(rig.merged(), [1]);
        assert_eq!(rig.broker.history_calls().len(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rejected_token_waits_for_a_login() {
        let broker = Arc::new(FakeBroker::new(Duration::ZERO, Duration::ZERO));
        let rig = Rig::start_with(broker, &[], testing::clock()).await;
        rig.broker.reject("good");
        rig.demand.send(demand(&[1])).unwrap();
        rig.auth.until(AuthState::Expired).await;
        settle().await;
        assert!(rig.merged().is_empty());
        let calls = rig.broker.history_calls().len();
        assert_eq!(calls, 1, "no retry with a rejected token");
        rig.auth.login("fresh").await;
        settle().await;
        assert_eq!(rig.merged(), [1]);
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_fetched_before_the_day_has_traded() {
        // 2026-11-23 08:30 IST.
        let clock: SharedClock = Arc::new(TokioClock::starting_at(
            chrono::DateTime::from_timestamp(1_795_404_600 - 45 * 60, 0).unwrap(),
        ));
        let rig = Rig::start(&[1, 2], clock).await;
        settle().await;
        assert!(rig.broker.history_calls().is_empty());
        assert!(rig.merged().is_empty());
    }
}
