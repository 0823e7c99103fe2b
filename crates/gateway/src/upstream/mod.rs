//! The upstream: the broker connections, their supervisor, and the pure pieces they use
//! (backoff, sharding, states, the wire abstraction and the Kite and Fyers implementations of
//! it).

pub mod backoff;
pub mod conn;
pub mod episode;
pub mod fyers;
pub mod kite;
pub mod shard;
pub mod state;
pub mod supervisor;
pub mod wire;

pub use state::{FailureKind, FeedEvent, FeedState, ShardStatus, aggregate_state};
pub use supervisor::{UpstreamConfig, UpstreamHandle, UpstreamInputs, spawn};

use crate::secret::Secret;
use futures_util::future::BoxFuture;

/// When the feed should run, from the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunPolicy {
    /// Connect and stay connected.
    pub should_run: bool,
    /// The market is in a phase that produces ticks: silence means a stale feed.
    pub expects_data: bool,
}

impl RunPolicy {
    pub const ALWAYS: RunPolicy = RunPolicy {
        should_run: true,
        expects_data: true,
    };
}

/// The answer of a token check against the broker's REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenVerdict {
    Valid,
    /// The broker says the token is invalid or expired.
    Rejected,
    /// The check itself failed (network, 5xx): no conclusion.
    Unknown(String),
}

/// Validates an access token (Kite: `GET /user/profile`). Used to classify a refused upgrade
/// and as the pre-flight check before reconnecting after a failure.
pub trait TokenCheck: Send + Sync + std::fmt::Debug {
    fn check(&self, token: Secret) -> BoxFuture<'static, TokenVerdict>;
}
