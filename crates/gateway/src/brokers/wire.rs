//! What the broker-independent connection loop (`upstream::conn`, the layer above) needs from a
//! broker's wire protocol: the URL, the frames that change subscriptions, and decoding of
//! inbound frames. Kite implements it in [`super::kite::wire`], Fyers in [`super::fyers::wire`];
//! the REST side of a broker is [`super::BrokerApi`].
//!
//! The first three methods are all Kite needs. The rest have do-nothing defaults (so Kite keeps
//! exactly its behaviour) and exist for brokers whose sockets are more involved (Fyers):
//! - [`Wire::prepare`]: async work before `diff` can cover a demand (symbol → topic resolution
//!   over REST; `diff` itself is synchronous), with [`Wire::covers`] saying what it could cover
//!   and [`Wire::coalesce`] how long to gather demand changes before preparing them;
//! - [`Wire::on_open`] + [`Wire::handshake_timeout`]: a login on the socket, answered by an
//!   [`Inbound::Accepted`] or [`Inbound::Refused`] before anything is subscribed;
//! - [`Wire::drain_outbound`]: frames decoding produced (acknowledgements);
//! - [`Wire::keepalive`]: periodic frames (application pings, liveness probes);
//! - [`Wire::recording_context`]: what a recording needs to decode the frames later.

use crate::model::demand::Demand;
use crate::model::order::OrderUpdate;
use crate::model::tick::{Tick, Token};
use secrecy::SecretString;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// What one inbound frame was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// Market data (ticks were appended). `skipped`: packets or records in it that were
    /// consumed without a tick (an unknown packet kind, a topic nobody subscribed).
    Data { skipped: usize },
    /// A keep-alive: proves the socket is alive, carries no data.
    Heartbeat,
    /// A frame that could not be decoded in whole or part; the good part was appended.
    Malformed { detail: String },
    /// A broker text message worth logging (an error string or an alert).
    Notice { error: bool, text: String },
    /// An order update (Kite: a postback on the ticker socket), for clients with the `orders`
    /// scope. Not market data: it does not make the feed fresh.
    Order(OrderUpdate),
    /// Something to ignore (control frames).
    Ignored,
    /// The broker accepted the login on the socket (brokers with a [`Wire::handshake_timeout`]).
    Accepted,
    /// The broker refused the login on the socket, or ended the connection: the token is
    /// suspect.
    Refused { detail: String },
}

/// Why [`Wire::prepare`] could not get a demand ready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The broker rejected the access token.
    #[error("the broker rejected the access token: {0}")]
    Auth(String),
    /// Anything else (network, 5xx, rate limit): try again with backoff.
    #[error("{0}")]
    Unavailable(String),
}

impl WireError {
    pub fn is_auth(&self) -> bool {
        matches!(self, Self::Auth(_))
    }
}

/// A broker's streaming protocol, sans I/O.
pub trait Wire: Send + 'static {
    /// The WebSocket URL for the given access token. The token is part of Kite's URL, so the
    /// caller must never log the result.
    fn url(&self, access_token: &str) -> String;

    /// Frames that take a socket subscribed to `from` to `to` (`from` is empty right after a
    /// connect, which makes this the resubscribe-everything path too). Batched per the broker's
    /// limits.
    fn diff(&self, from: &Demand, to: &Demand, out: &mut Vec<Message>);

    /// Decodes one inbound frame, appending ticks to `ticks`.
    fn decode(&mut self, msg: &Message, received_ms: i64, ticks: &mut Vec<Tick>) -> Inbound;

    /// Gets ready for `diff(_, demand)`. Called right before every `diff`, and before every
    /// connection attempt with `fresh = true` (forget what earlier connections learnt and start
    /// over, so a reconnect also repairs stale knowledge). Must be cheap when nothing is new.
    fn prepare(
        &mut self,
        access_token: &SecretString,
        demand: &Demand,
        fresh: bool,
    ) -> impl Future<Output = Result<(), WireError>> + Send {
        let _ = (access_token, demand, fresh);
        async { Ok(()) }
    }

    /// Whether `diff` can subscribe `token` now. A connection counts as subscribed only what
    /// the wire covers, so instruments a failed `prepare` left out are subscribed by a later
    /// one. Everything, unless the wire needs `prepare` (Fyers: a resolved symbol).
    fn covers(&self, token: Token) -> bool {
        let _ = token;
        true
    }

    /// How long a live connection gathers demand changes before preparing and subscribing
    /// them in one go (Fyers: one symbol-token call for a burst of new subscriptions). Zero:
    /// at once.
    fn coalesce(&self) -> Duration {
        Duration::ZERO
    }

    /// Frames to send as soon as the socket is open, before anything is subscribed (a login).
    /// Also the start of a new connection for any per-connection state.
    fn on_open(&mut self, access_token: &str, out: &mut Vec<Message>) {
        let _ = (access_token, out);
    }

    /// How long to wait after [`Wire::on_open`] for [`Inbound::Accepted`] before subscribing;
    /// no answer in time counts as [`Inbound::Refused`]. `None`: the upgrade alone is the
    /// acceptance (Kite).
    fn handshake_timeout(&self) -> Option<Duration> {
        None
    }

    /// Frames the last [`Wire::decode`] produced for the broker (acknowledgements).
    fn drain_outbound(&mut self, out: &mut Vec<Message>) {
        let _ = out;
    }

    /// What a recording must keep, after each subscription change, to decode the frames that
    /// follow without this wire's REST-learnt state (Fyers: topic → instrument). `None`: the
    /// frames are self-describing (Kite).
    fn recording_context(&self) -> Option<Vec<u8>> {
        None
    }

    /// Called about every 250 ms on a live socket: appends whatever keep-alive frames are due
    /// at `now`, given that nothing arrived for `silent_for`.
    fn keepalive(&mut self, now: Instant, silent_for: Duration, out: &mut Vec<Message>) {
        let _ = (now, silent_for, out);
    }
}
