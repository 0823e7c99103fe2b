//! Server → client ticker text frames: `{"type": "order"|"error"|"message", "data": …}`
//! (kite.md §4). Encoding for the simulator, parsing for the gateway.

use serde_json::Value;
use thiserror::Error;

/// A text frame from the ticker server.
#[derive(Debug, Clone, PartialEq)]
pub enum TextMessage {
    /// An order postback; `data` is the order object, kept as JSON.
    Order(serde_json::Value),
    /// An error string. The connection is not closed by the server.
    Error(String),
    /// A broker message or alert.
    Message(String),
}

/// Why a text frame is not a known ticker message.
///
/// An unknown `type` is an error rather than a variant so that [`TextMessage`] stays a closed
/// set; the official clients ignore such frames, and callers should log and ignore them too.
#[derive(Debug, Error)]
pub enum TextError {
    #[error("text frame is not valid json: {0}")]
    InvalidJson(#[source] serde_json::Error),
    #[error("text frame is not a json object")]
    NotAnObject,
    #[error("text frame has no string `type`")]
    MissingType,
    /// The type, cut to at most 64 characters.
    #[error("unknown text frame type {0:?}")]
    UnknownType(String),
    #[error("text frame of type {kind} has no `data`")]
    MissingData { kind: &'static str },
}

impl TextMessage {
    /// The wire `type` value.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Order(_) => "order",
            Self::Error(_) => "error",
            Self::Message(_) => "message",
        }
    }

    /// Compact JSON with `type` first, e.g. `{"type":"error","data":"…"}`.
    pub fn to_json(&self) -> String {
        // Written by hand so the key order does not depend on serde_json's `preserve_order`
        // feature, which another crate in the build may switch on.
        let data = match self {
            Self::Order(order) => order.to_string(),
            Self::Error(text) | Self::Message(text) => Value::from(text.as_str()).to_string(),
        };
        format!(r#"{{"type":"{}","data":{data}}}"#, self.kind())
    }

    /// Parses a server text frame. `error` and `message` data that is not a JSON string (which
    /// the server is not documented to send) is kept as its compact JSON text rather than
    /// rejected, because Python passes whatever it gets to the callbacks.
    pub fn parse(text: &str) -> Result<Self, TextError> {
        let value: Value = serde_json::from_str(text).map_err(TextError::InvalidJson)?;
        let Value::Object(mut object) = value else {
            return Err(TextError::NotAnObject);
        };
        let kind = match object.get("type") {
            Some(Value::String(kind)) => kind.as_str(),
            _ => return Err(TextError::MissingType),
        };
        let (kind, make): (&'static str, fn(Value) -> Self) = match kind {
            "order" => ("order", Self::Order),
            "error" => ("error", |data| Self::Error(into_text(data))),
            "message" => ("message", |data| Self::Message(into_text(data))),
            other => return Err(TextError::UnknownType(other.chars().take(64).collect())),
        };
        match object.remove("data") {
            None | Some(Value::Null) => Err(TextError::MissingData { kind }),
            Some(data) => Ok(make(data)),
        }
    }
}

fn into_text(data: Value) -> String {
    match data {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_every_kind() {
        let cases = [
            (
                TextMessage::Order(json!({"order_id": "220303000308932"})),
                r#"{"type":"order","data":{"order_id":"220303000308932"}}"#,
            ),
            (
                TextMessage::Error("Invalid \"mode\"".to_owned()),
                r#"{"type":"error","data":"Invalid \"mode\""}"#,
            ),
            (
                TextMessage::Message("market closes early".to_owned()),
                r#"{"type":"message","data":"market closes early"}"#,
            ),
        ];
        for (message, json) in cases {
            assert_eq!(message.to_json(), json);
            assert_eq!(TextMessage::parse(json).unwrap(), message);
        }
    }

    #[test]
    fn parses_the_official_postback_as_an_order() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/kite-mocks/postback.json"
        );
        let postback: Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let frame = json!({"type": "order", "data": postback}).to_string();
        assert_eq!(
            TextMessage::parse(&frame).unwrap(),
            TextMessage::Order(postback)
        );
    }

    #[test]
    fn lenient_data_and_spacing() {
        let cases = [
            (
                r#"{ "type" : "error", "data" : "x", "extra": 1 }"#,
                TextMessage::Error("x".into()),
            ),
            (
                r#"{"type":"message","data":{"k":1}}"#,
                TextMessage::Message(r#"{"k":1}"#.into()),
            ),
            (
                r#"{"type":"error","data":42}"#,
                TextMessage::Error("42".into()),
            ),
        ];
        for (json, message) in cases {
            assert_eq!(TextMessage::parse(json).unwrap(), message, "{json}");
        }
    }

    #[test]
    fn rejects_with_typed_errors() {
        type Check = fn(&TextError) -> bool;
        let cases: [(&str, Check); 7] = [
            ("{", |e| matches!(e, TextError::InvalidJson(_))),
            ("\"order\"", |e| matches!(e, TextError::NotAnObject)),
            (r#"{"data":"x"}"#, |e| matches!(e, TextError::MissingType)),
            (r#"{"type":1,"data":"x"}"#, |e| {
                matches!(e, TextError::MissingType)
            }),
            (
                r#"{"type":"tick","data":"x"}"#,
                |e| matches!(e, TextError::UnknownType(t) if t == "tick"),
            ),
            (r#"{"type":"error"}"#, |e| {
                matches!(e, TextError::MissingData { kind: "error" })
            }),
            (r#"{"type":"order","data":null}"#, |e| {
                matches!(e, TextError::MissingData { kind: "order" })
            }),
        ];
        for (json, check) in cases {
            let err = TextMessage::parse(json).unwrap_err();
            assert!(check(&err), "{json}: {err:?}");
        }
    }
}
