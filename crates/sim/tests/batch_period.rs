//! `SimConfig::batch_period`: the same aggregate rate in smaller, more frequent batches.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use feedgate_sim::SimConfig;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(start_paused = true)]
async fn a_short_batch_period_keeps_the_aggregate_rate() {
    let sim = start(SimConfig {
        rate: Some(2_000.0),
        batch_period: Some(Duration::from_millis(5)),
        ..SimConfig::default()
    })
    .await;
    let mut ws = connect(&sim).await;
    let all: Vec<String> = sim
        .instruments()
        .iter()
        .map(|i| i.token.to_string())
        .collect();
    send_text(
        &mut ws,
        &format!(r#"{{"a":"subscribe","v":[{}]}}"#, all.join(",")),
    )
    .await;
    next_packets(&mut ws).await; // the snapshot
    let (mut frames, mut packets) = (0usize, 0usize);
    let end = tokio::time::Instant::now() + Duration::from_secs(1);
    while tokio::time::Instant::now() < end {
        if let Message::Binary(frame) = next(&mut ws).await
            && frame.len() > 2
        {
            frames += 1;
            packets += decode(&frame).len();
        }
    }
    // 200 timer ticks of 10 updates each (± the tick in flight at either end).
    assert!((190..=210).contains(&frames), "{frames} frames");
    assert!((1_900..=2_100).contains(&packets), "{packets} packets");
}
