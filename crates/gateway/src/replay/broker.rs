//! The broker REST API of a replay: the instrument list from the data directory's cache (the
//! recording holds tokens, not symbols), a fixed profile for the replay's fixed token, and no
//! quotes (a REST quote would be today's price, not the recorded day's). No login: the replay
//! needs none.

use crate::brokers::{BrokerApi, BrokerError, SessionGrant, UserProfile};
use crate::model::instruments::{Instrument, InstrumentSpec};
use crate::model::tick::Tick;
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

/// The access token the replay's gateway uses and its ticker server accepts. Not a secret: it
/// opens nothing but the loopback replay server.
pub const REPLAY_TOKEN: &str = "feedgate-replay";

/// [`BrokerApi`] answered from local data (see the module doc).
#[derive(Debug, Clone)]
pub struct ReplayBroker {
    name: &'static str,
    instruments: Arc<Vec<InstrumentSpec>>,
}

impl ReplayBroker {
    /// Answers as broker `name` (`kite`) with this instrument list.
    pub fn new(name: &'static str, instruments: Vec<InstrumentSpec>) -> Self {
        Self {
            name,
            instruments: Arc::new(instruments),
        }
    }
}

impl BrokerApi for ReplayBroker {
    fn name(&self) -> &'static str {
        self.name
    }

    fn profile(&self, token: SecretString) -> BoxFuture<'static, Result<UserProfile, BrokerError>> {
        let ok = token.expose_secret() == REPLAY_TOKEN;
        Box::pin(async move {
            if !ok {
                return Err(BrokerError::Auth("not the replay's token".into()));
            }
            Ok(UserProfile {
                user_id: "REPLAY".into(),
                user_name: "feedgate replay".into(),
            })
        })
    }

    fn quotes(
        &self,
        _token: SecretString,
        _instruments: Vec<Arc<Instrument>>,
        _received_ms: i64,
    ) -> BoxFuture<'static, Result<Vec<Tick>, BrokerError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn instruments(&self) -> BoxFuture<'static, Result<Vec<InstrumentSpec>, BrokerError>> {
        let list = self.instruments.clone();
        Box::pin(async move {
            if list.is_empty() {
                // Retried later by the loader, and says why symbols are missing.
                return Err(BrokerError::Unavailable(
                    "no instrument cache in the data directory to name the recorded tokens".into(),
                ));
            }
            Ok(list.as_ref().clone())
        })
    }

    fn login_url(&self, _state: &str) -> String {
        // Never needed: the replay's token is always valid.
        "/".into()
    }

    fn exchange(
        &self,
        _request_token: String,
    ) -> BoxFuture<'static, Result<SessionGrant, BrokerError>> {
        Box::pin(async {
            Err(BrokerError::Invalid(
                "a replay has no broker to log in to".into(),
            ))
        })
    }

    fn quote_batch(&self) -> usize {
        500
    }

    fn quote_interval(&self) -> Duration {
        Duration::from_secs(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepts_only_the_replay_token_and_serves_the_cached_list() {
        let spec = InstrumentSpec::nse_equity(779_521, "SBIN", "STATE BANK OF INDIA");
        let b = ReplayBroker::new("kite", vec![spec.clone()]);
        assert!(b.profile(SecretString::from(REPLAY_TOKEN)).await.is_ok());
        let wrong = b.profile(SecretString::from("x")).await.unwrap_err();
        assert!(wrong.is_auth());
        assert_eq!(b.instruments().await.unwrap(), vec![spec]);
        assert!(
            b.quotes(SecretString::from(REPLAY_TOKEN), vec![], 0)
                .await
                .unwrap()
                .is_empty()
        );
        let none = ReplayBroker::new("kite", vec![])
            .instruments()
            .await
            .unwrap_err();
        assert!(none.is_retryable());
    }
}
