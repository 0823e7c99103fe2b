//! `GET /quote`, `/quote/ltp`, `/quote/ohlc`: the hub's latest values in Kite's shapes, keyed
//! by the exact requested strings, unknown instruments left out (kite.md §8.4). Every
//! instrument read is kept live upstream for a while ([`super::keeper`]); one without a current
//! value is fetched from the broker once ([`super::fetch`]), waiting at most [`FETCH_WAIT`].
//!
//! If nothing at all can be answered because the broker did not answer in time, the reply is
//! 503 `NetworkException` rather than an empty map: an empty map reads as "no such instruments"
//! and would turn a passing outage into `KeyError`s in the caller's code.

use crate::http::AppState;
use crate::http::kite_rest::envelope::{KiteFail, success};
use crate::http::kite_rest::fetch::FetchRequest;
use crate::http::kite_rest::params;
use crate::http::kite_rest::values::{Shape, write_value};
use crate::json::ticker::Freshness;
use crate::model::instruments::Instrument;
use crate::model::tick::{Tick, Token};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The longest a read waits for a broker quote (within pykiteconnect's 7 s timeout, and long
/// enough for a place in the broker's 1 request/s gate behind the REST fallback's polls).
pub const FETCH_WAIT: Duration = Duration::from_secs(5);

pub async fn full(State(app): State<AppState>, RawQuery(q): RawQuery) -> Response {
    answer(&app, q.as_deref(), Shape::Full).await
}

pub async fn ltp(State(app): State<AppState>, RawQuery(q): RawQuery) -> Response {
    answer(&app, q.as_deref(), Shape::Ltp).await
}

pub async fn ohlc(State(app): State<AppState>, RawQuery(q): RawQuery) -> Response {
    answer(&app, q.as_deref(), Shape::Ohlc).await
}

async fn answer(app: &AppState, query: Option<&str>, shape: Shape) -> Response {
    match values(app, query, shape).await {
        Ok(data) => success(&data),
        Err(fail) => fail.into_response(),
    }
}

/// The `data` object as JSON text.
async fn values(app: &AppState, query: Option<&str>, shape: Shape) -> Result<String, KiteFail> {
    let keys = params::requested(query, shape.cap())?;
    let registry = app.registry();
    let found: Vec<(String, Arc<Instrument>)> = keys
        .into_iter()
        .filter_map(|k| params::resolve(&registry, &k).map(|i| (k, i)))
        .collect();
    let insts: Vec<Arc<Instrument>> = found.iter().map(|(_, i)| i.clone()).collect();
    let fresh: HashSet<Token> = app.kite_rest().keeper.touch(&insts).into_iter().collect();
    let tokens: Vec<Token> = insts.iter().map(|i| i.token).collect();
    let latest = app.hub().latest(tokens).await?;
    let mut known: HashMap<Token, Tick> = HashMap::new();
    let mut fetch = Vec::new();
    let (feed, now_ms) = (app.feed_live(), app.clock().now_ms());
    for (inst, tick) in insts.iter().zip(latest) {
        match tick {
            // A value of an instrument nobody kept before this read may be hours old.
            Some(t)
                if !fresh.contains(&inst.token)
                    || !matches!(Freshness::of(&t, feed, now_ms), Freshness::Stale { .. }) =>
            {
                known.insert(inst.token, t);
            }
            Some(t) => {
                known.insert(inst.token, t);
                fetch.push(inst.clone());
            }
            None => fetch.push(inst.clone()),
        }
    }
    let fetched = !fetch.is_empty();
    if fetched {
        for t in fetch_quotes(app, fetch).await.iter() {
            known.insert(t.token, *t);
        }
    }
    if fetched && known.is_empty() {
        return Err(KiteFail::network(
            "The broker did not answer with these instruments' quotes in time; try again.",
        ));
    }
    let mut out = String::with_capacity(64 + known.len() * shape_size(shape));
    out.push('{');
    let mut first = true;
    for (key, inst) in &found {
        let Some(tick) = known.get(&inst.token) else {
            continue;
        };
        if !std::mem::take(&mut first) {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key).unwrap_or_else(|_| "\"\"".into()));
        out.push(':');
        write_value(&mut out, tick, shape);
    }
    out.push('}');
    Ok(out)
}

/// Broker quotes for `insts`, or what came within [`FETCH_WAIT`] (nothing on timeout).
async fn fetch_quotes(app: &AppState, insts: Vec<Arc<Instrument>>) -> Arc<Vec<Tick>> {
    let (reply, rx) = oneshot::channel();
    let req = FetchRequest {
        instruments: insts,
        reply,
    };
    if app.kite_rest().fetches.try_send(req).is_err() {
        tracing::debug!("Kite REST fetch queue full; answering from what is known");
        return Arc::default();
    }
    match tokio::time::timeout(FETCH_WAIT, rx).await {
        Ok(Ok(ticks)) => ticks,
        _ => Arc::default(),
    }
}

/// A typical value's size, for the answer's first allocation.
fn shape_size(shape: Shape) -> usize {
    match shape {
        Shape::Ltp => 64,
        Shape::Ohlc => 160,
        Shape::Full => 1024,
    }
}
