//! Server → client messages other than `ticker` (DESIGN.md §6): replies, status and
//! heartbeats. These are infrequent, so they go through serde.

use crate::json::request::{ErrorCode, RequestId};
use axum::extract::ws::Utf8Bytes;
use serde::Serialize;

/// One symbol a request could not take, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub symbol: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ack<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub action: &'static str,
    pub count: usize,
    /// Canonical symbols accepted by this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbols: Option<&'a [String]>,
    /// Always present (empty when everything was accepted), as in DESIGN.md §6.
    pub rejected: &'a [Rejected],
    /// Current per-client throttle, on `options` acks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_ms: Option<u64>,
    /// Total instruments this client is subscribed to after the request.
    pub subscribed: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: &'a RequestId,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorMsg<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub code: &'static str,
    pub message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: &'a RequestId,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pong<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: &'a RequestId,
}

/// `connection_status`: sent on connect and whenever any of its fields (other than the
/// timestamp) changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionStatus {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub mode: &'static str,
    pub quality: &'static str,
    pub message: String,
    pub market_status: &'static str,
    pub auth_required: bool,
    pub timestamp: String,
    /// This run of the gateway (DESIGN.md §12): a resume names the epoch its `seq`s came from.
    pub epoch: u64,
}

/// The feed-health part of a heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct ConnectionHealth {
    pub state: &'static str,
    pub is_healthy: bool,
    pub connection_quality: f64,
    pub using_rest_fallback: bool,
    pub last_tick_seconds_ago: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub timestamp: String,
    pub connections: usize,
    pub market_status: &'static str,
    pub connection_health: ConnectionHealth,
}

/// Serialises a message; these types cannot fail to serialise, but if one ever did the client
/// gets a well-formed error instead of a dropped reply.
pub fn to_text<T: Serialize>(msg: &T) -> Utf8Bytes {
    match serde_json::to_string(msg) {
        Ok(s) => Utf8Bytes::from(s),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a client message");
            Utf8Bytes::from_static(
                r#"{"type":"error","code":"internal","message":"internal serialisation error"}"#,
            )
        }
    }
}

pub fn error_text(code: ErrorCode, message: &str, id: &RequestId) -> Utf8Bytes {
    to_text(&ErrorMsg {
        kind: "error",
        code: code.as_str(),
        message,
        id,
    })
}

pub fn pong_text(id: &RequestId) -> Utf8Bytes {
    to_text(&Pong { kind: "pong", id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn v(t: Utf8Bytes) -> Value {
        serde_json::from_str(t.as_str()).unwrap()
    }

    #[test]
    fn shapes_match_the_protocol() {
        assert_eq!(v(pong_text(&None)), json!({"type":"pong"}));
        assert_eq!(v(pong_text(&Some(json!(5)))), json!({"type":"pong","id":5}));
        assert_eq!(
            v(error_text(ErrorCode::BadRequest, "nope", &Some(json!("x")))),
            json!({"type":"error","code":"bad_request","message":"nope","id":"x"})
        );
        let syms = vec!["NSE:SBIN".to_string()];
        let rejected = vec![Rejected {
            symbol: "NSE:NOPE".into(),
            reason: "unknown instrument".into(),
        }];
        let ack = Ack {
            kind: "ack",
            action: "subscribe",
            count: 1,
            symbols: Some(&syms),
            rejected: &rejected,
            throttle_ms: None,
            subscribed: 1,
            id: &None,
        };
        assert_eq!(
            v(to_text(&ack)),
            json!({"type":"ack","action":"subscribe","count":1,"symbols":["NSE:SBIN"],
                   "rejected":[{"symbol":"NSE:NOPE","reason":"unknown instrument"}],"subscribed":1})
        );
        let all_taken = Ack {
            rejected: &[],
            ..ack.clone()
        };
        assert_eq!(
            v(to_text(&all_taken))["rejected"],
            json!([]),
            "an empty `rejected` is still sent"
        );
        let hb = Heartbeat {
            kind: "heartbeat",
            timestamp: "t".into(),
            connections: 3,
            market_status: "LIVE",
            connection_health: ConnectionHealth {
                state: "connected",
                is_healthy: true,
                connection_quality: 98.5,
                using_rest_fallback: false,
                last_tick_seconds_ago: Some(0.8),
            },
        };
        assert_eq!(
            v(to_text(&hb)),
            json!({"type":"heartbeat","timestamp":"t","connections":3,"marketStatus":"LIVE",
                   "connectionHealth":{"state":"connected","is_healthy":true,"connection_quality":98.5,
                   "using_rest_fallback":false,"last_tick_seconds_ago":0.8}})
        );
    }
}
