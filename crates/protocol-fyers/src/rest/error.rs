//! Errors of the Fyers REST boundary. [`ApiError`] is Fyers saying no (HTTP status plus the
//! envelope's `code`/`message`); [`RestError`] adds transport, size and decoding failures. The
//! caller decides with [`RestError::is_auth`] (stop until the token changes) and
//! [`RestError::is_retryable`] (try again later), never by matching message text.
//!
//! Auth classification (spec §10.1 and Fyers' published error list, third-party confirmed):
//! HTTP 401/403, or codes −8 (token expired), −15 (invalid token), −16 (could not authenticate),
//! −17 (token invalid or expired), −352 (invalid app id) and −371 (bad app-id hash). Retryable:
//! HTTP 429 or code −429 (rate limit), HTTP 5xx, and transport failures.
//!
//! No error carries a request or response body: bodies can hold tokens, and serde's messages
//! can quote values, so decode errors keep only serde's category and position.

/// Fyers codes that mean the credentials are rejected.
const AUTH_CODES: [i64; 6] = [-8, -15, -16, -17, -352, -371];
/// Fyers' rate-limit code.
const RATE_LIMIT_CODE: i64 = -429;
/// Longest server message kept in an error.
const MAX_MESSAGE_LEN: usize = 300;

/// Fyers rejected a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fyers api error {} (http {http_status}): {message}", code.map_or_else(|| "without code".to_owned(), |c| c.to_string()))]
pub struct ApiError {
    /// HTTP status of the response (200 when Fyers answered `s:"error"` with a 200).
    pub http_status: u16,
    /// The envelope's `code`, if any.
    pub code: Option<i64>,
    /// The envelope's `message` (shortened to 300 characters).
    pub message: String,
}

impl ApiError {
    /// An API error; the message is shortened to a bounded length.
    pub fn new(http_status: u16, code: Option<i64>, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if let Some((cut, _)) = message.char_indices().nth(MAX_MESSAGE_LEN) {
            message.truncate(cut);
            message.push('…');
        }
        Self {
            http_status,
            code,
            message,
        }
    }

    /// The token or app credentials were rejected: do not retry until they change.
    pub fn is_auth(&self) -> bool {
        matches!(self.http_status, 401 | 403)
            || self.code.is_some_and(|code| AUTH_CODES.contains(&code))
    }

    /// Rate limiting or a server-side failure: worth retrying later.
    pub fn is_retryable(&self) -> bool {
        !self.is_auth()
            && (self.http_status == 429
                || (500..=599).contains(&self.http_status)
                || self.code == Some(RATE_LIMIT_CODE))
    }
}

/// What went wrong on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// Could not connect (DNS, refused, TLS).
    Connect,
    /// No complete answer in time.
    Timeout,
    /// Anything else (reset connection, broken body, …).
    Other,
}

/// A failed REST call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// Fyers answered with an error.
    #[error(transparent)]
    Api(ApiError),
    /// The request did not complete.
    #[error("fyers {endpoint} request failed ({kind:?}): {detail}")]
    Transport {
        /// Which call.
        endpoint: &'static str,
        /// Failure class.
        kind: TransportKind,
        /// Cause chain, without URL or body.
        detail: String,
    },
    /// A success status with a body of an unexpected shape.
    #[error("fyers {endpoint} answered http {http_status} with an unexpected body: {detail}")]
    Decode {
        /// Which call.
        endpoint: &'static str,
        /// HTTP status.
        http_status: u16,
        /// What did not fit (no body content).
        detail: String,
    },
    /// The body exceeded the size limit.
    #[error("fyers {endpoint} answered with more than {limit} bytes")]
    BodyTooLarge {
        /// Which call.
        endpoint: &'static str,
        /// The limit in bytes.
        limit: usize,
    },
    /// The request cannot be sent as given (too many symbols, bad URL, bad header value).
    #[error("invalid fyers request: {0}")]
    InvalidRequest(String),
}

impl RestError {
    /// The credentials were rejected (see the module doc).
    pub fn is_auth(&self) -> bool {
        matches!(self, RestError::Api(api) if api.is_auth())
    }

    /// Worth retrying later: transport failures, rate limits, server errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            RestError::Api(api) => api.is_retryable(),
            RestError::Transport { .. } => true,
            RestError::Decode { .. }
            | RestError::BodyTooLarge { .. }
            | RestError::InvalidRequest(_) => false,
        }
    }

    /// The Fyers error, if Fyers answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            RestError::Api(api) => Some(api),
            _ => None,
        }
    }
}

impl From<ApiError> for RestError {
    fn from(api: ApiError) -> Self {
        RestError::Api(api)
    }
}

/// A serde_json error as category and position only: its own message can quote values from
/// the input (tokens, for instance), so log this instead.
pub fn describe_json_error(err: &serde_json::Error) -> String {
    let category = match err.classify() {
        serde_json::error::Category::Io => "io",
        serde_json::error::Category::Syntax => "invalid json",
        serde_json::error::Category::Data => "unexpected field type or shape",
        serde_json::error::Category::Eof => "truncated json",
    };
    format!("{category} at line {} column {}", err.line(), err.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        // (http, code, is_auth, is_retryable)
        let cases = [
            (401, Some(-16), true, false),
            (403, None, true, false),
            (200, Some(-8), true, false),
            (400, Some(-15), true, false),
            (400, Some(-17), true, false),
            (400, Some(-352), true, false),
            (400, Some(-371), true, false),
            (400, Some(-374), false, false),
            (400, Some(-300), false, false),
            (429, None, false, true),
            (200, Some(-429), false, true),
            (500, None, false, true),
            (503, Some(-99), false, true),
            (404, None, false, false),
        ];
        for (http, code, auth, retry) in cases {
            let error = RestError::from(ApiError::new(http, code, "x"));
            assert_eq!(
                (error.is_auth(), error.is_retryable()),
                (auth, retry),
                "{http} {code:?}"
            );
        }
        let transport = RestError::Transport {
            endpoint: "profile",
            kind: TransportKind::Timeout,
            detail: "timed out".into(),
        };
        assert!(transport.is_retryable() && !transport.is_auth());
        assert!(!RestError::InvalidRequest("x".into()).is_retryable());
    }

    #[test]
    fn long_messages_are_shortened_on_a_char_boundary() {
        let error = ApiError::new(500, None, "é".repeat(400));
        assert_eq!(error.message.chars().count(), MAX_MESSAGE_LEN + 1);
        assert_eq!(
            ApiError::new(401, Some(-16), "Could not authenticate the user").to_string(),
            "fyers api error -16 (http 401): Could not authenticate the user"
        );
    }

    #[test]
    fn json_errors_do_not_quote_values() {
        let err = serde_json::from_str::<u8>("\"secret-token-value\"").unwrap_err();
        let text = describe_json_error(&err);
        assert!(!text.contains("secret"), "{text}");
        assert!(text.starts_with("unexpected field type"), "{text}");
    }
}
