//! No client-visible gap: the REST bridge over WebSocket gaps, measured as a client sees it
//! (the time from the fault to its next tick). A heartbeat flood (frames without data) is a
//! stale feed, not a healthy one; a WebSocket-only refusal is bridged within about two
//! seconds; the broker's 429 during the bridge is respected; data flows again from the socket
//! the moment it delivers. Paused time throughout.

mod common;

use common::{Broker, EnvBuilder, client, next_matching, next_tick_from, received, subscribe};
use feedgate_gateway::upstream::FeedEvent;
use feedgate_gateway::upstream::state::Disconnect;
use feedgate_sim::Fault;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

const S30: Duration = Duration::from_secs(30);
const SYMBOLS: [&str; 3] = ["NSE:SBIN", "NIFTY", "NSE:INFY"];

/// The next ticker from `src` and how long after `since` it came.
async fn next_from(c: &mut common::WsClient, src: &str, since: Instant) -> (Value, Duration) {
    let t = next_tick_from(c, src, S30)
        .await
        .unwrap_or_else(|| panic!("a {src} tick"));
    (t, since.elapsed())
}

/// The first ticker (from `src`, if given) that was not already on its way at `since`, and
/// when it came.
async fn tick_after(
    c: &mut common::WsClient,
    src: Option<&str>,
    since: Instant,
) -> (Value, Duration) {
    loop {
        let t = next_matching(c, S30, |v| {
            v["type"] == "ticker" && src.is_none_or(|s| v["data"]["src"] == s)
        })
        .await
        .expect("a tick");
        if since.elapsed() > Duration::from_millis(200) {
            return (t, since.elapsed());
        }
    }
}

async fn heartbeat_flood_is_a_stale_feed_bridged_over_rest(broker: Broker) {
    let env = EnvBuilder::new()
        .broker(broker)
        .var("FEED_STALE_THRESHOLD", "4")
        .start()
        .await;
    let mut events = env.gw().upstream.subscribe_events();
    let mut c = client(&env).await;
    subscribe(&mut c, &SYMBOLS, "quote").await;
    assert!(next_tick_from(&mut c, "ws", S30).await.is_some());

    // Frames keep coming, data does not: bridged two seconds in, and the socket replaced at
    // the stale threshold.
    let flood = Instant::now();
    env.fault(Fault::HeartbeatFlood { seconds: 60.0 });
    let (t, first) = tick_after(&mut c, None, flood).await;
    let (_, back) = tick_after(&mut c, Some("ws"), flood).await;
    let stale = received(&mut events).iter().any(|e| {
        matches!(
            e,
            FeedEvent::Disconnected {
                reason: Disconnect::Stale { .. },
                ..
            }
        )
    });
    eprintln!(
        "{}: flood → first tick ({}) {first:?}, socket tick {back:?}",
        broker.name(),
        t["data"]["src"]
    );
    assert!(stale, "a flood of heartbeats is a stale feed");
    assert_eq!(t["data"]["src"], "rest", "{t}");
    assert!(
        first >= Duration::from_millis(1900) && first <= Duration::from_millis(3000),
        "data {first:?} into the flood ({t})"
    );
    assert!(
        back <= Duration::from_secs(6),
        "replaced {back:?} into the flood"
    );
    env.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn heartbeat_flood_kite() {
    heartbeat_flood_is_a_stale_feed_bridged_over_rest(Broker::Kite).await;
}

#[tokio::test(start_paused = true)]
async fn heartbeat_flood_fyers() {
    heartbeat_flood_is_a_stale_feed_bridged_over_rest(Broker::Fyers).await;
}

#[tokio::test(start_paused = true)]
async fn a_websocket_only_refusal_is_bridged_within_two_seconds_and_429s_are_respected() {
    let env = EnvBuilder::new().start().await;
    let mut c = client(&env).await;
    subscribe(&mut c, &SYMBOLS, "quote").await;
    assert!(next_tick_from(&mut c, "ws", S30).await.is_some());
    let refused_before = env.upgrades().1;

    // The default settings: FEED_MAX_RECONNECTS=10 on the 5 → 60 s ladder used to mean minutes
    // without data here.
    env.fault(Fault::RejectWs { seconds: 60.0 });
    let drop = Instant::now();
    env.fault(Fault::Drop);
    // Clients are told the data is bridged, then get it.
    let status = next_matching(&mut c, S30, |v| {
        v["type"] == "connection_status"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.contains("Bridging"))
    })
    .await
    .expect("clients are told the data is bridged");
    assert_eq!(status["mode"], "WebSocket", "{status}");
    let (first, bridged) = next_from(&mut c, "rest", drop).await;
    assert!(first["data"]["ltp"].is_number(), "{first}");
    assert!(
        bridged <= Duration::from_secs(2),
        "data {bridged:?} after the drop"
    );

    // The broker answers 429 for five seconds: the bridge waits it out and carries on.
    env.fault(Fault::Rest429 { seconds: 5.0 });
    let limited = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (_, resumed) = next_from(&mut c, "rest", limited).await;
    assert!(
        resumed <= Duration::from_secs(8),
        "REST data {resumed:?} after the 429s began"
    );

    // The refusal ends: back on the socket, and polling stops.
    next_tick_from(&mut c, "ws", Duration::from_secs(150))
        .await
        .expect("back on the socket");
    let back = drop.elapsed();
    let s = env.sim_state();
    let attempts = s.upgrades.refused.total() - refused_before;
    eprintln!(
        "reject_ws: REST data {bridged:?} after the drop, socket back {back:?}, {attempts} refused attempts, {} REST 429s",
        s.rest_429s
    );
    // The ladder caps at FEED_MAX_RECONNECT_DELAY (60 s ± 20 %) after the refusal ends.
    assert!(
        back <= Duration::from_secs(60 + 72),
        "back on the socket {back:?} after the drop"
    );
    assert!(
        (3..=12).contains(&attempts),
        "quick retries, then the ladder, within the flap guard: {attempts}"
    );
    let quotes = env.sim_state().quote_requests;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        env.sim_state().quote_requests <= quotes + 1,
        "polling stopped once the socket delivered"
    );
    env.shutdown().await;
}
