//! Helpers shared by the integration tests: start a simulator on port 0, speak the ticker wire
//! with tokio-tungstenite, decode frames with feedgate-kite, call REST with reqwest.

#![allow(dead_code)]

use bytes::Bytes;
use feedgate_kite::{Message as KiteMessage, Packet, parse_message};
use feedgate_sim::{Sim, SimConfig};
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub const API_KEY: &str = "feedgate-sim";
pub const INFY: u32 = 408_065;
pub const RELIANCE: u32 = 738_561;
pub const SBIN: u32 = 779_521;
pub const NIFTY: u32 = 256_265;
pub const SENSEX: u32 = 265;

/// Generous bound for anything that should happen "at once" (tokio time).
pub const WAIT: Duration = Duration::from_secs(10);

/// A running simulator that shuts down when dropped.
pub struct TestSim {
    pub sim: Sim,
    shutdown: CancellationToken,
}

impl Drop for TestSim {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl std::ops::Deref for TestSim {
    type Target = Sim;
    fn deref(&self) -> &Sim {
        &self.sim
    }
}

pub async fn start(cfg: SimConfig) -> TestSim {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = CancellationToken::new();
    let sim = Sim::start(cfg, listener, shutdown.clone()).await.unwrap();
    TestSim { sim, shutdown }
}

pub async fn start_default() -> TestSim {
    start(SimConfig::default()).await
}

pub fn ticker_url(sim: &Sim, access_token: &str) -> String {
    format!(
        "{}/?api_key={API_KEY}&access_token={access_token}",
        sim.ws_url()
    )
}

/// Connects; `Err(status)` when the upgrade was refused with an HTTP status.
pub async fn try_connect(url: &str) -> Result<Ws, u16> {
    match tokio_tungstenite::connect_async_with_config(url, None, true).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("connect to {url} failed: {other}"),
    }
}

pub async fn connect(sim: &Sim) -> Ws {
    let token = sim.mint_access_token();
    try_connect(&ticker_url(sim, &token)).await.unwrap()
}

pub async fn send_text(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
}

/// The next message, failing the test after [`WAIT`].
pub async fn next(ws: &mut Ws) -> Message {
    tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("no message in time")
        .expect("connection ended")
        .expect("websocket error")
}

/// The next binary message that carries packets (heartbeats and text skipped), decoded.
pub async fn next_packets(ws: &mut Ws) -> (Bytes, Vec<Packet>) {
    loop {
        if let Message::Binary(frame) = next(ws).await
            && frame.len() > 1
        {
            let packets = decode(&frame);
            return (frame, packets);
        }
    }
}

/// Decodes one binary message; panics on a malformed frame.
pub fn decode(frame: &[u8]) -> Vec<Packet> {
    match parse_message(frame).unwrap() {
        KiteMessage::Heartbeat => Vec::new(),
        KiteMessage::Packets(packets) => packets.map(|p| p.unwrap()).collect(),
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn auth_header(access_token: &str) -> String {
    format!("token {API_KEY}:{access_token}")
}

/// Tick size in wire units, from the simulator's universe.
pub fn tick_size(sim: &Sim, token: u32) -> i64 {
    sim.instruments()
        .iter()
        .find(|i| i.token == token)
        .map(|i| i.tick_size)
        .unwrap()
}
