//! End-to-end smoke test: demo-like wiring, one client, ticks flow.

mod common;

use common::EnvBuilder;
use serde_json::json;
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn a_client_receives_live_ticks() {
    let env = EnvBuilder::new().start().await;
    let mut c = env.client().await;
    assert_eq!(
        c.next_within(Duration::from_secs(5)).await.unwrap()["type"],
        "connection_status"
    );
    c.send(json!({"action":"subscribe","symbols":["NSE:SBIN","NIFTY"],"mode":"full","id":1}))
        .await;
    let ack = c.next_of("ack", Duration::from_secs(5)).await.expect("ack");
    assert_eq!(ack["count"], 2);
    let tick = c.next_of("ticker", Duration::from_secs(5)).await;
    if tick.is_none() {
        eprintln!("health: {}", env.health().await);
        eprintln!("ws status: {}", env.ws_status().await);
        eprintln!("sim: {:?}", env.sim_state());
    }
    let tick = tick.expect("a tick");
    assert_eq!(tick["data"]["src"], "ws");
    let h = env.health().await;
    assert_eq!(h["feed"]["state"], "connected");

    // Metrics: the recorder is process-wide, so check the names this run must have produced.
    for _ in 0..20 {
        c.next_of("ticker", Duration::from_secs(5))
            .await
            .expect("more ticks");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let text = env.get_text("/metrics").await;
    for name in [
        "feedgate_upstream_ticks_total",
        "feedgate_hub_messages_total",
        "feedgate_client_connections",
        "feedgate_message_bytes_bucket",
        "feedgate_tick_latency_seconds_bucket",
        "feedgate_client_outbox_depth_bucket",
        "feedgate_upstream_state{state=\"connected\"} 1",
        "feedgate_connection_quality_percent",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    // Handles are registered when a task starts, so a name alone proves little: the series
    // this run fed must have counted something.
    for series in [
        "feedgate_upstream_ticks_total",
        "feedgate_hub_messages_total",
        "feedgate_client_connections",
        "feedgate_message_bytes_count",
        "feedgate_tick_latency_seconds_count",
        "feedgate_client_outbox_depth_count",
    ] {
        let value = sample(&text, series);
        assert!(
            value.is_some_and(|v| v > 0.0),
            "{series} = {value:?} after 20 ticks:\n{text}"
        );
    }
    env.shutdown().await;
}

/// The value of an unlabelled series in Prometheus text (`name value`).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .find_map(|v| v.trim().parse().ok())
}
