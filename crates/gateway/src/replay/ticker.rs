//! The replay's broker ticker socket on loopback: the gateway's normal Kite upstream connects
//! to it with the replay token and receives the recorded frames as they were recorded, paced
//! by the [`Feed`]. Subscriptions are read and ignored (the recording holds what was subscribed
//! then). One socket streams at a time: a second connection (the gateway reconnecting) waits
//! for the first to close and continues where it stopped. After the range's end the socket
//! sends Kite's 1-byte heartbeat every second, so the gateway stays connected and calm while
//! the replayed day is looked at.

use super::broker::REPLAY_TOKEN;
use super::feed::{Feed, Summary};
use crate::store::recording::format::{Frame, FrameKind};
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, watch};
use tokio_util::sync::CancellationToken;

/// Kite's heartbeat interval.
const HEARTBEAT: Duration = Duration::from_secs(1);

struct Shared {
    feed: Mutex<Feed>,
    done: watch::Sender<Option<Summary>>,
    shutdown: CancellationToken,
}

/// A running replay ticker server.
#[derive(Debug)]
pub struct TickerServer {
    addr: SocketAddr,
    done: watch::Receiver<Option<Summary>>,
    shutdown: CancellationToken,
}

impl TickerServer {
    /// Serves `feed` on `listener` until `shutdown`.
    pub fn start(
        listener: tokio::net::TcpListener,
        feed: Feed,
        shutdown: CancellationToken,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (done, done_rx) = watch::channel(None);
        let shared = Arc::new(Shared {
            feed: Mutex::new(feed),
            done,
            shutdown: shutdown.clone(),
        });
        let app = axum::Router::new()
            .route("/", axum::routing::get(upgrade))
            .with_state(shared);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "the replay ticker server stopped");
            }
        });
        Ok(Self {
            addr,
            done: done_rx,
            shutdown,
        })
    }

    /// The URL to give the gateway as its Kite WebSocket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The same server over HTTP (anything but the socket answers 404).
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits for the end of the range and says what was sent.
    pub async fn finished(&self) -> Summary {
        let mut rx = self.done.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(s) => s.clone().unwrap_or_default(),
            // The server is gone (shut down): nothing more will be sent.
            Err(_) => Summary::default(),
        }
    }

    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}

async fn upgrade(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    if q.get("access_token").map(String::as_str) != Some(REPLAY_TOKEN) {
        return (StatusCode::FORBIDDEN, "not the replay's token").into_response();
    }
    ws.on_upgrade(move |socket| stream(shared, socket))
}

/// Streams the feed into one socket, then heartbeats, until either side stops.
async fn stream(shared: Arc<Shared>, socket: WebSocket) {
    let (mut tx, mut rx) = socket.split();
    let closed = CancellationToken::new();
    // Reading keeps pings answered and notices the close; subscriptions are ignored.
    let reader_closed = closed.clone();
    tokio::spawn(async move {
        while let Some(Ok(_)) = rx.next().await {}
        reader_closed.cancel();
    });
    let stop = async {
        tokio::select! {
            _ = closed.cancelled() => {}
            _ = shared.shutdown.cancelled() => {}
        }
    };
    tokio::pin!(stop);
    let mut feed = tokio::select! {
        f = shared.feed.lock() => f,
        _ = &mut stop => return,
    };
    loop {
        let next = tokio::select! {
            f = feed.next() => f,
            _ = &mut stop => return,
        };
        let Some(frame) = next else { break };
        let Some(msg) = message(&frame) else {
            feed.sent(&frame);
            continue;
        };
        if tx.send(msg).await.is_err() {
            feed.unsent(frame);
            return;
        }
        feed.sent(&frame);
    }
    if let Some(summary) = feed.finished() {
        shared.done.send_if_modified(|d| {
            let first = d.is_none();
            if first {
                *d = Some(summary);
            }
            first
        });
    }
    drop(feed);
    heartbeats(&mut tx, &mut stop).await;
}

async fn heartbeats(
    tx: &mut (impl futures_util::Sink<Message> + Unpin),
    stop: &mut (impl std::future::Future<Output = ()> + Unpin),
) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if tx.send(Message::Binary(vec![0u8].into())).await.is_err() {
                    return;
                }
            }
            _ = &mut *stop => return,
        }
    }
}

/// The WebSocket message a recorded frame was; `None` for a text frame that is not UTF-8
/// (counted as sent: the live gateway would have dropped it as malformed too).
fn message(frame: &Frame) -> Option<Message> {
    match frame.kind {
        FrameKind::Binary => Some(Message::Binary(frame.data.clone())),
        FrameKind::Text => Utf8Bytes::try_from(frame.data.clone())
            .ok()
            .map(Message::Text),
        FrameKind::Connected | FrameKind::Context => None,
    }
}
