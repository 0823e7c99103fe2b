//! `SimConfig::send_observer`: the benchmark hook sees exactly the market-data frames a ticker
//! connection writes, before it writes them.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use feedgate_sim::{SendObserver, SimConfig};
use std::sync::{Arc, Mutex};

#[tokio::test(start_paused = true)]
async fn observer_sees_every_market_frame_before_the_client_does() {
    let seen: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let sink = seen.clone();
    let sim = start(SimConfig {
        send_observer: Some(SendObserver::new(move |frames| {
            sink.lock().unwrap().extend_from_slice(frames);
        })),
        ..SimConfig::default()
    })
    .await;
    let mut ws = connect(&sim).await;
    send_text(
        &mut ws,
        &format!(r#"{{"a":"subscribe","v":[{SBIN},{INFY}]}}"#),
    )
    .await;

    // The subscribe snapshot is not a market update: not observed.
    let (snapshot, _) = next_packets(&mut ws).await;
    assert!(!seen.lock().unwrap().contains(&snapshot));

    for _ in 0..3 {
        let (frame, packets) = next_packets(&mut ws).await;
        assert!(packets.iter().all(|p| [SBIN, INFY].contains(&p.token())));
        assert!(
            seen.lock().unwrap().contains(&frame),
            "every market frame the client gets was observed first"
        );
    }
}
