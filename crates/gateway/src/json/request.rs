//! Client → server requests on `/ws/market` (DESIGN.md §6), parsed into typed values with
//! errors that tell the client what was wrong and what is accepted.

use crate::model::tick::Mode;
use serde_json::Value;

/// A request id echoed in the reply: a string or a number, as the client sent it.
pub type RequestId = Option<Value>;

/// Candle intervals a subscribe may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandleInterval {
    M1,
    M5,
    M15,
}

impl CandleInterval {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "1m" => Some(Self::M1),
            "5m" => Some(Self::M5),
            "15m" => Some(Self::M15),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::M1 => "1m",
            Self::M5 => "5m",
            Self::M15 => "15m",
        }
    }

    pub fn minutes(self) -> u32 {
        match self {
            Self::M1 => 1,
            Self::M5 => 5,
            Self::M15 => 15,
        }
    }
}

/// What a subscribe says about `candle` messages for its symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CandleRequest {
    /// No `candles` field: leave whatever the client asked for before.
    #[default]
    Keep,
    /// `"candles": false` or `null`: stop candle messages for these symbols.
    Off,
    /// `"candles": "1m" | "5m" | "15m"`.
    On(CandleInterval),
}

impl CandleRequest {
    /// The interval to use for a new subscription.
    pub fn interval(self) -> Option<CandleInterval> {
        match self {
            Self::On(i) => Some(i),
            Self::Keep | Self::Off => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Subscribe {
        symbols: Vec<String>,
        mode: Mode,
        candles: CandleRequest,
        id: RequestId,
    },
    Unsubscribe {
        symbols: Vec<String>,
        id: RequestId,
    },
    Options {
        throttle_ms: Option<u64>,
        id: RequestId,
    },
    Ping {
        id: RequestId,
    },
}

/// Error codes clients can match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidJson,
    UnknownAction,
    BadRequest,
    TooManySymbols,
    FrameTooLarge,
    UnsupportedFrame,
    RateLimited,
    SlowConsumer,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::UnknownAction => "unknown_action",
            Self::BadRequest => "bad_request",
            Self::TooManySymbols => "too_many_symbols",
            Self::FrameTooLarge => "frame_too_large",
            Self::UnsupportedFrame => "unsupported_frame",
            Self::RateLimited => "rate_limited",
            Self::SlowConsumer => "slow_consumer",
        }
    }
}

/// A request that could not be accepted, with the id to echo when one was readable.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestError {
    pub code: ErrorCode,
    pub message: String,
    pub id: RequestId,
}

impl RequestError {
    fn new(code: ErrorCode, message: impl Into<String>, id: RequestId) -> Self {
        Self {
            code,
            message: message.into(),
            id,
        }
    }
}

/// The largest accepted throttle: slower than one update a minute is not a live feed.
pub const MAX_THROTTLE_MS: u64 = 60_000;

const ACTIONS: &str = "subscribe, unsubscribe, options, ping";

/// Parses one text frame.
pub fn parse(text: &str) -> Result<Request, RequestError> {
    let trimmed = text.trim();
    if trimmed == "ping" {
        return Ok(Request::Ping { id: None });
    }
    let value: Value = serde_json::from_str(trimmed).map_err(|e| {
        RequestError::new(
            ErrorCode::InvalidJson,
            format!(
                "invalid JSON ({e}); send an object like {{\"action\":\"subscribe\",\"symbols\":[\"NSE:SBIN\"]}}"
            ),
            None,
        )
    })?;
    let obj = match value {
        Value::String(s) if s == "ping" => return Ok(Request::Ping { id: None }),
        Value::Object(map) => map,
        _ => {
            return Err(RequestError::new(
                ErrorCode::BadRequest,
                "a request must be a JSON object with an \"action\" field (or the string \"ping\")",
                None,
            ));
        }
    };
    let id = match obj.get("id") {
        None | Some(Value::Null) => None,
        Some(v @ (Value::String(_) | Value::Number(_))) => Some(v.clone()),
        Some(_) => {
            return Err(RequestError::new(
                ErrorCode::BadRequest,
                "\"id\" must be a string or a number",
                None,
            ));
        }
    };
    let action = match obj.get("action") {
        Some(Value::String(a)) => a.as_str(),
        Some(_) => {
            return Err(RequestError::new(
                ErrorCode::BadRequest,
                format!("\"action\" must be a string, one of: {ACTIONS}"),
                id,
            ));
        }
        None => {
            return Err(RequestError::new(
                ErrorCode::BadRequest,
                format!("missing \"action\"; expected one of: {ACTIONS}"),
                id,
            ));
        }
    };
    match action {
        "subscribe" => {
            let symbols = symbols(&obj, &id)?;
            let mode = match obj.get("mode") {
                None | Some(Value::Null) => Mode::default(),
                Some(Value::String(m)) => Mode::parse(m).ok_or_else(|| {
                    RequestError::new(
                        ErrorCode::BadRequest,
                        format!("unknown mode {m:?}; expected \"ltp\", \"quote\" or \"full\""),
                        id.clone(),
                    )
                })?,
                Some(_) => {
                    return Err(RequestError::new(
                        ErrorCode::BadRequest,
                        "\"mode\" must be \"ltp\", \"quote\" or \"full\"",
                        id,
                    ));
                }
            };
            let candles = match obj.get("candles") {
                None => CandleRequest::Keep,
                Some(Value::Null) | Some(Value::Bool(false)) => CandleRequest::Off,
                Some(Value::String(c)) => {
                    CandleRequest::On(CandleInterval::parse(c).ok_or_else(|| {
                        RequestError::new(
                            ErrorCode::BadRequest,
                            format!(
                                "unknown candle interval {c:?}; expected \"1m\", \"5m\" or \"15m\""
                            ),
                            id.clone(),
                        )
                    })?)
                }
                Some(_) => {
                    return Err(RequestError::new(
                        ErrorCode::BadRequest,
                        "\"candles\" must be \"1m\", \"5m\", \"15m\", or false to stop them",
                        id,
                    ));
                }
            };
            Ok(Request::Subscribe {
                symbols,
                mode,
                candles,
                id,
            })
        }
        "unsubscribe" => Ok(Request::Unsubscribe {
            symbols: symbols(&obj, &id)?,
            id,
        }),
        "options" => {
            let throttle_ms = match obj.get("throttle_ms") {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => match n.as_u64() {
                    Some(ms) if ms <= MAX_THROTTLE_MS => Some(ms),
                    _ => {
                        return Err(RequestError::new(
                            ErrorCode::BadRequest,
                            format!(
                                "\"throttle_ms\" must be an integer from 0 (every tick) to {MAX_THROTTLE_MS}"
                            ),
                            id,
                        ));
                    }
                },
                Some(_) => {
                    return Err(RequestError::new(
                        ErrorCode::BadRequest,
                        format!(
                            "\"throttle_ms\" must be an integer from 0 (every tick) to {MAX_THROTTLE_MS}"
                        ),
                        id,
                    ));
                }
            };
            Ok(Request::Options { throttle_ms, id })
        }
        "ping" => Ok(Request::Ping { id }),
        other => Err(RequestError::new(
            ErrorCode::UnknownAction,
            format!("unknown action {other:?}; expected one of: {ACTIONS}"),
            id,
        )),
    }
}

fn symbols(
    obj: &serde_json::Map<String, Value>,
    id: &RequestId,
) -> Result<Vec<String>, RequestError> {
    let bad = || {
        RequestError::new(
            ErrorCode::BadRequest,
            "\"symbols\" must be a non-empty array of strings like \"NSE:SBIN\"",
            id.clone(),
        )
    };
    match obj.get("symbols") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(bad))
            .collect(),
        // A single string is a common slip; accept it rather than fail.
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(vec![s.clone()]),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepted_requests() {
        let cases: Vec<(&str, Request)> = vec![
            (
                r#"{"action":"subscribe","symbols":["NSE:SBIN","NSE:NIFTY 50"],"mode":"full","id":7}"#,
                Request::Subscribe {
                    symbols: vec!["NSE:SBIN".into(), "NSE:NIFTY 50".into()],
                    mode: Mode::Full,
                    candles: CandleRequest::Keep,
                    id: Some(json!(7)),
                },
            ),
            (
                r#"{"action":"subscribe","symbols":["NSE:SBIN"],"candles":"1m"}"#,
                Request::Subscribe {
                    symbols: vec!["NSE:SBIN".into()],
                    mode: Mode::Quote,
                    candles: CandleRequest::On(CandleInterval::M1),
                    id: None,
                },
            ),
            (
                r#"{"action":"unsubscribe","symbols":["NSE:SBIN"],"id":"u1"}"#,
                Request::Unsubscribe {
                    symbols: vec!["NSE:SBIN".into()],
                    id: Some(json!("u1")),
                },
            ),
            (
                r#"{"action":"options","throttle_ms":250}"#,
                Request::Options {
                    throttle_ms: Some(250),
                    id: None,
                },
            ),
            (
                r#"{"action":"subscribe","symbols":["NSE:SBIN"],"candles":false}"#,
                Request::Subscribe {
                    symbols: vec!["NSE:SBIN".into()],
                    mode: Mode::Quote,
                    candles: CandleRequest::Off,
                    id: None,
                },
            ),
            ("ping", Request::Ping { id: None }),
            (" \"ping\" ", Request::Ping { id: None }),
            (
                r#"{"action":"ping","id":"p"}"#,
                Request::Ping {
                    id: Some(json!("p")),
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejected_requests_say_why_and_echo_the_id() {
        let cases = [
            ("{nope", ErrorCode::InvalidJson, None),
            ("[1,2]", ErrorCode::BadRequest, None),
            (r#"{"symbols":[]}"#, ErrorCode::BadRequest, None),
            (
                r#"{"action":"dance","id":3}"#,
                ErrorCode::UnknownAction,
                Some(json!(3)),
            ),
            (
                r#"{"action":"subscribe","id":"a"}"#,
                ErrorCode::BadRequest,
                Some(json!("a")),
            ),
            (
                r#"{"action":"subscribe","symbols":[1]}"#,
                ErrorCode::BadRequest,
                None,
            ),
            (
                r#"{"action":"subscribe","symbols":["X"],"mode":"depth"}"#,
                ErrorCode::BadRequest,
                None,
            ),
            (
                r#"{"action":"subscribe","symbols":["X"],"candles":"2m"}"#,
                ErrorCode::BadRequest,
                None,
            ),
            (
                r#"{"action":"options","throttle_ms":-1}"#,
                ErrorCode::BadRequest,
                None,
            ),
            (
                r#"{"action":"options","throttle_ms":600000}"#,
                ErrorCode::BadRequest,
                None,
            ),
            (
                r#"{"action":"ping","id":{"x":1}}"#,
                ErrorCode::BadRequest,
                None,
            ),
        ];
        for (text, code, id) in cases {
            let err = parse(text).expect_err(text);
            assert_eq!(err.code, code, "{text}: {}", err.message);
            assert_eq!(err.id, id, "{text}");
            assert!(!err.message.is_empty());
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = parse(&s);
        }
    }
}
