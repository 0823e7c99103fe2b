//! Closed-hours quotes: when a client subscribes to an instrument feedgate has no value for
//! while the feed is not streaming (market closed, holiday), fetch one REST quote for it —
//! batched across clients and instruments, within the broker's rate limit, only with a token
//! auth has found valid (a request made without one waits for a login) — and hand it to the
//! hub, which caches it and delivers it marked as not live.
//!
//! The hub asks once per not-live period, so a failure must not lose the request: a 429, 5xx or
//! timeout is retried with backoff (a bounded number of times), and a rejected token is reported
//! to auth and the request waits for the next valid token.

use crate::auth::{AuthHandle, AuthView, TokenUse, usable_token};
use crate::brokers::BrokerApi;
use crate::model::clock::SharedClock;
use crate::model::instruments::{Instrument, Registry};
use crate::model::live::FeedLive;
use crate::model::secret::CurrentToken;
use crate::model::tick::{Tick, Token};
use crate::rest::Stopped;
use crate::rest::quote_call::{Answer, QuoteCall};
use crate::rest::rate_gate::RateGate;
use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Requests arriving within this window share one REST call.
const COLLECT: Duration = Duration::from_millis(200);

/// Attempts per instrument before a failing closed-hours quote is given up (until the next not-live
/// period): with [`retry_delay`] about a minute of retries.
pub const MAX_ATTEMPTS: u32 = 6;

/// The wait after the `failures`-th failed attempt: 2, 4, 8, 16, 32 s.
pub fn retry_delay(failures: u32) -> Duration {
    Duration::from_secs(2) * 2u32.saturating_pow(failures.saturating_sub(1).min(4))
}

#[derive(Debug)]
pub struct ClosedQuotesIo {
    pub requests: mpsc::Receiver<Vec<Token>>,
    pub broker: Arc<dyn BrokerApi>,
    pub gate: Arc<RateGate>,
    pub registry: watch::Receiver<Arc<Registry>>,
    pub token: watch::Receiver<Option<CurrentToken>>,
    /// Auth's state (a fetch waits for a valid token) and where rejections are reported.
    pub auth: AuthHandle,
    pub ticks: mpsc::Sender<Vec<Tick>>,
    /// Whether the feed streams: a quote that arrives after it went live is older than what
    /// the feed delivers, so it is dropped rather than shown as the latest value.
    pub feed_live: watch::Receiver<FeedLive>,
    pub clock: SharedClock,
}

/// What is still to fetch, across rounds.
#[derive(Debug, Default)]
struct Pending {
    tokens: BTreeSet<Token>,
    /// Failed attempts per instrument, for the bounded retries.
    failures: HashMap<Token, u32>,
    /// No fetch before this (backoff after a failure).
    retry_at: Option<Instant>,
}

impl Pending {
    fn clear(&mut self) {
        *self = Self::default();
    }

    /// `failed` failed (429, 5xx, timeout): they are retried after a backoff unless they have
    /// used their attempts; `untried` (the rest of the round) are retried with them.
    fn failed(&mut self, failed: &[Token], untried: &[Token]) {
        let mut worst = 0;
        let mut given_up = 0;
        for t in failed {
            let n = self.failures.entry(*t).or_default();
            *n += 1;
            worst = worst.max(*n);
            if *n >= MAX_ATTEMPTS {
                self.failures.remove(t);
                given_up += 1;
            } else {
                self.tokens.insert(*t);
            }
        }
        self.tokens.extend(untried);
        if given_up > 0 {
            tracing::info!(
                instruments = given_up,
                attempts = MAX_ATTEMPTS,
                "closed-hours snapshot failed; the cached values (if any) stay"
            );
        }
        if !self.tokens.is_empty() {
            self.retry_at = Some(Instant::now() + retry_delay(worst.max(1)));
        }
    }
}

pub async fn run(io: ClosedQuotesIo, shutdown: CancellationToken) {
    let mut fetcher = Fetcher {
        auth: io.auth.view.clone(),
        io,
        pending: Pending::default(),
        rejected: None,
        shutdown,
    };
    // `Err(Stopped)`: shutdown, or a channel the task needs closed; nothing left to do.
    let _ = fetcher.run().await;
}

/// The task's state between rounds.
struct Fetcher {
    io: ClosedQuotesIo,
    /// Auth's view, followed for its changes (a fetch waits for a usable token).
    auth: watch::Receiver<AuthView>,
    pending: Pending,
    /// A token a quote call was rejected with: not used again until the token changes.
    rejected: Option<u64>,
    shutdown: CancellationToken,
}

impl Fetcher {
    /// Rounds of: collect requests, wait out a backoff, wait for a usable token, fetch.
    async fn run(&mut self) -> Result<(), Stopped> {
        loop {
            if self.pending.tokens.is_empty() {
                self.collect().await?;
            }
            self.back_off().await?;
            match self.wait_for_token().await? {
                Some(token) => self.fetch(&token).await?,
                // The feed went live: the values come from it instead.
                None => self.pending.clear(),
            }
        }
    }

    /// Waits for a request, then gathers those arriving within [`COLLECT`] into one round.
    async fn collect(&mut self) -> Result<(), Stopped> {
        let first = tokio::select! {
            biased;
            () = self.shutdown.cancelled() => return Err(Stopped),
            r = self.io.requests.recv() => r.ok_or(Stopped)?,
        };
        self.pending.tokens.extend(first);
        let until = Instant::now() + COLLECT;
        loop {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return Err(Stopped),
                () = tokio::time::sleep_until(until) => return Ok(()),
                r = self.io.requests.recv() => match r {
                    Some(v) => self.pending.tokens.extend(v),
                    // No more requests will come: fetch those there are.
                    None => return Ok(()),
                },
            }
        }
    }

    /// After a failure, backs off (still collecting) unless the feed goes live meanwhile.
    async fn back_off(&mut self) -> Result<(), Stopped> {
        let Some(at) = self.pending.retry_at.take() else {
            return Ok(());
        };
        while !self.io.feed_live.borrow().is_live() {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return Err(Stopped),
                () = tokio::time::sleep_until(at) => break,
                r = self.io.feed_live.changed() => r.map_err(|_| Stopped)?,
                r = self.io.requests.recv() => self.pending.tokens.extend(r.ok_or(Stopped)?),
            }
        }
        Ok(())
    }

    /// The token to fetch with, or `None` if the feed went live first.
    ///
    /// Without a usable token the request waits for one (an evening login), still collecting:
    /// the hub asks for each instrument once per not-live period, so dropping it would leave
    /// the clients that asked without a value until the next session.
    async fn wait_for_token(&mut self) -> Result<Option<CurrentToken>, Stopped> {
        loop {
            if self.io.feed_live.borrow().is_live() {
                return Ok(None);
            }
            let token = usable_token(
                self.io.token.borrow().as_ref(),
                &self.auth.borrow(),
                self.rejected,
                TokenUse::Rest,
            );
            if let Some(t) = token {
                return Ok(Some(t));
            }
            tracing::debug!(
                instruments = self.pending.tokens.len(),
                "no usable token: the closed-hours snapshot waits for one"
            );
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return Err(Stopped),
                r = self.io.token.changed() => r.map_err(|_| Stopped)?,
                r = self.auth.changed() => r.map_err(|_| Stopped)?,
                r = self.io.feed_live.changed() => r.map_err(|_| Stopped)?,
                r = self.io.requests.recv() => self.pending.tokens.extend(r.ok_or(Stopped)?),
            }
        }
    }

    /// Fetches everything pending with `token`, in the broker's batches, each within the rate
    /// gate. A round ends early when the feed goes live, the token is rejected or a batch
    /// fails in a way worth retrying.
    async fn fetch(&mut self, token: &CurrentToken) -> Result<(), Stopped> {
        let registry = self.io.registry.borrow().clone();
        let insts: Vec<_> = std::mem::take(&mut self.pending.tokens)
            .iter()
            .filter_map(|t| registry.by_token(*t).cloned())
            .collect();
        let batch = self.io.broker.quote_batch().max(1);
        for (i, chunk) in insts.chunks(batch).enumerate() {
            let call = QuoteCall {
                broker: &self.io.broker,
                gate: &self.io.gate,
                auth: &self.io.auth,
                shutdown: &self.shutdown,
            };
            let clock = &self.io.clock;
            let res = call
                .request(token, chunk.to_vec(), || clock.now_ms(), || true)
                .await?;
            if self.io.feed_live.borrow().is_live() {
                // The feed went live meanwhile: this batch and the rest come from it.
                tracing::debug!("feed went live while fetching a snapshot; dropped it");
                self.pending.clear();
                break;
            }
            let untried = insts.get((i + 1) * batch..).unwrap_or_default();
            if self.on_answer(res, token, chunk, untried).await?.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Acts on one batch's answer; `Break` ends the round (what is left waits for a retry or a
    /// new token).
    async fn on_answer(
        &mut self,
        answer: Answer,
        token: &CurrentToken,
        chunk: &[Arc<Instrument>],
        untried: &[Arc<Instrument>],
    ) -> Result<ControlFlow<()>, Stopped> {
        match answer {
            Answer::NotSent => Ok(ControlFlow::Break(())),
            Answer::Quotes(ticks) => {
                tracing::debug!(
                    requested = chunk.len(),
                    got = ticks.len(),
                    "closed-hours snapshot fetched"
                );
                self.settled(chunk);
                metrics::counter!("feedgate_snapshot_quotes_total").increment(ticks.len() as u64);
                if !ticks.is_empty() && self.io.ticks.send(ticks).await.is_err() {
                    return Err(Stopped);
                }
                Ok(ControlFlow::Continue(()))
            }
            Answer::Rejected => {
                // Auth has learnt of it (a login is needed); the request waits for a new token.
                tracing::info!(
                    "closed-hours snapshot: the broker rejected the access token; waiting for a login"
                );
                self.rejected = Some(token.epoch);
                self.pending.tokens.extend(tokens_of(chunk));
                self.pending.tokens.extend(tokens_of(untried));
                Ok(ControlFlow::Break(()))
            }
            Answer::Failed(e) if e.is_retryable() => {
                tracing::debug!(error = %e, "closed-hours snapshot failed; retrying");
                self.pending.failed(&tokens_of(chunk), &tokens_of(untried));
                Ok(ControlFlow::Break(()))
            }
            Answer::Failed(e) => {
                // A request the broker will never answer differently: not retried.
                tracing::info!(error = %e, "closed-hours snapshot failed; the cached values (if any) stay");
                self.settled(chunk);
                Ok(ControlFlow::Continue(()))
            }
        }
    }

    /// `chunk` got its final answer: its failure counts start over next time.
    fn settled(&mut self, chunk: &[Arc<Instrument>]) {
        for inst in chunk {
            self.pending.failures.remove(&inst.token);
        }
    }
}

fn tokens_of(insts: &[Arc<Instrument>]) -> Vec<Token> {
    insts.iter().map(|i| i.token).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthState;
    use crate::brokers::BrokerError;
    use crate::rest::fallback::testing::{self, FakeBroker};

    /// A closed-hours quote task against `broker` for instruments 1..=3, the market closed.
    struct Rig {
        broker: Arc<FakeBroker>,
        auth: testing::Auth,
        requests: mpsc::Sender<Vec<Token>>,
        ticks: mpsc::Receiver<Vec<Tick>>,
        shutdown: CancellationToken,
        _keep: (watch::Sender<Arc<Registry>>, watch::Sender<FeedLive>),
    }

    impl Rig {
        fn start(broker: FakeBroker) -> Self {
            let broker = Arc::new(broker);
            let shutdown = CancellationToken::new();
            let tracker = tokio_util::task::TaskTracker::new();
            let auth = testing::Auth::start(broker.clone(), "old", &shutdown, &tracker);
            let (requests, requests_rx) = mpsc::channel(8);
            let (registry_tx, registry) = watch::channel(testing::registry(1..=3));
            let (live_tx, feed_live) = watch::channel(FeedLive::DOWN);
            let (ticks_tx, ticks) = mpsc::channel(8);
            tracker.spawn(run(
                ClosedQuotesIo {
                    requests: requests_rx,
                    broker: broker.clone(),
                    gate: Arc::new(RateGate::new(broker.quote_interval())),
                    registry,
                    token: auth.token.clone(),
                    auth: auth.handle.clone(),
                    ticks: ticks_tx,
                    feed_live,
                    clock: testing::clock(),
                },
                shutdown.clone(),
            ));
            Self {
                broker,
                auth,
                requests,
                ticks,
                shutdown,
                _keep: (registry_tx, live_tx),
            }
        }

        async fn ask(&self, tokens: &[Token]) {
            self.requests.send(tokens.to_vec()).await.unwrap();
        }

        async fn next_batch(&mut self, within: Duration) -> Option<Vec<Token>> {
            let batch = tokio::time::timeout(within, self.ticks.recv())
                .await
                .ok()??;
            Some(batch.iter().map(|t| t.token).collect())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_quote_is_retried_with_backoff_honouring_retry_after() {
        let mut r = Rig::start(FakeBroker::default());
        r.auth.until(AuthState::Valid).await;
        r.broker.fail_next([
            BrokerError::Unavailable("http 502".into()),
            BrokerError::RateLimited {
                retry_after: Some(Duration::from_secs(7)),
            },
        ]);
        r.ask(&[1, 2]).await;
        assert_eq!(
            r.next_batch(Duration::from_secs(60)).await,
            Some(vec![1, 2]),
            "fetched after the failures"
        );
        let calls = r.broker.calls();
        assert!(calls.iter().all(|c| c.instruments == [1, 2]), "{calls:?}");
        let at: Vec<_> = calls.iter().map(|c| c.at).collect();
        assert_eq!(at.len(), 3);
        assert!(at[1] - at[0] >= retry_delay(1), "backoff after the 502");
        assert!(
            at[2] - at[1] >= Duration::from_secs(7),
            "the 429's Retry-After"
        );
        r.shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_bounded() {
        let mut r = Rig::start(FakeBroker::default());
        r.auth.until(AuthState::Valid).await;
        r.broker
            .fail_next((0..10).map(|_| BrokerError::Unavailable("timeout".into())));
        r.ask(&[1]).await;
        assert_eq!(r.next_batch(Duration::from_secs(3600)).await, None);
        assert_eq!(r.broker.calls().len(), MAX_ATTEMPTS as usize);
        r.shutdown.cancel();
    }

    /// An evening restart with yesterday's token: the request made while auth checks the token
    /// waits for the verdict, then for the login, and is fetched with the new token. A token that
    /// stops working later is reported to auth, and the request waits for the next login.
    #[tokio::test(start_paused = true)]
    async fn a_quote_waits_for_a_valid_token_and_reports_a_rejected_one() {
        let broker = FakeBroker::new(Duration::ZERO, Duration::from_secs(5));
        broker.reject("old");
        let mut r = Rig::start(broker);
        r.ask(&[1]).await;
        r.auth.until(AuthState::Expired).await;
        assert_eq!(r.next_batch(Duration::from_secs(60)).await, None);
        r.auth.login("new").await;
        assert_eq!(r.next_batch(Duration::from_secs(30)).await, Some(vec![1]));
        let tokens = |r: &Rig| {
            r.broker
                .calls()
                .iter()
                .map(|c| c.token.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(tokens(&r), ["new"], "never with the token being checked");

        // Overnight the token stops working.
        r.broker.reject("new");
        r.ask(&[2]).await;
        r.auth.until(AuthState::Expired).await;
        assert_eq!(r.next_batch(Duration::from_secs(60)).await, None);
        assert_eq!(
            tokens(&r),
            ["new", "new"],
            "the rejected token is not retried"
        );
        r.auth.login("newer").await;
        assert_eq!(r.next_batch(Duration::from_secs(30)).await, Some(vec![2]));
        assert_eq!(tokens(&r), ["new", "new", "newer"]);
        r.shutdown.cancel();
    }
}
