//! One-off fetches of an instrument's minutes from the broker's historical API for a request
//! (`/api/candles` over days neither the hub nor the candle files hold): the backfill's rate
//! gate, a token auth finds usable now (a request does not wait for a login), one retry after
//! a 429.

use crate::auth::{AuthView, TokenUse, usable_token};
use crate::brokers::{BrokerApi, BrokerError};
use crate::model::candle::Candle;
use crate::model::instruments::Instrument;
use crate::model::secret::CurrentToken;
use crate::rest::rate_gate::RateGate;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Longest a request waits for its turn at the gate before answering without the broker.
pub const MAX_GATE_WAIT: Duration = Duration::from_secs(5);

/// Why the broker's minutes could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryUnavailable {
    #[error("no usable broker token")]
    NoToken,
    #[error("the broker's historical API is busy")]
    Busy,
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

/// What a request needs to ask the broker for history.
#[derive(Debug, Clone)]
pub struct HistoryAccess {
    pub broker: Arc<dyn BrokerApi>,
    /// Shared with the backfill: together they stay within the historical limit.
    pub gate: Arc<RateGate>,
    pub token: watch::Receiver<Option<CurrentToken>>,
    pub auth: watch::Receiver<AuthView>,
}

impl HistoryAccess {
    /// The minutes of `inst` from `from` to `to` (Unix seconds, inclusive).
    pub async fn minutes(
        &self,
        inst: &Arc<Instrument>,
        from: i64,
        to: i64,
    ) -> Result<Vec<Candle>, HistoryUnavailable> {
        let token = usable_token(
            self.token.borrow().as_ref(),
            &self.auth.borrow(),
            None,
            TokenUse::Rest,
        )
        .ok_or(HistoryUnavailable::NoToken)?;
        // One retry after a 429 (the gate then holds everyone for the broker's wait).
        for attempt in 0..2 {
            tokio::time::timeout(MAX_GATE_WAIT, self.gate.acquire())
                .await
                .map_err(|_| HistoryUnavailable::Busy)?;
            let res = self
                .broker
                .historical_minutes(token.token.clone(), inst.clone(), from, to)
                .await;
            match res {
                Err(BrokerError::RateLimited { retry_after }) if attempt == 0 => {
                    self.gate.rate_limited(retry_after);
                }
                Err(BrokerError::RateLimited { retry_after }) => {
                    self.gate.rate_limited(retry_after);
                    return Err(BrokerError::RateLimited { retry_after }.into());
                }
                other => return Ok(other?),
            }
        }
        Err(HistoryUnavailable::Busy)
    }
}
