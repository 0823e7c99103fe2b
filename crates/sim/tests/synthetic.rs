//! `SimConfig::extra_instruments`: synthetic NSE stocks served in the instrument dump, the
//! quote endpoints and the ticker, updating rarely so that thousands stay cheap.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use feedgate_kite::Mode;
use feedgate_sim::SimConfig;
use serde_json::Value;
use std::time::Duration;

const SYN0001: u32 = (100_001 << 8) | 1;
const SYN3500: u32 = (103_500 << 8) | 1;

#[tokio::test(start_paused = true)]
async fn synthetic_instruments_are_served_everywhere() {
    let sim = start(SimConfig {
        extra_instruments: 3_500,
        ..SimConfig::default()
    })
    .await;
    let plain = start_default().await;
    assert_eq!(sim.instruments().len(), plain.instruments().len() + 3_500);

    // The dump lists them with consistent tokens.
    let csv = http()
        .get(format!("{}/instruments", sim.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 1 + sim.instruments().len());
    assert!(
        csv.lines()
            .any(|l| l.starts_with(&format!("{SYN3500},103500,SYN3500,SYNTHETIC 3500,")))
    );

    // Quotes know them.
    let token = sim.mint_access_token();
    let body: Value = http()
        .get(format!("{}/quote?i=NSE:SYN0001", sim.base_url()))
        .header("authorization", auth_header(&token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["NSE:SYN0001"]["instrument_token"], SYN0001);

    // The ticker streams them: a snapshot on subscribe, then (rare) updates.
    let mut ws = connect(&sim).await;
    send_text(&mut ws, &format!(r#"{{"a":"subscribe","v":[{SYN3500}]}}"#)).await;
    let (_, packets) = next_packets(&mut ws).await;
    assert_eq!(packets.len(), 1);
    assert_eq!(packets[0].token(), SYN3500);
    assert_eq!(packets[0].mode(), Mode::Quote);
    let state = sim.state();
    assert_eq!(state.connections[0].subscriptions[0].token, SYN3500);
    // Within ~45 s of market time (1.5 × the mean interval) an update must come.
    let update = tokio::time::timeout(Duration::from_secs(46), next_packets(&mut ws))
        .await
        .expect("a synthetic instrument updates within 1.5 × its mean interval");
    assert_eq!(update.1[0].token(), SYN3500);
}
