//! One-off broker quotes for instruments a Kite REST read finds without a current value:
//! requests arriving together share one broker call (per [`BrokerApi::quote_batch`]
//! instruments), every call waits for the broker's shared rate gate, and the quotes go both to
//! the waiting readers and to the hub (which keeps them as the instruments' latest values until
//! the kept subscription streams).

use crate::auth::{AuthHandle, TokenUse, usable_token};
use crate::brokers::BrokerApi;
use crate::model::clock::SharedClock;
use crate::model::instruments::Instrument;
use crate::model::secret::CurrentToken;
use crate::model::tick::{Tick, Token};
use crate::rest::quote_call::{Answer, QuoteCall};
use crate::rest::rate_gate::RateGate;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Requests arriving within this window share one broker call.
pub const COLLECT: Duration = Duration::from_millis(50);

/// Waiting fetch requests at most (then a reader answers from what is known).
const QUEUE: usize = 256;

/// One reader's instruments and where its quotes go.
#[derive(Debug)]
pub struct FetchRequest {
    pub instruments: Vec<Arc<Instrument>>,
    pub reply: oneshot::Sender<Arc<Vec<Tick>>>,
}

/// What the fetcher uses.
#[derive(Debug)]
pub struct FetchIo {
    pub broker: Arc<dyn BrokerApi>,
    pub gate: Arc<RateGate>,
    pub auth: AuthHandle,
    pub token: watch::Receiver<Option<CurrentToken>>,
    pub ticks: mpsc::Sender<Vec<Tick>>,
    pub clock: SharedClock,
}

/// A channel to the fetcher task (`spawn` it with the receiver).
pub fn channel() -> (mpsc::Sender<FetchRequest>, mpsc::Receiver<FetchRequest>) {
    mpsc::channel(QUEUE)
}

/// Serves fetch requests until shutdown.
pub async fn run(
    io: FetchIo,
    mut requests: mpsc::Receiver<FetchRequest>,
    shutdown: CancellationToken,
) {
    // A token the broker rejected is not used again until it changes (auth knows of it).
    let mut rejected = None;
    loop {
        let Some(round) = collect(&mut requests, &shutdown).await else {
            return;
        };
        let ticks = io.fetch(&round, &mut rejected, &shutdown).await;
        let Some(ticks) = ticks else { return };
        let ticks = Arc::new(ticks);
        for r in round {
            // A reader that gave up waiting has dropped its receiver.
            let _ = r.reply.send(ticks.clone());
        }
    }
}

/// Waits for a request, then gathers those arriving within [`COLLECT`]; `None` at shutdown.
async fn collect(
    requests: &mut mpsc::Receiver<FetchRequest>,
    shutdown: &CancellationToken,
) -> Option<Vec<FetchRequest>> {
    let first = tokio::select! {
        biased;
        () = shutdown.cancelled() => return None,
        r = requests.recv() => r?,
    };
    let mut round = vec![first];
    let until = Instant::now() + COLLECT;
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep_until(until) => {
                // What queued while the previous round waited for the gate joins this one.
                while let Ok(r) = requests.try_recv() {
                    round.push(r);
                }
                return Some(round);
            }
            r = requests.recv() => match r {
                Some(r) => round.push(r),
                None => return Some(round),
            },
        }
    }
}

impl FetchIo {
    /// Quotes for every instrument of `round` that the broker answers; `None` at shutdown.
    async fn fetch(
        &self,
        round: &[FetchRequest],
        rejected: &mut Option<u64>,
        shutdown: &CancellationToken,
    ) -> Option<Vec<Tick>> {
        // Readers that stopped waiting need nothing fetched.
        let wanted: BTreeMap<Token, Arc<Instrument>> = round
            .iter()
            .filter(|r| !r.reply.is_closed())
            .flat_map(|r| r.instruments.iter())
            .map(|i| (i.token, i.clone()))
            .collect();
        if wanted.is_empty() {
            return Some(Vec::new());
        }
        let insts: Vec<Arc<Instrument>> = wanted.into_values().collect();
        let token = usable_token(
            self.token.borrow().as_ref(),
            &self.auth.view.borrow(),
            *rejected,
            TokenUse::Rest,
        );
        let Some(token) = token else {
            tracing::debug!(
                instruments = insts.len(),
                "no usable broker token: Kite REST reads answer from what is known"
            );
            return Some(Vec::new());
        };
        let mut out = Vec::new();
        for chunk in insts.chunks(self.broker.quote_batch().max(1)) {
            let call = QuoteCall {
                broker: &self.broker,
                gate: &self.gate,
                auth: &self.auth,
                shutdown,
            };
            let clock = &self.clock;
            // Every reader gave up while the gate held the call: not worth a broker request
            // (the kept subscription brings the values).
            let waited_for = || round.iter().any(|r| !r.reply.is_closed());
            let answer = call
                .request(&token, chunk.to_vec(), || clock.now_ms(), waited_for)
                .await
                .ok()?;
            match answer {
                Answer::Quotes(ticks) => {
                    metrics::counter!("feedgate_kite_rest_fetched_total")
                        .increment(ticks.len() as u64);
                    if !ticks.is_empty() && self.ticks.send(ticks.clone()).await.is_err() {
                        return None;
                    }
                    out.extend(ticks);
                }
                Answer::Rejected => {
                    *rejected = Some(token.epoch);
                    break;
                }
                Answer::Failed(e) => {
                    tracing::debug!(error = %e, "a quote for Kite REST reads failed");
                    break;
                }
                Answer::NotSent => break,
            }
        }
        Some(out)
    }
}
