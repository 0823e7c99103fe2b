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

/// The upstream's lifecycle events received so far (without waiting).
pub fn received(
    events: &mut tokio::sync::broadcast::Receiver<feedgate_gateway::upstream::FeedEvent>,
) -> Vec<feedgate_gateway::upstream::FeedEvent> {
    let mut seen = Vec::new();
    while let Ok(ev) = events.try_recv() {
        seen.push(ev);
    }
    seen
}
