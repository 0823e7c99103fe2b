//! The gateway's Kite sockets as the simulator sees them, in the shape the Kite-only tests
//! compare: each connection's subscriptions as (token, mode) ([`subs`]). The form that works
//! for either broker is [`Env::upstream_subscriptions`](super::Env::upstream_subscriptions).

use feedgate_kite::Mode;
use feedgate_sim::SimState;

/// Each simulator connection's subscriptions as (token, mode), sorted by token.
pub fn subs(st: &SimState) -> Vec<Vec<(u32, Mode)>> {
    st.connections
        .iter()
        .map(|c| c.subscriptions.iter().map(|s| (s.token, s.mode)).collect())
        .collect()
}
