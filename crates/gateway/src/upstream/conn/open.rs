//! One attempt at a live socket: the pre-flight token check, the wire's preparation, the
//! WebSocket upgrade and, for brokers that log in on the socket, the login, with a refusal
//! classified over REST. Its [`Outcome`] goes to the connection machine, which says what next;
//! what happens once the socket is live is `live.rs`'s.

use super::{ConnIo, ConnParams, Ws, send_all};
use crate::brokers::TokenVerdict;
use crate::brokers::wire::{Inbound, Wire, WireError};
use crate::model::secret::CurrentToken;
use crate::upstream::state::AttemptError;
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

/// How an attempt ended.
pub(super) enum Outcome {
    /// The socket is up and the broker accepted it.
    Connected(Ws),
    /// The token was rejected (pre-flight, or a refusal classified over REST).
    Rejected,
    /// Any other failure.
    Failed(AttemptError),
    Shutdown,
}

/// The error of an attempt that found no token to use (the token was withdrawn between the
/// machine's decision and the attempt).
pub(super) fn no_token() -> AttemptError {
    AttemptError::Prepare("no access token".into())
}

/// One attempt: from a token to a socket the broker accepted.
pub(super) async fn attempt<W: Wire>(
    wire: &mut W,
    io: &ConnIo,
    p: &ConnParams,
    token: &CurrentToken,
    preflight: bool,
) -> Outcome {
    let a = Attempt { io, p, token };
    if preflight && let Some(o) = a.preflight().await {
        return o;
    }
    if let Err(o) = a.prepare(wire).await {
        return o;
    }
    let mut ws = match a.upgrade(wire).await {
        Ok(ws) => ws,
        Err(o) => return o,
    };
    match a.log_in(wire, &mut ws).await {
        Ok(()) => Outcome::Connected(ws),
        Err(o) => o,
    }
}

/// What one attempt works with.
struct Attempt<'a> {
    io: &'a ConnIo,
    p: &'a ConnParams,
    token: &'a CurrentToken,
}

impl Attempt<'_> {
    /// Pre-flight: asks REST whether the token is still good before opening a socket with it
    /// (a rejected token must not produce a 403 storm). Only a rejection stops the attempt.
    async fn preflight(&self) -> Option<Outcome> {
        let verdict = tokio::select! {
            biased;
            () = self.io.shutdown.cancelled() => return Some(Outcome::Shutdown),
            v = self.io.checker.check(self.token.token.clone()) => v,
        };
        (verdict == TokenVerdict::Rejected).then_some(Outcome::Rejected)
    }

    /// Broker-specific preparation (Fyers: resolve symbols to topics over REST) happens before
    /// the socket opens, so the socket never idles waiting for it. A no-op for Kite.
    async fn prepare<W: Wire>(&self, wire: &mut W) -> Result<(), Outcome> {
        let demand = self.io.demand.borrow().clone();
        let prepared = tokio::select! {
            biased;
            () = self.io.shutdown.cancelled() => return Err(Outcome::Shutdown),
            r = wire.prepare(&self.token.token, &demand, true) => r,
        };
        let Err(e) = prepared else {
            return Ok(());
        };
        let error = AttemptError::Prepare(e.to_string());
        Err(match e {
            WireError::Auth(_) => self.classify_refusal(error).await,
            WireError::Unavailable(_) => Outcome::Failed(error),
        })
    }

    /// Opens the WebSocket with the token.
    async fn upgrade<W: Wire>(&self, wire: &mut W) -> Result<Ws, Outcome> {
        let url = wire.url(self.token.token.expose_secret());
        let connected = tokio::select! {
            biased;
            () = self.io.shutdown.cancelled() => return Err(Outcome::Shutdown),
            r = connect(&url, self.p.connect_timeout) => r,
        };
        match connected {
            Ok(ws) => {
                self.io.record_connected();
                Ok(ws)
            }
            // Is it the token, or is the WebSocket refused for another reason?
            Err(e @ AttemptError::Upgrade { status: 403 }) => Err(self.classify_refusal(e).await),
            Err(e) => Err(Outcome::Failed(e)),
        }
    }

    /// Brokers that log in on the socket (Fyers) are connected only once the login is
    /// accepted; a refused or unanswered login is classified like a 403. Kite sends nothing
    /// here and has no handshake.
    async fn log_in<W: Wire>(&self, wire: &mut W, ws: &mut Ws) -> Result<(), Outcome> {
        let mut opening = Vec::new();
        wire.on_open(self.token.token.expose_secret(), &mut opening);
        let opened = match wire.handshake_timeout() {
            Some(limit) => tokio::select! {
                biased;
                () = self.io.shutdown.cancelled() => return Err(Outcome::Shutdown),
                r = handshake(wire, ws, &mut opening, limit, self.io) => r,
            },
            None => send_all(ws, &mut opening, self.p.feed.liveness_timeout)
                .await
                .map_err(|d| d.to_string()),
        };
        match opened {
            Ok(()) => Ok(()),
            Err(detail) => Err(self.classify_refusal(AttemptError::Refused(detail)).await),
        }
    }

    /// The broker turned the connection down (a 403 upgrade, a refused login, a rejected
    /// token): asks REST whether it is the token. Otherwise (the socket is refused for another
    /// reason, or REST cannot tell) an ordinary failed attempt.
    async fn classify_refusal(&self, error: AttemptError) -> Outcome {
        // The check may take the REST timeout; shutdown must not wait for it.
        let verdict = tokio::select! {
            biased;
            () = self.io.shutdown.cancelled() => return Outcome::Shutdown,
            v = self.io.checker.check(self.token.token.clone()) => v,
        };
        match verdict {
            TokenVerdict::Rejected => Outcome::Rejected,
            TokenVerdict::Valid => Outcome::Failed(error),
            TokenVerdict::Unknown(e) => {
                tracing::debug!(shard = self.p.shard, error = %e, "could not classify a refused session (REST unreachable)");
                Outcome::Failed(error)
            }
        }
    }
}

/// Sends the opening frames, then reads until the broker accepts or refuses the login. Every
/// other outcome (no answer within `limit`, a close, a socket error) is a refusal too: the
/// caller classifies it with a REST token check.
async fn handshake<W: Wire>(
    wire: &mut W,
    ws: &mut Ws,
    opening: &mut Vec<Message>,
    limit: Duration,
    io: &ConnIo,
) -> Result<(), String> {
    send_all(ws, opening, limit)
        .await
        .map_err(|d| d.to_string())?;
    let deadline = Instant::now() + limit;
    // Nothing is subscribed yet, so no ticks can arrive; anything decoded is dropped.
    let mut scratch = Vec::new();
    loop {
        let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => {
                return Err(format!(
                    "no answer to the login within {} s",
                    limit.as_secs()
                ));
            }
            Ok(None) | Ok(Some(Ok(Message::Close(_)))) => {
                return Err("the broker closed the socket during the login".into());
            }
            Ok(Some(Err(e))) => return Err(format!("socket error during the login: {e}")),
            Ok(Some(Ok(m))) => m,
        };
        let received = io.clock.now();
        io.record(&msg, received);
        match wire.decode(&msg, received.timestamp_millis(), &mut scratch) {
            Inbound::Accepted => return Ok(()),
            Inbound::Refused { detail } => return Err(detail),
            _ => scratch.clear(),
        }
    }
}

/// Opens the WebSocket. Never includes the URL (it carries the token) in errors.
async fn connect(url: &str, timeout: Duration) -> Result<Ws, AttemptError> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(16 << 20))
        .max_frame_size(Some(16 << 20));
    let fut = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Err(AttemptError::Connect(format!(
            "no WebSocket handshake within {} s",
            timeout.as_secs()
        ))),
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(resp))) => Err(AttemptError::Upgrade {
            status: resp.status().as_u16(),
        }),
        Ok(Err(e)) => Err(AttemptError::Connect(describe(&e, url))),
    }
}

/// A tungstenite error as text naming its root cause and the host, never the URL (it carries
/// the token).
fn describe(e: &tungstenite::Error, url: &str) -> String {
    let host = reqwest::Url::parse(url).ok().and_then(|u| {
        let host = u.host_str()?.to_string();
        Some(match u.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        })
    });
    match e {
        tungstenite::Error::Url(_) => {
            "invalid WebSocket URL (check KITE_WS_URL or FYERS_WS_URL)".into()
        }
        tungstenite::Error::Io(io) => feedgate_market::transport::describe(io, host.as_deref()),
        tungstenite::Error::Tls(t) => feedgate_market::transport::describe(t, host.as_deref()),
        other => other.to_string(),
    }
}
