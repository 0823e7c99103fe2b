//! Starting and stopping: configuration is validated, and cancelling the shutdown token closes
//! ticker sockets with 1001 and stops the listener.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use feedgate_sim::{Sim, SimConfig, SimError};
use futures_util::StreamExt;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn invalid_configuration_is_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = SimConfig {
        speed: -1.0,
        ..SimConfig::default()
    };
    let err = Sim::start(cfg, listener, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, SimError::InvalidConfig(ref m) if m.contains("speed")),
        "{err}"
    );
}

#[tokio::test]
async fn urls_point_at_the_listener() {
    let sim = start_default().await;
    let port = sim.local_addr().port();
    assert_eq!(sim.base_url(), format!("http://127.0.0.1:{port}"));
    assert_eq!(sim.ws_url(), format!("ws://127.0.0.1:{port}"));
    assert_eq!(sim.instruments().len(), 61);
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1001_and_stops_serving() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = CancellationToken::new();
    let sim = Sim::start(SimConfig::default(), listener, shutdown.clone())
        .await
        .unwrap();
    let mut ws = connect(&sim).await;
    shutdown.cancel();
    let close = loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.unwrap().code, CloseCode::Away);
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(sim.local_addr())
        .await
        .is_ok()
    {
        assert!(tokio::time::Instant::now() < deadline, "still accepting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
