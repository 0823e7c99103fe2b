//! The control API (`/_sim/fault`, `/_sim/state`, `/_sim/token[?broker=fyers]`, `/_sim/order`),
//! as a router with paths relative to `/_sim` so the gateway's demo server can nest it. Its own
//! small JSON, not Kite's (except the order postback it sends).

use crate::fault::{ACCEPTED_KINDS, Fault, apply};
use crate::kite::postback::{self, OrderContext, OrderError};
use crate::registry::bump;
use crate::shared::Shared;
use crate::{Sim, registry::lock};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use feedgate_kite::TextMessage;
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tracing::info;

/// One order postback produced by `POST /_sim/order`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderSent {
    /// The order object sent as the frame's `data`.
    pub order: Value,
    /// The Kite ticker sockets it was queued on (a stalled one sends it when the stall ends).
    pub sent_to: usize,
}

/// `/fault`, `/state` and `/token`, state applied.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/fault", post(fault))
        .route("/state", get(state))
        .route("/token", post(token))
        .route("/order", post(order))
        .fallback(not_found)
        .with_state(shared)
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
}

async fn fault(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(fault) => fault,
        Err(err) => {
            return bad_request(format!(
                "invalid fault request ({err}); accepted: {ACCEPTED_KINDS}"
            ));
        }
    };
    match apply(&shared, fault) {
        Ok(()) => Json(json!({"ok": true, "fault": fault})).into_response(),
        Err(err) => bad_request(format!("{err}; accepted: {ACCEPTED_KINDS}")),
    }
}

async fn state(State(shared): State<Arc<Shared>>) -> Response {
    Json(Sim::from_shared(shared).state()).into_response()
}

/// Longest `expires_in` accepted for a minted Fyers token (one year either way).
const MAX_EXPIRES_IN: i64 = 365 * 24 * 3600;

/// `POST /token[?broker=kite|fyers[&expires_in=SECONDS]]`. Kite tokens are opaque strings;
/// Fyers tokens are `APPID:JWT` with `exp` = now + `expires_in` (default: the configured
/// lifetime; negative mints an already expired token, for clients' expiry checks).
async fn token(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let mut broker = None;
    let mut expires_in = None;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "broker" => broker = Some(value.into_owned()),
            "expires_in" => expires_in = Some(value.into_owned()),
            _ => {}
        }
    }
    match broker.as_deref() {
        None | Some("kite") => {
            let (id, token) = lock(&shared.tokens).mint_access();
            info!(token_id = id, "access token minted through the control api");
            Json(json!({"access_token": token.expose_secret()})).into_response()
        }
        Some("fyers") => {
            let cfg = &shared.cfg;
            let expires_in = match expires_in.as_deref().map(str::parse::<i64>) {
                None => i64::try_from(cfg.fyers_token_ttl.as_secs()).unwrap_or(MAX_EXPIRES_IN),
                Some(Ok(secs)) if secs.abs() <= MAX_EXPIRES_IN => secs,
                Some(_) => {
                    return bad_request(format!(
                        "expires_in must be an integer number of seconds within ±{MAX_EXPIRES_IN}"
                    ));
                }
            };
            let issued = shared.fyers.mint(cfg, &shared.clock, expires_in);
            let token = format!("{}:{}", cfg.fyers_app_id, issued.jwt.expose_secret());
            Json(json!({"access_token": token, "expires_at": issued.expires_at})).into_response()
        }
        Some(other) => bad_request(format!(
            "unknown broker {other:?}; use broker=kite (the default) or broker=fyers"
        )),
    }
}

/// `POST /order`: one Kite order postback on every open ticker socket.
async fn order(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match postback::overrides(&body).and_then(|o| post_order(&shared, &o)) {
        Ok(sent) => Json(json!({"order": sent.order, "sent_to": sent.sent_to})).into_response(),
        Err(err) => bad_request(format!(
            "{err}; the body is an object of postback fields to override, any of: {}",
            postback::FIELDS.join(", ")
        )),
    }
}

/// Builds one postback from `overrides` and queues it as a text frame
/// `{"type":"order","data":…}` on every open Kite ticker socket (all belong to the simulated
/// user). The Fyers data socket carries no order updates. With no socket open the order is
/// still built and counted, and `sent_to` is 0: Kite delivers postbacks only to open sockets.
pub(crate) fn post_order(
    shared: &Shared,
    overrides: &Map<String, Value>,
) -> Result<OrderSent, OrderError> {
    let idx = postback::instrument_index(overrides, &shared.universe)?;
    let now = shared.clock.now();
    let last_price = {
        let mut market = lock(&shared.market);
        market.follow(now);
        market.quote(idx).map_or(0, |q| q.last_price)
    };
    let counters = &shared.registry.counters;
    let ctx = OrderContext {
        user_id: &shared.cfg.user_id,
        api_secret: &shared.cfg.api_secret,
        now,
        seq: counters.order_seq.fetch_add(1, Ordering::Relaxed) + 1,
        universe: &shared.universe,
    };
    let order = Value::Object(postback::build(overrides, &ctx, last_price)?);
    bump(&counters.order_updates);
    let frame = Utf8Bytes::from(TextMessage::Order(order.clone()).to_json());
    let conns = shared.registry.connections();
    for conn in &conns {
        conn.control
            .order(|orders| orders.texts.push(frame.clone()));
    }
    info!(
        order_id = %order["order_id"],
        status = %order["status"],
        connections = conns.len(),
        "order postback queued on the ticker connections"
    );
    Ok(OrderSent {
        order,
        sent_to: conns.len(),
    })
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "unknown control endpoint; use POST /_sim/fault, GET /_sim/state, POST /_sim/token or POST /_sim/order"})),
    )
        .into_response()
}
