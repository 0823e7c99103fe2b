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
    /// After a reconnect, instead of `subscribe`: the instruments with the last `seq` seen of
    /// each, and the `epoch` those came from (DESIGN.md §12).
    Resume {
        epoch: u64,
        seq: Vec<(String, u64)>,
        mode: Mode,
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

const ACTIONS: &str = "subscribe, unsubscribe, options, ping, resume";

/// Parses one text frame: the envelope (JSON object, `id`, `action`), then the action's own
/// fields.
pub fn parse(text: &str) -> Result<Request, RequestError> {
    let obj = match envelope(text)? {
        Envelope::BarePing => return Ok(Request::Ping { id: None }),
        Envelope::Object(obj) => obj,
    };
    let id = request_id(&obj)?;
    match action(&obj, &id)? {
        "subscribe" => subscribe(&obj, id),
        "unsubscribe" => unsubscribe(&obj, id),
        "options" => options(&obj, id),
        "ping" => Ok(Request::Ping { id }),
        "resume" => resume(&obj, id),
        other => Err(RequestError::new(
            ErrorCode::UnknownAction,
            format!("unknown action {other:?}; expected one of: {ACTIONS}"),
            id,
        )),
    }
}

type Object = serde_json::Map<String, Value>;

/// A frame that is valid JSON (or the bare word `ping`).
enum Envelope {
    /// `ping` or `"ping"`: the keep-alive some clients send instead of an object.
    BarePing,
    Object(Object),
}

fn envelope(text: &str) -> Result<Envelope, RequestError> {
    let trimmed = text.trim();
    if trimmed == "ping" {
        return Ok(Envelope::BarePing);
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
    match value {
        Value::String(s) if s == "ping" => Ok(Envelope::BarePing),
        Value::Object(map) => Ok(Envelope::Object(map)),
        _ => Err(RequestError::new(
            ErrorCode::BadRequest,
            "a request must be a JSON object with an \"action\" field (or the string \"ping\")",
            None,
        )),
    }
}

/// The `id` to echo: read before anything else, so later errors can carry it.
fn request_id(obj: &Object) -> Result<RequestId, RequestError> {
    match obj.get("id") {
        None | Some(Value::Null) => Ok(None),
        Some(v @ (Value::String(_) | Value::Number(_))) => Ok(Some(v.clone())),
        Some(_) => Err(RequestError::new(
            ErrorCode::BadRequest,
            "\"id\" must be a string or a number",
            None,
        )),
    }
}

fn action<'a>(obj: &'a Object, id: &RequestId) -> Result<&'a str, RequestError> {
    match obj.get("action") {
        Some(Value::String(a)) => Ok(a.as_str()),
        Some(_) => Err(RequestError::new(
            ErrorCode::BadRequest,
            format!("\"action\" must be a string, one of: {ACTIONS}"),
            id.clone(),
        )),
        None => Err(RequestError::new(
            ErrorCode::BadRequest,
            format!("missing \"action\"; expected one of: {ACTIONS}"),
            id.clone(),
        )),
    }
}

fn subscribe(obj: &Object, id: RequestId) -> Result<Request, RequestError> {
    let symbols = symbols(obj, &id)?;
    let mode = mode(obj, &id)?;
    let candles = candles(obj, &id)?;
    Ok(Request::Subscribe {
        symbols,
        mode,
        candles,
        id,
    })
}

/// `{"action":"resume","epoch":E,"seq":{"NSE:SBIN":1234,…},"mode":"quote"}`.
fn resume(obj: &Object, id: RequestId) -> Result<Request, RequestError> {
    let bad =
        |msg: &str, id: RequestId| RequestError::new(ErrorCode::BadRequest, msg.to_string(), id);
    let Some(epoch) = obj.get("epoch").and_then(Value::as_u64) else {
        return Err(bad(
            "\"epoch\" must be the epoch of the last ticker received (a number)",
            id,
        ));
    };
    let Some(map) = obj.get("seq").and_then(Value::as_object) else {
        return Err(bad(
            "\"seq\" must map each symbol to the last seq received, e.g. {\"NSE:SBIN\":1234}",
            id,
        ));
    };
    if map.is_empty() {
        return Err(bad("\"seq\" names no symbol", id));
    }
    let mut seq = Vec::with_capacity(map.len());
    for (symbol, v) in map {
        let Some(n) = v.as_u64() else {
            return Err(bad(
                &format!("seq of {symbol:?} must be a whole number"),
                id,
            ));
        };
        seq.push((symbol.clone(), n));
    }
    let mode = mode(obj, &id)?;
    Ok(Request::Resume {
        epoch,
        seq,
        mode,
        id,
    })
}

fn unsubscribe(obj: &Object, id: RequestId) -> Result<Request, RequestError> {
    Ok(Request::Unsubscribe {
        symbols: symbols(obj, &id)?,
        id,
    })
}

fn options(obj: &Object, id: RequestId) -> Result<Request, RequestError> {
    let bad = |id| {
        RequestError::new(
            ErrorCode::BadRequest,
            format!("\"throttle_ms\" must be an integer from 0 (every tick) to {MAX_THROTTLE_MS}"),
            id,
        )
    };
    let throttle_ms = match obj.get("throttle_ms") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(ms) if ms <= MAX_THROTTLE_MS => Some(ms),
            _ => return Err(bad(id)),
        },
        Some(_) => return Err(bad(id)),
    };
    Ok(Request::Options { throttle_ms, id })
}

/// A subscribe's `mode` (default `quote`).
fn mode(obj: &Object, id: &RequestId) -> Result<Mode, RequestError> {
    match obj.get("mode") {
        None | Some(Value::Null) => Ok(Mode::default()),
        Some(Value::String(m)) => Mode::parse(m).ok_or_else(|| {
            RequestError::new(
                ErrorCode::BadRequest,
                format!("unknown mode {m:?}; expected \"ltp\", \"quote\" or \"full\""),
                id.clone(),
            )
        }),
        Some(_) => Err(RequestError::new(
            ErrorCode::BadRequest,
            "\"mode\" must be \"ltp\", \"quote\" or \"full\"",
            id.clone(),
        )),
    }
}

/// A subscribe's `candles`: absent keeps what was asked before, `false`/`null` stops them.
fn candles(obj: &Object, id: &RequestId) -> Result<CandleRequest, RequestError> {
    match obj.get("candles") {
        None => Ok(CandleRequest::Keep),
        Some(Value::Null) | Some(Value::Bool(false)) => Ok(CandleRequest::Off),
        Some(Value::String(c)) => {
            CandleInterval::parse(c)
                .map(CandleRequest::On)
                .ok_or_else(|| {
                    RequestError::new(
                        ErrorCode::BadRequest,
                        format!(
                            "unknown candle interval {c:?}; expected \"1m\", \"5m\" or \"15m\""
                        ),
                        id.clone(),
                    )
                })
        }
        Some(_) => Err(RequestError::new(
            ErrorCode::BadRequest,
            "\"candles\" must be \"1m\", \"5m\", \"15m\", or false to stop them",
            id.clone(),
        )),
    }
}

fn symbols(obj: &Object, id: &RequestId) -> Result<Vec<String>, RequestError> {
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

    /// Clients match on these texts (and tests elsewhere grep them): each one, word for word.
    #[test]
    fn error_texts_are_stable() {
        let actions = "subscribe, unsubscribe, options, ping, resume";
        let cases = [
            (
                "[1,2]",
                r#"a request must be a JSON object with an "action" field (or the string "ping")"#
                    .to_string(),
            ),
            (
                r#"{"action":"ping","id":[1]}"#,
                r#""id" must be a string or a number"#.to_string(),
            ),
            (
                r#"{"action":7}"#,
                format!(r#""action" must be a string, one of: {actions}"#),
            ),
            (
                r#"{"id":1}"#,
                format!(r#"missing "action"; expected one of: {actions}"#),
            ),
            (
                r#"{"action":"dance"}"#,
                format!(r#"unknown action "dance"; expected one of: {actions}"#),
            ),
            (
                r#"{"action":"unsubscribe","symbols":[]}"#,
                r#""symbols" must be a non-empty array of strings like "NSE:SBIN""#.to_string(),
            ),
            (
                r#"{"action":"subscribe","symbols":["X"],"mode":"depth"}"#,
                r#"unknown mode "depth"; expected "ltp", "quote" or "full""#.to_string(),
            ),
            (
                r#"{"action":"subscribe","symbols":["X"],"mode":1}"#,
                r#""mode" must be "ltp", "quote" or "full""#.to_string(),
            ),
            (
                r#"{"action":"subscribe","symbols":["X"],"candles":"2m"}"#,
                r#"unknown candle interval "2m"; expected "1m", "5m" or "15m""#.to_string(),
            ),
            (
                r#"{"action":"subscribe","symbols":["X"],"candles":true}"#,
                r#""candles" must be "1m", "5m", "15m", or false to stop them"#.to_string(),
            ),
            (
                r#"{"action":"options","throttle_ms":"fast"}"#,
                r#""throttle_ms" must be an integer from 0 (every tick) to 60000"#.to_string(),
            ),
            (
                r#"{"action":"options","throttle_ms":60001}"#,
                r#""throttle_ms" must be an integer from 0 (every tick) to 60000"#.to_string(),
            ),
        ];
        for (text, want) in cases {
            let err = parse(text).expect_err(text);
            assert_eq!(err.message, want, "{text}");
        }
        let err = parse("{nope").expect_err("invalid JSON");
        assert!(
            err.message.starts_with("invalid JSON (")
                && err.message.ends_with(
                    r#"); send an object like {"action":"subscribe","symbols":["NSE:SBIN"]}"#
                ),
            "{}",
            err.message
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = parse(&s);
        }
    }
}
