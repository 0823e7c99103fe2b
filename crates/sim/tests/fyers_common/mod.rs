//! Helpers for the Fyers integration tests: speak the data socket with tokio-tungstenite and
//! the `feedgate_fyers` codec (client frames encoded, server frames decoded and merged), and
//! call the Fyers REST endpoints with reqwest.

#![allow(dead_code)]

use bytes::Bytes;
use feedgate_fyers::AccessToken;
use feedgate_fyers::hsm::{
    AuthRequest, Channel, ChannelMask, ClientFrame, DataFrame, FeedMode, ModeRequest, ServerFrame,
    StatusKind, TopicName, TopicRequest,
};
use feedgate_sim::Sim;
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub const APP_ID: &str = "FEEDGATESIM-100";
pub const SECRET: &str = "feedgate-sim-fyers-secret";
pub const REDIRECT: &str = "http://127.0.0.1:8080/api/auth/callback";
pub const SBIN: &str = "sf|nse_cm|3045";
pub const SBIN_DEPTH: &str = "dp|nse_cm|3045";
pub const INFY: &str = "sf|nse_cm|1594";
pub const NIFTY: &str = "if|nse_cm|Nifty 50";
pub const SENSEX: &str = "if|bse_cm|SENSEX";

/// Generous bound for anything that should happen "at once" (tokio time).
pub const WAIT: Duration = Duration::from_secs(10);

/// Connects to the data socket; `Err(status)` when the upgrade was refused.
pub async fn try_connect_fyers(sim: &Sim, authorization: Option<&str>) -> Result<Ws, u16> {
    let mut request = sim.fyers_ws_url().into_client_request().unwrap();
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert("authorization", value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async_with_config(request, None, true).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("connect to the data socket failed: {other}"),
    }
}

pub async fn connect_fyers(sim: &Sim) -> Ws {
    try_connect_fyers(sim, None).await.unwrap()
}

pub async fn send(ws: &mut Ws, frame: &ClientFrame) {
    ws.send(Message::binary(frame.to_bytes().unwrap()))
        .await
        .unwrap();
}

pub async fn send_raw(ws: &mut Ws, bytes: &[u8]) {
    ws.send(Message::binary(Bytes::copy_from_slice(bytes)))
        .await
        .unwrap();
}

/// The next binary message, failing the test after [`WAIT`].
pub async fn next_binary(ws: &mut Ws) -> Bytes {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no message in time")
            .expect("connection ended")
            .expect("websocket error");
        if let Message::Binary(bytes) = msg {
            return bytes;
        }
    }
}

/// The next server frame, decoded.
pub async fn next_frame(ws: &mut Ws) -> ServerFrame {
    let bytes = next_binary(ws).await;
    ServerFrame::decode(&bytes).unwrap_or_else(|e| panic!("undecodable frame {bytes:02x?}: {e}"))
}

/// The next data frame (status replies and other frames skipped).
pub async fn next_data(ws: &mut Ws) -> DataFrame {
    loop {
        if let ServerFrame::Data(data) = next_frame(ws).await {
            return data;
        }
    }
}

/// The next status reply of `kind`; returns whether it is `K`.
pub async fn next_status(ws: &mut Ws, kind: StatusKind) -> bool {
    loop {
        if let ServerFrame::Status(status) = next_frame(ws).await
            && status.kind == kind
        {
            return status.status.is_ok();
        }
    }
}

pub fn auth_frame(token: &str) -> ClientFrame {
    let token = AccessToken::parse(token).unwrap();
    ClientFrame::Auth(AuthRequest::new(
        token.hsm_key().clone(),
        "feedgate-sim-tests",
    ))
}

/// Sends auth and returns the reply's status and ack_count.
pub async fn login(ws: &mut Ws, token: &str) -> (bool, u32) {
    send(ws, &auth_frame(token)).await;
    loop {
        if let ServerFrame::AuthReply(reply) = next_frame(ws).await {
            return (reply.status.is_ok(), reply.ack_count);
        }
    }
}

/// A connection authenticated with a fresh token.
pub async fn logged_in(sim: &Sim) -> Ws {
    let mut ws = connect_fyers(sim).await;
    let (ok, _) = login(&mut ws, &sim.mint_fyers_token()).await;
    assert!(ok, "auth refused");
    ws
}

pub fn topics(names: &[&str]) -> Vec<TopicName> {
    names.iter().map(|n| TopicName::new(*n).unwrap()).collect()
}

pub fn subscribe_frame(names: &[&str], channel: u8) -> ClientFrame {
    ClientFrame::Subscribe(TopicRequest {
        topics: topics(names),
        channel: Channel::new(channel).unwrap(),
    })
}

pub fn mode_frame(mode: FeedMode, channel: u8) -> ClientFrame {
    ClientFrame::Mode(ModeRequest {
        channels: ChannelMask::single(Channel::new(channel).unwrap()),
        mode,
    })
}

/// Subscribes on the default channel and waits for the status reply.
pub async fn subscribe(ws: &mut Ws, names: &[&str]) -> bool {
    send(ws, &subscribe_frame(names, Channel::DEFAULT.get())).await;
    next_status(ws, StatusKind::Subscribe).await
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The bare JWT of an `APPID:JWT` token.
pub fn jwt(token: &str) -> String {
    token.split_once(':').unwrap().1.to_owned()
}

/// Polls `condition` every 10 ms (tokio time) until it holds, failing after [`WAIT`].
pub async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
