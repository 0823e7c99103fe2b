//! The aggregate tick rate benchmarks rely on (`SimConfig::rate`), measured over the wire by one
//! client in real time. Alone in its test binary so that no other test competes for the CPU.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use feedgate_sim::SimConfig;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregate_rate_mode_sustains_100k_ticks_per_second() {
    let sim = start(SimConfig {
        rate: Some(100_000.0),
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
    next_packets(&mut ws).await;
    let started = std::time::Instant::now();
    let span = Duration::from_secs(3);
    let mut received = 0usize;
    while started.elapsed() < span {
        if let Message::Binary(frame) = next(&mut ws).await
            && frame.len() > 2
        {
            // The frame's packet count (decoding 300k packets would measure the test, not
            // the simulator).
            received += usize::from(u16::from_be_bytes([frame[0], frame[1]]));
        }
    }
    let rate = received as f64 / started.elapsed().as_secs_f64();
    let state = sim.state();
    println!(
        "aggregate rate: {rate:.0} ticks/s received by one client; sent {} ticks in {} frames, {} batches skipped",
        state.ticks_sent, state.frames_sent, state.batches_skipped
    );
    // 100k/s target; the bound leaves room for a loaded CI machine running a debug build
    // while still failing for any per-instrument pace (~61 ticks/s).
    assert!(rate > 60_000.0, "only {rate:.0} ticks/s");
}
