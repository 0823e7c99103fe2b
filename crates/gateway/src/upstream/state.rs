//! Feed states and lifecycle events (typed, never strings): what each broker connection
//! ([`super::conn`]) reports, in its [`ShardStatus`] (written through its
//! [`ShardSlot`](super::slot::ShardSlot)) and its [`FeedEvent`]s, and how several connections
//! add up to one feed state. Pure. Read by the layers above: the status monitor and health,
//! the REST fallback, and the auth task (a rejected token, a connection that vouches for one).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The feed state shown in health (DESIGN.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedState {
    Connecting,
    Connected,
    Stale,
    Disconnected,
    Error,
}

impl FeedState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Stale => "stale",
            Self::Disconnected => "disconnected",
            Self::Error => "error",
        }
    }
}

/// Why a live connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disconnect {
    /// No frame at all (not even a heartbeat) within the liveness timeout.
    Dead { silent_for: Duration },
    /// Frames (heartbeats) kept coming but no market data while the market should produce it.
    Stale { no_data_for: Duration },
    /// The broker closed the socket (close frame or EOF).
    Closed { code: Option<u16>, reason: String },
    /// A transport error (reset, protocol violation).
    Error(String),
    /// The scheduler stopped the feed (market closed).
    Stopped,
    /// A new access token arrived; reconnect with it.
    TokenChanged,
    /// feedgate is shutting down.
    Shutdown,
}

impl Disconnect {
    /// The kind of failure this end was, for logging each kind once per failure episode;
    /// `None` for the ends that are not failures (scheduler stop, new token, shutdown).
    pub fn failure_kind(&self) -> Option<FailureKind> {
        match self {
            Self::Dead { .. } => Some(FailureKind::Dead),
            Self::Stale { .. } => Some(FailureKind::Stale),
            Self::Closed { .. } => Some(FailureKind::Closed),
            Self::Error(_) => Some(FailureKind::SocketError),
            Self::Stopped | Self::TokenChanged | Self::Shutdown => None,
        }
    }
}

impl std::fmt::Display for Disconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dead { silent_for } => {
                write!(
                    f,
                    "no frame from the broker for {:.1} s (socket dead)",
                    silent_for.as_secs_f64()
                )
            }
            Self::Stale { no_data_for } => write!(
                f,
                "no market data for {:.0} s while the market is open (feed stale)",
                no_data_for.as_secs_f64()
            ),
            Self::Closed { code, reason } => match code {
                Some(c) => write!(
                    f,
                    "broker closed the socket ({c}{}{reason})",
                    if reason.is_empty() { "" } else { ": " }
                ),
                None => write!(f, "broker closed the socket"),
            },
            Self::Error(e) => write!(f, "socket error: {e}"),
            Self::Stopped => f.write_str("stopped by the scheduler"),
            Self::TokenChanged => f.write_str("a new access token arrived"),
            Self::Shutdown => f.write_str("feedgate is shutting down"),
        }
    }
}

/// Why a connection attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptError {
    /// The WebSocket upgrade was refused with this HTTP status (403: token or WS refused; 429:
    /// too many connections for the api_key).
    Upgrade { status: u16 },
    /// TCP/TLS/handshake failure or timeout.
    Connect(String),
    /// The subscriptions could not be prepared before connecting (Fyers: symbol resolution
    /// over REST failed).
    Prepare(String),
    /// The socket opened but the broker turned the connection down (Fyers: the login on the
    /// socket was refused or not answered).
    Refused(String),
}

impl AttemptError {
    pub fn kind(&self) -> FailureKind {
        match self {
            Self::Upgrade { status } => FailureKind::Upgrade(*status),
            Self::Connect(_) => FailureKind::Connect,
            Self::Prepare(_) => FailureKind::Prepare,
            Self::Refused(_) => FailureKind::Refused,
        }
    }
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Upgrade { status: 429 } => f.write_str(
                "broker refused the WebSocket with 429: too many connections for this api_key (Kite allows 3); close other apps using the same key",
            ),
            Self::Upgrade { status } => write!(f, "broker refused the WebSocket upgrade with HTTP {status}"),
            Self::Connect(e) => write!(f, "cannot connect: {e}"),
            Self::Prepare(e) => write!(f, "cannot prepare the subscriptions: {e}"),
            Self::Refused(e) => write!(f, "the broker refused the session: {e}"),
        }
    }
}

/// What kind of failure ended a connection or an attempt: stable across repeats (unlike the
/// messages, which carry durations and details), so each kind is logged once per failure
/// episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    Dead,
    Stale,
    Closed,
    SocketError,
    Upgrade(u16),
    Connect,
    Prepare,
    Refused,
}

/// Typed lifecycle events, one per transition, for the supervisor, health and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEvent {
    Connecting {
        shard: usize,
        attempt: u32,
    },
    /// The socket is up and the broker accepted it with the token of `token_epoch`.
    Connected {
        shard: usize,
        token_epoch: u64,
    },
    Resubscribed {
        shard: usize,
        instruments: usize,
    },
    Disconnected {
        shard: usize,
        reason: Disconnect,
    },
    AttemptFailed {
        shard: usize,
        error: AttemptError,
        failures: u32,
        retry_in: Duration,
    },
    /// The token was rejected; no further attempts until it changes.
    AuthRejected {
        shard: usize,
        token_epoch: u64,
    },
    /// Failures reached `FEED_MAX_RECONNECTS`: the WebSocket cannot be used for now.
    FallbackWanted {
        shard: usize,
    },
    /// A connection delivered data again after `FallbackWanted`. Both are reported once per
    /// failure episode (see [`super::episode`]); the `fallback_wanted` flag of [`ShardStatus`]
    /// follows every change.
    Recovered {
        shard: usize,
    },
}

/// What one connection task reports about itself (latest value in a `watch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardStatus {
    pub state: FeedState,
    /// Consecutive failed attempts.
    pub failures: u32,
    /// Reconnects since start (attempts after the first successful connection).
    pub reconnects: u64,
    /// Silent-feed detections since start (dead socket or stale data).
    pub stalls: u64,
    /// Why the last connection ended.
    pub last_disconnect: Option<String>,
    /// Waiting for a new token after a rejection.
    pub auth_rejected: bool,
    /// Consecutive failures reached `FEED_MAX_RECONNECTS`: reported as the REST fallback
    /// (health mode "REST API Polling").
    pub fallback_wanted: bool,
    /// The WebSocket is not delivering while data is expected: the REST bridge should poll.
    pub bridge_wanted: bool,
    /// Instruments subscribed on this connection.
    pub subscribed: usize,
    /// The feed is not supposed to run now (scheduler), so `Disconnected` is expected.
    pub idle: bool,
    pub last_error: Option<String>,
}

impl Default for ShardStatus {
    fn default() -> Self {
        Self {
            state: FeedState::Disconnected,
            failures: 0,
            reconnects: 0,
            stalls: 0,
            last_disconnect: None,
            auth_rejected: false,
            fallback_wanted: false,
            bridge_wanted: false,
            subscribed: 0,
            idle: true,
            last_error: None,
        }
    }
}

/// A long outage: some connection failed `FEED_MAX_RECONNECTS` times in a row, so the REST
/// polling that bridges its gap is reported as the fallback (health mode "REST API Polling").
pub fn fallback_reported(shards: &[ShardStatus]) -> bool {
    shards.iter().any(|s| s.fallback_wanted)
}

/// Some connection wants REST quotes: its WebSocket is not delivering (the bridge) or the
/// fallback is reported. Polling that is still winding down after the socket came back does not
/// count as REST data.
pub fn rest_wanted(shards: &[ShardStatus]) -> bool {
    shards.iter().any(|s| s.bridge_wanted || s.fallback_wanted)
}

/// Several connections' states as one: healthy only when every connection is connected.
pub fn aggregate_state(shards: &[ShardStatus]) -> FeedState {
    use FeedState::*;
    if shards.is_empty() {
        return Disconnected;
    }
    let any = |s: FeedState| shards.iter().any(|x| x.state == s);
    if shards.iter().all(|x| x.state == Connected) {
        Connected
    } else if any(Error) {
        Error
    } else if any(Stale) {
        Stale
    } else if any(Connecting) {
        Connecting
    } else {
        Disconnected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(state: FeedState) -> ShardStatus {
        ShardStatus {
            state,
            ..ShardStatus::default()
        }
    }

    #[test]
    fn aggregate_is_worst_first_connected_only_when_all_are() {
        use FeedState::*;
        let cases = [
            (vec![], Disconnected),
            (vec![Connected], Connected),
            (vec![Connected, Connected], Connected),
            (vec![Connected, Connecting], Connecting),
            (vec![Connected, Stale], Stale),
            (vec![Stale, Error], Error),
            (vec![Connected, Disconnected], Disconnected),
        ];
        for (states, want) in cases {
            let shards: Vec<_> = states.iter().copied().map(s).collect();
            assert_eq!(aggregate_state(&shards), want, "{states:?}");
        }
    }

    #[test]
    fn messages_say_what_happened() {
        let d = Disconnect::Dead {
            silent_for: Duration::from_millis(3100),
        };
        assert_eq!(
            d.to_string(),
            "no frame from the broker for 3.1 s (socket dead)"
        );
        assert!(
            AttemptError::Upgrade { status: 429 }
                .to_string()
                .contains("too many connections")
        );
    }
}
