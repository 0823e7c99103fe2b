//! Waiting on a client for particular messages: the next one matching a predicate, the next
//! `ticker` of a symbol or from a source, the first tick of a symbol after an instant. Each
//! gives up at its deadline (paused or real time) with `None`. Also a tick's volume
//! ([`volume`]), which only grows, so it tells a newer value from a repeated one.

use super::{WAIT, WsClient};
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

/// The next message satisfying `pred` within `deadline` (others are skipped). A close frame
/// fails the test: the gateway closed the client.
pub async fn next_matching(
    c: &mut WsClient,
    deadline: Duration,
    mut pred: impl FnMut(&Value) -> bool,
) -> Option<Value> {
    let end = Instant::now() + deadline;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let v = c.next_within(left).await?;
        assert_ne!(v["type"], "close", "the gateway closed the client: {v}");
        if pred(&v) {
            return Some(v);
        }
    }
}

/// The next `ticker` for `symbol` (other messages skipped) within `deadline`. Unlike
/// [`next_matching`], a closed connection is not a failure here: it ends the wait with `None`,
/// as the deadline does (tests assert that no tick comes).
pub async fn next_tick(c: &mut WsClient, symbol: &str, deadline: Duration) -> Option<Value> {
    let end = Instant::now() + deadline;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let v = c.next_of("ticker", left).await?;
        if v["data"]["symbol"] == symbol {
            return Some(v);
        }
    }
}

/// The next `ticker` (any symbol) whose source is `src` (`ws` or `rest`) within `deadline`.
pub async fn next_tick_from(c: &mut WsClient, src: &str, deadline: Duration) -> Option<Value> {
    next_matching(c, deadline, |v| {
        v["type"] == "ticker" && v["data"]["src"] == src
    })
    .await
}

/// The first `ticker` for `symbol` that arrives at or after `at`.
pub async fn tick_after(c: &mut WsClient, symbol: &str, at: Instant) -> Value {
    loop {
        let t = next_tick(c, symbol, WAIT).await.expect("ticks");
        if Instant::now() >= at {
            return t;
        }
    }
}

/// The volume in a `ticker` message (quote and full modes); panics if it has none.
pub fn volume(tick: &Value) -> u64 {
    tick["data"]["volume"]
        .as_u64()
        .unwrap_or_else(|| panic!("no volume in {tick}"))
}

/// Reads `symbol`'s ticks through a stall that began at `since` until the socket delivers one:
/// when the first REST tick bridging the stall came (if one did), the socket's tick, and when it
/// came.
pub async fn through_stall(
    c: &mut WsClient,
    symbol: &str,
    since: Instant,
) -> (Option<Duration>, Value, Duration) {
    let mut bridged = None;
    loop {
        let t = next_tick(c, symbol, Duration::from_secs(10))
            .await
            .expect("ticks resume after a stall");
        if t["data"]["src"] == "ws" {
            return (bridged, t, since.elapsed());
        }
        bridged.get_or_insert(since.elapsed());
    }
}
