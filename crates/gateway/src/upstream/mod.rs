//! The upstream: the broker-independent connections to a broker's streaming socket (one per
//! shard), their supervisor, the order-update gate they share, and the pure pieces they use
//! (the connection machine, backoff, sharding, states, failure episodes). Broker specifics come in through
//! [`crate::brokers::Wire`] (and the token check, [`crate::brokers::TokenCheck`]) and the shard
//! limits in [`UpstreamConfig`] (its `kite` constructor holds Kite's, the default); nothing else
//! here knows Kite or Fyers.

pub mod backoff;
pub mod conn;
pub mod episode;
pub mod machine;
pub mod orders;
pub mod shard;
pub mod slot;
pub mod state;
pub mod supervisor;

pub use state::{
    FailureKind, FeedEvent, FeedState, ShardStatus, aggregate_state, fallback_reported, rest_wanted,
};
pub use supervisor::{UpstreamConfig, UpstreamHandle, UpstreamInputs, spawn};
