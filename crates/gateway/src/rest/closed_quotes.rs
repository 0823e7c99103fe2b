//! Closed-hours quotes: when a client subscribes to an instrument feedgate has no value for
//! while the feed is not streaming (market closed, holiday), fetch one REST quote for it —
//! batched across clients and instruments, within the broker's rate limit, only with a token
//! auth has found valid (a request made without one waits for a login) — and hand it to the
//! hub, which caches it and delivers it marked as not live.
//!
//! The hub asks once per not-live period, so a failure must not lose the request: a 429, 5xx or
//! timeout is retried with backoff (a bounded number of times), and a rejected token is reported
//! to auth and the request waits for the next valid token.

use crate::auth::{AuthHandle, AuthState, AuthView};
use crate::brokers::{BrokerApi, BrokerError};
use crate::model::clock::SharedClock;
use crate::model::instruments::Registry;
use crate::model::secret::CurrentToken;
use crate::model::tick::{Tick, Token};
use crate::rest::rate_gate::RateGate;
use std::collections::{BTreeSet, HashMap};
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

/// The token to fetch with: the current one once auth has found it valid (or could not reach
/// the broker to decide: a `refreshing` token whose check failed for want of a verdict), and not
/// one a quote call was rejected with (`rejected`, kept until the token changes). A token still
/// being validated is not used: an evening restart with yesterday's token would spend the
/// request on a certain 403. (pure)
pub fn usable_token(
    token: Option<&CurrentToken>,
    auth: &AuthView,
    rejected: Option<u64>,
) -> Option<CurrentToken> {
    let ready = match auth.state {
        AuthState::Valid => true,
        AuthState::Refreshing => auth.failures > 0,
        AuthState::Expired | AuthState::Required => false,
    };
    token
        .filter(|t| ready && Some(t.epoch) != rejected)
        .cloned()
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
    pub feed_live: watch::Receiver<bool>,
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

pub async fn run(mut io: ClosedQuotesIo, shutdown: CancellationToken) {
    let mut auth = io.auth.view.clone();
    let mut pending = Pending::default();
    // A token a quote call was rejected with: not used again until the token changes.
    let mut rejected: Option<u64> = None;
    loop {
        if pending.tokens.is_empty() {
            let first = tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                r = io.requests.recv() => match r { Some(v) => v, None => return },
            };
            pending.tokens.extend(first);
            let until = Instant::now() + COLLECT;
            loop {
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep_until(until) => break,
                    r = io.requests.recv() => match r {
                        Some(v) => pending.tokens.extend(v),
                        None => break,
                    },
                }
            }
        }
        // After a failure, back off (still collecting) unless the feed goes live meanwhile.
        if let Some(at) = pending.retry_at.take() {
            while !*io.feed_live.borrow() {
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep_until(at) => break,
                    r = io.feed_live.changed() => if r.is_err() { return },
                    r = io.requests.recv() => match r {
                        Some(v) => pending.tokens.extend(v),
                        None => return,
                    },
                }
            }
        }
        // Without a usable token the request waits for one (an evening login), still
        // collecting: the hub asks for each instrument once per not-live period, so dropping
        // it would leave the clients that asked without a value until the next session. If the
        // feed goes live meanwhile, the values come from it instead.
        let token = loop {
            if *io.feed_live.borrow() {
                break None;
            }
            if let Some(t) = usable_token(io.token.borrow().as_ref(), &auth.borrow(), rejected) {
                break Some(t);
            }
            tracing::debug!(
                instruments = pending.tokens.len(),
                "no usable token: the closed-hours snapshot waits for one"
            );
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                r = io.token.changed() => if r.is_err() { return },
                r = auth.changed() => if r.is_err() { return },
                r = io.feed_live.changed() => if r.is_err() { return },
                r = io.requests.recv() => match r {
                    Some(v) => pending.tokens.extend(v),
                    None => return,
                },
            }
        };
        let Some(token) = token else {
            pending.clear();
            continue;
        };
        let registry = io.registry.borrow().clone();
        let insts: Vec<_> = std::mem::take(&mut pending.tokens)
            .iter()
            .filter_map(|t| registry.by_token(*t).cloned())
            .collect();
        let batch = io.broker.quote_batch().max(1);
        for (i, chunk) in insts.chunks(batch).enumerate() {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = io.gate.acquire() => {}
            }
            let res = io
                .broker
                .quotes(token.token.clone(), chunk.to_vec(), io.clock.now_ms())
                .await;
            if *io.feed_live.borrow() {
                // The feed went live meanwhile: this batch and the rest come from it.
                tracing::debug!("feed went live while fetching a snapshot; dropped it");
                pending.clear();
                break;
            }
            let tokens = |insts: &[Arc<crate::model::instruments::Instrument>]| {
                insts.iter().map(|i| i.token).collect::<Vec<_>>()
            };
            let untried = insts.get((i + 1) * batch..).unwrap_or_default();
            match res {
                Ok(ticks) => {
                    tracing::debug!(
                        requested = chunk.len(),
                        got = ticks.len(),
                        "closed-hours snapshot fetched"
                    );
                    for inst in chunk {
                        pending.failures.remove(&inst.token);
                    }
                    metrics::counter!("feedgate_snapshot_quotes_total")
                        .increment(ticks.len() as u64);
                    if !ticks.is_empty() && io.ticks.send(ticks).await.is_err() {
                        return;
                    }
                }
                Err(e) if e.is_auth() => {
                    // Auth learns of it (a login is needed); the request waits for a new token.
                    tracing::info!(
                        "closed-hours snapshot: the broker rejected the access token; waiting for a login"
                    );
                    rejected = Some(token.epoch);
                    io.auth.report_rejected(token.epoch).await;
                    pending.tokens.extend(tokens(&insts[i * batch..]));
                    break;
                }
                Err(e) if e.is_retryable() => {
                    tracing::debug!(error = %e, "closed-hours snapshot failed; retrying");
                    if let BrokerError::RateLimited { retry_after } = e {
                        io.gate.rate_limited(retry_after);
                    }
                    pending.failed(&tokens(chunk), &tokens(untried));
                    break;
                }
                Err(e) => {
                    // A request the broker will never answer differently: not retried.
                    tracing::info!(error = %e, "closed-hours snapshot failed; the cached values (if any) stay");
                    for inst in chunk {
                        pending.failures.remove(&inst.token);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::fallback::testing::{self, FakeBroker};

    /// A closed-hours quote task against `broker` for instruments 1..=3, the market closed.
    struct Rig {
        broker: Arc<FakeBroker>,
        auth: testing::Auth,
        requests: mpsc::Sender<Vec<Token>>,
        ticks: mpsc::Receiver<Vec<Tick>>,
        shutdown: CancellationToken,
        _keep: (watch::Sender<Arc<Registry>>, watch::Sender<bool>),
    }

    impl Rig {
        fn start(broker: FakeBroker) -> Self {
            let broker = Arc::new(broker);
            let shutdown = CancellationToken::new();
            let tracker = tokio_util::task::TaskTracker::new();
            let auth = testing::Auth::start(broker.clone(), "old", &shutdown, &tracker);
            let (requests, requests_rx) = mpsc::channel(8);
            let (registry_tx, registry) = watch::channel(testing::registry(1..=3));
            let (live_tx, feed_live) = watch::channel(false);
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

    #[test]
    fn usable_tokens() {
        let token = CurrentToken {
            epoch: 2,
            token: crate::model::secret::Secret::new("t"),
        };
        let auth = |state, failures| AuthView {
            state,
            user_id: None,
            user_name: None,
            origin: None,
            issued_at: None,
            expiry_hint: None,
            failures,
            last_error: None,
            login_url: String::new(),
        };
        use AuthState::*;
        // (state, failures, rejected epoch, usable)
        let cases = [
            (Valid, 0, None, true),
            (Valid, 0, Some(2), false),
            (Valid, 0, Some(1), true),
            // Being validated: wait for the verdict.
            (Refreshing, 0, None, false),
            // Validation could not reach the broker: the token may well work.
            (Refreshing, 1, None, true),
            (Expired, 1, None, false),
            (Required, 0, None, false),
        ];
        for (state, failures, rejected, want) in cases {
            let got = usable_token(Some(&token), &auth(state, failures), rejected);
            assert_eq!(got.is_some(), want, "{state:?} {failures} {rejected:?}");
        }
        assert!(usable_token(None, &auth(Valid, 0), None).is_none());
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
