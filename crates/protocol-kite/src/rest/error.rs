//! The REST client's error type, and the classification of Kite's responses into it from the
//! HTTP status *and* the `error_type` (kite.md §8.1). The reconnect and login logic decide from
//! [`KiteError::is_auth`] and [`KiteError::is_retryable`], never from message text.

use std::time::Duration;

use thiserror::Error;

use crate::rest::envelope::ErrorType;
use crate::rest::instruments::InstrumentsError;

/// Longest server message kept in an error; Kite's are one sentence.
const MAX_MESSAGE_CHARS: usize = 300;

/// Why a Kite REST call failed. No variant ever holds a token or secret: server messages are
/// scrubbed of the credentials sent, and transport errors are stripped of their URL (which
/// carries the access token on `DELETE /session/token`).
#[derive(Debug, Error)]
pub enum KiteError {
    /// `TokenException`: the access (or request) token is expired, invalidated or wrong.
    #[error("token rejected by kite (http {status}): {message}")]
    Token { status: u16, message: String },
    /// Authenticated but not allowed (403 without `TokenException`).
    #[error("permission denied by kite (http {status}, {error_type}): {message}")]
    Permission {
        status: u16,
        error_type: ErrorType,
        message: String,
    },
    /// Kite rejected the request's parameters.
    #[error("kite rejected the input (http {status}, {error_type}): {message}")]
    Input {
        status: u16,
        error_type: ErrorType,
        message: String,
    },
    /// HTTP 429. `retry_after` is the server's `Retry-After` hint, if it sent one.
    #[error("rate limited by kite (http 429)")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, or an OMS failure (`NetworkException`, `DataException`): worth retrying later.
    #[error("kite server error (http {status}, {error_type}): {message}")]
    Server {
        status: u16,
        error_type: ErrorType,
        message: String,
    },
    /// Any other error envelope (e.g. 404, `GeneralException` with a 4xx status).
    #[error("kite api error (http {status}, {error_type}): {message}")]
    Api {
        status: u16,
        error_type: ErrorType,
        message: String,
    },
    /// The request did not complete within its timeout.
    #[error("request to kite timed out")]
    Timeout,
    /// Connection refused, reset, TLS failure, an unresolvable host and the like; `cause` names
    /// which (see [`feedgate_market::transport::describe`]).
    #[error("network error talking to kite: {cause}")]
    Network {
        cause: String,
        #[source]
        source: reqwest::Error,
    },
    /// A response that is not what Kite sends: not JSON, no `data`, wrong shape, too large.
    #[error("unexpected response from kite (http {status}): {reason}")]
    UnexpectedBody { status: u16, reason: String },
    /// The instrument dump could not be parsed.
    #[error("bad instrument dump from kite")]
    Instruments(#[from] InstrumentsError),
    /// More instruments than the endpoint allows in one call; nothing was sent.
    #[error("{count} instruments requested, kite allows at most {max} per call")]
    TooManyInstruments { count: usize, max: usize },
    /// A credential cannot be sent in an HTTP header (control characters).
    #[error("credential contains characters not allowed in an http header")]
    InvalidCredential,
    /// The client could not be set up (bad base URL, TLS backend failure).
    #[error("cannot set up the kite client: {0}")]
    Setup(String),
}

impl KiteError {
    /// The credentials were rejected: retrying with the same token is pointless.
    pub fn is_auth(&self) -> bool {
        matches!(self, Self::Token { .. })
    }

    /// A later retry of the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Timeout | Self::Network { .. }
        )
    }

    /// The HTTP status of the response, if one arrived.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Token { status, .. }
            | Self::Permission { status, .. }
            | Self::Input { status, .. }
            | Self::Server { status, .. }
            | Self::Api { status, .. }
            | Self::UnexpectedBody { status, .. } => Some(*status),
            Self::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// Maps a transport error, dropping its URL (only the host is kept: a URL may carry
    /// credentials).
    pub(crate) fn transport(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            return Self::Timeout;
        }
        let host = error.url().and_then(|u| {
            let host = u.host_str()?;
            Some(match u.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            })
        });
        let source = error.without_url();
        Self::Network {
            cause: feedgate_market::transport::describe(&source, host.as_deref()),
            source,
        }
    }

    /// Classifies an error response. `error_type` and `message` come from the body when it
    /// was an error envelope; `None` when the body was not one (e.g. a proxy's HTML page).
    pub(crate) fn classify(
        status: u16,
        envelope: Option<(ErrorType, String)>,
        retry_after: Option<Duration>,
    ) -> Self {
        let Some((error_type, message)) = envelope else {
            return match status {
                429 => Self::RateLimited { retry_after },
                500.. => Self::Server {
                    status,
                    error_type: ErrorType::Other(String::new()),
                    message: "no error body".to_owned(),
                },
                _ => Self::UnexpectedBody {
                    status,
                    reason: "error status without a kite error body".to_owned(),
                },
            };
        };
        match (status, &error_type) {
            // Python raises TokenException whatever the status; a 200 with it is still one.
            (_, ErrorType::TokenException) => Self::Token { status, message },
            (429, _) => Self::RateLimited { retry_after },
            (500.., _) | (_, ErrorType::NetworkException | ErrorType::DataException) => {
                Self::Server {
                    status,
                    error_type,
                    message,
                }
            }
            (403, _) | (_, ErrorType::PermissionException) => Self::Permission {
                status,
                error_type,
                message,
            },
            (400, _) | (_, ErrorType::InputException) => Self::Input {
                status,
                error_type,
                message,
            },
            _ => Self::Api {
                status,
                error_type,
                message,
            },
        }
    }
}

/// Makes a server-provided message safe to keep: every credential sent with the request is
/// replaced, and the length is capped.
pub(crate) fn scrub(message: &str, secrets: &[&str]) -> String {
    let mut clean = message.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        clean = clean.replace(secret, "[redacted]");
    }
    if clean.chars().count() > MAX_MESSAGE_CHARS {
        clean = clean.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…";
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    type Envelope = Option<(ErrorType, String)>;

    fn env(name: &str) -> Envelope {
        Some((ErrorType::from_name(name), "msg".to_owned()))
    }

    #[test]
    fn classification_table() {
        // (status, envelope, auth, retryable, variant)
        let cases: [(u16, Envelope, bool, bool, &str); 14] = [
            (403, env("TokenException"), true, false, "Token"),
            (200, env("TokenException"), true, false, "Token"),
            (403, env("PermissionException"), false, false, "Permission"),
            (403, env("UserException"), false, false, "Permission"),
            (400, env("InputException"), false, false, "Input"),
            (400, env("GeneralException"), false, false, "Input"),
            (429, env("GeneralException"), false, true, "RateLimited"),
            (429, None, false, true, "RateLimited"),
            (500, env("GeneralException"), false, true, "Server"),
            (503, env("NetworkException"), false, true, "Server"),
            (200, env("DataException"), false, true, "Server"),
            (502, None, false, true, "Server"),
            (404, env("GeneralException"), false, false, "Api"),
            (403, None, false, false, "UnexpectedBody"),
        ];
        for (status, envelope, auth, retryable, variant) in cases {
            let error = KiteError::classify(status, envelope.clone(), None);
            assert_eq!(error.is_auth(), auth, "{status} {envelope:?}: {error:?}");
            assert_eq!(
                error.is_retryable(),
                retryable,
                "{status} {envelope:?}: {error:?}"
            );
            assert!(
                format!("{error:?}").starts_with(variant),
                "{status} {envelope:?}: {error:?}"
            );
            assert_eq!(error.status(), Some(status));
        }
    }

    #[test]
    fn scrub_removes_secrets_and_caps_length() {
        let cases = [
            (
                "bad token abc123 given",
                vec!["abc123"],
                "bad token [redacted] given",
            ),
            ("nothing here", vec!["abc123", ""], "nothing here"),
            ("k:abc:abc", vec!["abc"], "k:[redacted]:[redacted]"),
        ];
        for (message, secrets, expected) in cases {
            assert_eq!(scrub(message, &secrets), expected);
        }
        let long = "x".repeat(1000);
        assert_eq!(scrub(&long, &[]).chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
