//! Client → server ticker requests: `{"a": <action>, "v": <value>}` JSON text frames
//! (kite.md §2). Encoding is compact JSON; parsing is as lenient as the real server (JSON, not
//! bytes; tokens that are not JSON integers in `u32` range are ignored).

use std::fmt::Write as _;

use serde_json::Value;
use thiserror::Error;

use crate::segment::InstrumentToken;
use crate::ticker::packet::Mode;

/// A ticker request as sent by a client (the gateway) and parsed by a server (the simulator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Subscribe(Vec<InstrumentToken>),
    Unsubscribe(Vec<InstrumentToken>),
    Mode(Mode, Vec<InstrumentToken>),
}

/// Why a text frame is not a valid ticker request.
#[derive(Debug, Error)]
pub enum RequestError {
    #[error("request is not valid json: {0}")]
    InvalidJson(#[source] serde_json::Error),
    #[error("request is not a json object")]
    NotAnObject,
    #[error("request has no string action `a`")]
    MissingAction,
    /// The action, cut to at most 64 characters so a hostile frame cannot bloat logs.
    #[error("unknown request action {0:?}")]
    UnknownAction(String),
    #[error("request has no value `v`")]
    MissingValue,
    #[error("request value `v` has the wrong shape for action {action}")]
    InvalidValue { action: &'static str },
    /// The mode, cut to at most 64 characters.
    #[error("unknown mode {0:?}")]
    UnknownMode(String),
}

impl Request {
    /// The wire action name (`subscribe`, `unsubscribe` or `mode`).
    pub fn action(&self) -> &'static str {
        match self {
            Self::Subscribe(_) => "subscribe",
            Self::Unsubscribe(_) => "unsubscribe",
            Self::Mode(..) => "mode",
        }
    }

    /// The instrument tokens the request is about.
    pub fn tokens(&self) -> &[InstrumentToken] {
        match self {
            Self::Subscribe(tokens) | Self::Unsubscribe(tokens) | Self::Mode(_, tokens) => tokens,
        }
    }

    /// Compact JSON, e.g. `{"a":"subscribe","v":[408065]}` or `{"a":"mode","v":["full",[408065]]}`.
    pub fn to_json(&self) -> String {
        let tokens = self.tokens();
        // Each token is at most 10 digits plus a comma.
        let mut out = String::with_capacity(40 + tokens.len() * 11);
        out.push_str(r#"{"a":""#);
        out.push_str(self.action());
        out.push_str(r#"","v":"#);
        if let Self::Mode(mode, _) = self {
            out.push_str(r#"[""#);
            out.push_str(mode.as_str());
            out.push_str(r#"","#);
        }
        out.push('[');
        for (i, token) in tokens.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // Writing to a String cannot fail.
            let _ = write!(out, "{token}");
        }
        out.push(']');
        if matches!(self, Self::Mode(..)) {
            out.push(']');
        }
        out.push('}');
        out
    }

    /// Parses a request the way the real server does: any JSON formatting, unknown keys
    /// ignored, and tokens that are not integers in `u32` range (strings, fractions, negatives)
    /// silently dropped. Duplicates are kept, since they count against the server's limits.
    pub fn parse(text: &str) -> Result<Self, RequestError> {
        let value: Value = serde_json::from_str(text).map_err(RequestError::InvalidJson)?;
        let Value::Object(object) = value else {
            return Err(RequestError::NotAnObject);
        };
        let action = object
            .get("a")
            .and_then(Value::as_str)
            .ok_or(RequestError::MissingAction)?;
        let value = object.get("v").ok_or(RequestError::MissingValue)?;
        match action {
            "subscribe" => tokens(value, "subscribe").map(Self::Subscribe),
            "unsubscribe" => tokens(value, "unsubscribe").map(Self::Unsubscribe),
            "mode" => {
                let invalid = RequestError::InvalidValue { action: "mode" };
                let Some([mode, list, ..]) = value.as_array().map(Vec::as_slice) else {
                    return Err(invalid);
                };
                let mode = mode.as_str().ok_or(invalid)?;
                let mode = parse_mode(mode)?;
                tokens(list, "mode").map(|tokens| Self::Mode(mode, tokens))
            }
            other => Err(RequestError::UnknownAction(clip(other))),
        }
    }
}

fn parse_mode(mode: &str) -> Result<Mode, RequestError> {
    Mode::parse(mode).ok_or_else(|| RequestError::UnknownMode(clip(mode)))
}

fn tokens(value: &Value, action: &'static str) -> Result<Vec<InstrumentToken>, RequestError> {
    let list = value
        .as_array()
        .ok_or(RequestError::InvalidValue { action })?;
    Ok(list
        .iter()
        .filter_map(Value::as_u64)
        .filter_map(|token| InstrumentToken::try_from(token).ok())
        .collect())
}

/// Caps echoed client input so an error message stays small.
fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_json_is_compact() {
        let cases = [
            (
                Request::Subscribe(vec![408_065, 256_265]),
                r#"{"a":"subscribe","v":[408065,256265]}"#,
            ),
            (
                Request::Unsubscribe(vec![408_065]),
                r#"{"a":"unsubscribe","v":[408065]}"#,
            ),
            (Request::Subscribe(vec![]), r#"{"a":"subscribe","v":[]}"#),
            (
                Request::Mode(Mode::Full, vec![408_065]),
                r#"{"a":"mode","v":["full",[408065]]}"#,
            ),
            (
                Request::Mode(Mode::Ltp, vec![1, 2]),
                r#"{"a":"mode","v":["ltp",[1,2]]}"#,
            ),
            (
                Request::Mode(Mode::Quote, vec![]),
                r#"{"a":"mode","v":["quote",[]]}"#,
            ),
        ];
        for (request, json) in cases {
            assert_eq!(request.to_json(), json);
            assert_eq!(Request::parse(json).unwrap(), request, "{json}");
        }
    }

    #[test]
    fn parse_is_lenient_like_the_server() {
        let cases = [
            // pykiteconnect's json.dumps output, with spaces
            (
                r#"{"a": "subscribe", "v": [408065, 256265]}"#,
                Request::Subscribe(vec![408_065, 256_265]),
            ),
            (
                r#"{"a": "mode", "v": ["full", [408065]]}"#,
                Request::Mode(Mode::Full, vec![408_065]),
            ),
            (
                r#"{"v":[1],"a":"unsubscribe"}"#,
                Request::Unsubscribe(vec![1]),
            ),
            (
                " \n{\"a\":\"subscribe\",\t\"v\":[1]}\n ",
                Request::Subscribe(vec![1]),
            ),
            // strings, fractions, negatives, out of range and null are ignored
            (
                r#"{"a":"subscribe","v":["408065",1.5,-3,4294967296,null,{},7,4294967295]}"#,
                Request::Subscribe(vec![7, 4_294_967_295]),
            ),
            // duplicates are kept; unknown keys ignored
            (
                r#"{"a":"subscribe","v":[5,5],"x":true}"#,
                Request::Subscribe(vec![5, 5]),
            ),
            (
                r#"{"a":"mode","v":["ltp",[1],"extra"]}"#,
                Request::Mode(Mode::Ltp, vec![1]),
            ),
        ];
        for (json, request) in cases {
            assert_eq!(Request::parse(json).unwrap(), request, "{json}");
        }
    }

    #[test]
    fn parse_rejects_with_typed_errors() {
        type Check = fn(&RequestError) -> bool;
        let cases: [(&str, Check); 11] = [
            ("not json", |e| matches!(e, RequestError::InvalidJson(_))),
            (r#"{"a":"subscribe","v":[1]"#, |e| {
                matches!(e, RequestError::InvalidJson(_))
            }),
            ("[1,2]", |e| matches!(e, RequestError::NotAnObject)),
            (r#"{"v":[1]}"#, |e| matches!(e, RequestError::MissingAction)),
            (r#"{"a":3,"v":[1]}"#, |e| {
                matches!(e, RequestError::MissingAction)
            }),
            (r#"{"a":"subscribe"}"#, |e| {
                matches!(e, RequestError::MissingValue)
            }),
            (
                r#"{"a":"buy","v":[1]}"#,
                |e| matches!(e, RequestError::UnknownAction(a) if a == "buy"),
            ),
            (r#"{"a":"subscribe","v":1}"#, |e| {
                matches!(
                    e,
                    RequestError::InvalidValue {
                        action: "subscribe"
                    }
                )
            }),
            (r#"{"a":"mode","v":[[1],"full"]}"#, |e| {
                matches!(e, RequestError::InvalidValue { action: "mode" })
            }),
            (r#"{"a":"mode","v":["full"]}"#, |e| {
                matches!(e, RequestError::InvalidValue { action: "mode" })
            }),
            (
                r#"{"a":"mode","v":["fast",[1]]}"#,
                |e| matches!(e, RequestError::UnknownMode(m) if m == "fast"),
            ),
        ];
        for (json, check) in cases {
            let err = Request::parse(json).unwrap_err();
            assert!(check(&err), "{json}: {err:?}");
        }
    }

    #[test]
    fn echoed_input_is_clipped() {
        let long = "x".repeat(10_000);
        let err = Request::parse(&format!(r#"{{"a":"{long}","v":[]}}"#)).unwrap_err();
        assert!(err.to_string().len() < 120, "{err}");
    }
}
