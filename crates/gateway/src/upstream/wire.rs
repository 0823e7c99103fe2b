//! What the broker-independent connection loop ([`super::conn`]) needs from a broker's wire
//! protocol: the URL, the frames that change subscriptions, and decoding of inbound frames.
//! Kite implements it in [`super::kite`].

use crate::hub::Demand;
use crate::tick::Tick;
use tokio_tungstenite::tungstenite::Message;

/// What one inbound frame was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// Market data (ticks were appended).
    Data { skipped: usize },
    /// A keep-alive: proves the socket is alive, carries no data.
    Heartbeat,
    /// A frame that could not be decoded in whole or part; the good part was appended.
    Malformed { detail: String },
    /// A broker text message worth logging (an error string or an alert).
    Notice { error: bool, text: String },
    /// Something to ignore (order updates, control frames).
    Ignored,
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
}
