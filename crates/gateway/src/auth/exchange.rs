//! Completing a login: the broker's one-time code exchanged for an access token, which the
//! auth task saves and puts in use. The callback runs it for a login it received; in a cluster
//! the leader runs it for a login another node received (the answer then travels as text).

use crate::auth::task::{AuthError, AuthHandle};
use crate::brokers::BrokerApi;

/// Why a login could not be completed; the text says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoginFailure {
    #[error(
        "The broker refused the login code (it is single-use and short-lived) or the app secret is wrong. Check {secret}."
    )]
    Refused { secret: &'static str },
    #[error("Could not reach the broker to finish the login: {0}.")]
    Unreachable(String),
    #[error("The login could not be saved: {0}.")]
    NotSaved(#[from] AuthError),
}

/// Exchanges `code` with `broker` and hands the grant to `auth`; returns once the token is
/// saved and in use.
pub async fn complete(
    broker: &dyn BrokerApi,
    auth: &AuthHandle,
    code: String,
) -> Result<(), LoginFailure> {
    let grant = broker.exchange(code).await.map_err(|e| {
        tracing::warn!(error = %e, "request token exchange failed");
        if e.is_auth() {
            let secret = match broker.name() {
                "fyers" => "FYERS_SECRET_ID",
                _ => "ZERODHA_API_SECRET",
            };
            LoginFailure::Refused { secret }
        } else {
            LoginFailure::Unreachable(e.to_string())
        }
    })?;
    auth.store_grant(grant).await?;
    Ok(())
}
