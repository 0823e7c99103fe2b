//! What the feed should do: which instruments at which mode ([`Demand`], the union of every
//! client's subscriptions and the watchlist, computed by the hub) and when to run
//! ([`RunPolicy`], from the market-hours scheduler). Both flow down to the upstream and the REST
//! loops through `watch` channels.

use crate::model::tick::{Mode, Token};
use std::collections::BTreeMap;

/// What upstream should be subscribed to: token → highest mode wanted.
pub type Demand = BTreeMap<Token, Mode>;

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
