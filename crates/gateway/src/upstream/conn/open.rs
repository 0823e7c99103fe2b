//! One attempt at a live socket: the pre-flight token check, the wire's preparation, the
//! WebSocket upgrade and, for brokers that log in on the socket, the login. Each way it can
//! fail ends in the connection's failure bookkeeping (`conn.rs`), which says when to try again;
//! what happens once the socket is live is `live.rs`'s.

use super::{Conn, ConnIo, Retry, Ws, send_all};
use crate::brokers::TokenVerdict;
use crate::brokers::wire::{Inbound, Wire, WireError};
use crate::model::secret::CurrentToken;
use crate::upstream::state::{AttemptError, FeedEvent, FeedState};
use futures_util::StreamExt;
use secrecy::ExposeSecret;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

impl Conn {
    /// Gets from a token to a socket the broker accepted. `Err`: when to try again.
    pub(super) async fn attempt<W: Wire>(
        &mut self,
        wire: &mut W,
        io: &ConnIo,
        token: &CurrentToken,
    ) -> Result<Ws, Retry> {
        self.preflight(io, token).await?;
        self.announce(io);
        self.prepare(wire, io, token).await?;
        let mut ws = self.upgrade(wire, io, token).await?;
        self.log_in(wire, &mut ws, io, token).await?;
        Ok(ws)
    }

    /// Pre-flight: after a failure, and before the first attempt of a run, ask REST whether
    /// the token is still good before opening a socket with it (a rejected token must not
    /// produce a 403 storm).
    async fn preflight(&mut self, io: &ConnIo, token: &CurrentToken) -> Result<(), Retry> {
        if self.backoff.failures() == 0 && !self.preflight_due {
            return Ok(());
        }
        self.preflight_due = false;
        let verdict = tokio::select! {
            biased;
            () = io.shutdown.cancelled() => return Err(None),
            v = io.checker.check(token.token.clone()) => v,
        };
        if verdict == TokenVerdict::Rejected {
            return Err(Some(self.auth_rejected(io, token)));
        }
        Ok(())
    }

    /// The attempt starts: in the status and the events, and counted as a reconnect once a
    /// connection has worked.
    fn announce(&self, io: &ConnIo) {
        let attempt = self.backoff.failures() + 1;
        io.status.send_modify(|s| {
            s.state = FeedState::Connecting;
            s.idle = false;
        });
        io.emit(FeedEvent::Connecting {
            shard: self.p.shard,
            attempt,
        });
        if self.connected_once {
            io.status.send_modify(|s| s.reconnects += 1);
            metrics::counter!("feedgate_upstream_reconnects_total").increment(1);
        }
    }

    /// Broker-specific preparation (Fyers: resolve symbols to topics over REST) happens before
    /// the socket opens, so the socket never idles waiting for it. A no-op for Kite.
    async fn prepare<W: Wire>(
        &mut self,
        wire: &mut W,
        io: &ConnIo,
        token: &CurrentToken,
    ) -> Result<(), Retry> {
        let demand = io.demand.borrow().clone();
        let prepared = tokio::select! {
            biased;
            () = io.shutdown.cancelled() => return Err(None),
            r = wire.prepare(&token.token, &demand, true) => r,
        };
        let Err(e) = prepared else {
            return Ok(());
        };
        let error = AttemptError::Prepare(e.to_string());
        Err(match e {
            WireError::Auth(_) => self.classify_refusal(io, token, error).await,
            WireError::Unavailable(_) => Some(self.failed(io, error)),
        })
    }

    /// Opens the WebSocket with the token.
    async fn upgrade<W: Wire>(
        &mut self,
        wire: &mut W,
        io: &ConnIo,
        token: &CurrentToken,
    ) -> Result<Ws, Retry> {
        let url = wire.url(token.token.expose_secret());
        let connected = tokio::select! {
            biased;
            () = io.shutdown.cancelled() => return Err(None),
            r = connect(&url, self.p.connect_timeout) => r,
        };
        match connected {
            Ok(ws) => Ok(ws),
            // Is it the token, or is the WebSocket refused for another reason?
            Err(e @ AttemptError::Upgrade { status: 403 }) => {
                Err(self.classify_refusal(io, token, e).await)
            }
            Err(e) => Err(Some(self.failed(io, e))),
        }
    }

    /// Brokers that log in on the socket (Fyers) are connected only once the login is
    /// accepted; a refused or unanswered login is classified like a 403. Kite sends nothing
    /// here and has no handshake.
    async fn log_in<W: Wire>(
        &mut self,
        wire: &mut W,
        ws: &mut Ws,
        io: &ConnIo,
        token: &CurrentToken,
    ) -> Result<(), Retry> {
        let mut opening = Vec::new();
        wire.on_open(token.token.expose_secret(), &mut opening);
        let opened = match wire.handshake_timeout() {
            Some(limit) => tokio::select! {
                biased;
                () = io.shutdown.cancelled() => return Err(None),
                r = handshake(wire, ws, &mut opening, limit, io) => r,
            },
            None => send_all(ws, &mut opening, self.p.feed.liveness_timeout)
                .await
                .map_err(|d| d.to_string()),
        };
        match opened {
            Ok(()) => Ok(()),
            Err(detail) => Err(self
                .classify_refusal(io, token, AttemptError::Refused(detail))
                .await),
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
        match wire.decode(&msg, io.clock.now_ms(), &mut scratch) {
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
        Ok(Err(e)) => Err(AttemptError::Connect(describe(&e))),
    }
}

/// A tungstenite error as text without any URL in it.
fn describe(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Io(io) => io.to_string(),
        tungstenite::Error::Url(_) => {
            "invalid WebSocket URL (check KITE_WS_URL or FYERS_WS_URL)".into()
        }
        tungstenite::Error::Tls(t) => format!("TLS: {t}"),
        other => other.to_string(),
    }
}
