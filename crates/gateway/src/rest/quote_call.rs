//! One quote request, made the same way by every REST poller (the bridge and fallback, the
//! closed-hours quotes): wait for the broker's rate gate, ask, and act on what concerns everyone
//! — a token the broker rejected is reported to auth, a 429 slows the shared gate. What the
//! answer means for the caller's own loop (retry, pause, log) stays the caller's.

use crate::auth::AuthHandle;
use crate::brokers::{BrokerApi, BrokerError};
use crate::model::instruments::Instrument;
use crate::model::secret::CurrentToken;
use crate::model::tick::Tick;
use crate::rest::Stopped;
use crate::rest::rate_gate::RateGate;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What one quote request came back with.
#[derive(Debug)]
pub(crate) enum Answer {
    Quotes(Vec<Tick>),
    /// The broker rejected the token (auth knows; nobody uses this epoch again).
    Rejected,
    /// Anything else; a 429 has already slowed the shared gate.
    Failed(BrokerError),
    /// The caller no longer wanted it once the gate let it through: not sent.
    NotSent,
}

/// The broker, its rate gate and auth, as the pollers share them.
#[derive(Debug, Clone)]
pub(crate) struct QuoteCall<'a> {
    pub broker: &'a Arc<dyn BrokerApi>,
    pub gate: &'a RateGate,
    pub auth: &'a AuthHandle,
    pub shutdown: &'a CancellationToken,
}

impl QuoteCall<'_> {
    /// Requests quotes for `batch` with `token` once the gate allows, if `still_wanted` then.
    pub(crate) async fn request(
        &self,
        token: &CurrentToken,
        batch: Vec<Arc<Instrument>>,
        now_ms: impl FnOnce() -> i64,
        still_wanted: impl FnOnce() -> bool,
    ) -> Result<Answer, Stopped> {
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => return Err(Stopped),
            () = self.gate.acquire() => {}
        }
        if !still_wanted() {
            return Ok(Answer::NotSent);
        }
        let res = self
            .broker
            .quotes(token.token.clone(), batch, now_ms())
            .await;
        Ok(match res {
            Ok(ticks) => Answer::Quotes(ticks),
            Err(e) if e.is_auth() => {
                self.auth.report_rejected(token.epoch).await;
                Answer::Rejected
            }
            Err(e) => {
                if let BrokerError::RateLimited { retry_after } = e {
                    self.gate.rate_limited(retry_after);
                }
                Answer::Failed(e)
            }
        })
    }
}
