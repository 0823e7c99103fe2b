//! The Fyers section of `/_sim/state`: open data sockets with their subscriptions and the
//! values their clients hold, issued token ids, and counters.

use super::FyersShared;
use super::registry::load;
use super::socket::session::SessionSummary;
use crate::registry::lock;
use crate::state::{
    FyersAuthCounts, FyersConnectionState, FyersMode, FyersState, FyersSubscription,
    FyersUpgradeCounts,
};
use feedgate_fyers::hsm::FeedMode;
use tokio::time::Instant;

impl FyersShared {
    /// The Fyers part of the simulator state at `now` (wall clock seconds for token validity).
    pub(crate) fn state(&self, now_secs: i64, now: Instant) -> FyersState {
        let c = &self.registry.counters;
        let connections = self
            .registry
            .connections()
            .iter()
            .map(|conn| {
                let faults = Faults {
                    stalled: conn.control.is_stalled(now),
                    flooding: conn.control.is_flooding(now),
                };
                let summary = lock(&conn.session).summary(&self.catalog);
                connection(conn.id, faults, summary)
            })
            .collect();
        FyersState {
            connections,
            tokens: lock(&self.tokens).infos(now_secs),
            upgrades: FyersUpgradeCounts {
                accepted: load(&c.upgrades_accepted),
                refused_reject_ws: load(&c.upgrades_refused_reject_ws),
            },
            auth: FyersAuthCounts {
                ok: load(&c.auth_ok),
                refused: load(&c.auth_refused),
                ignored: load(&c.auth_ignored),
            },
            frames_sent: load(&c.frames_sent),
            snapshots_sent: load(&c.snapshots_sent),
            updates_sent: load(&c.updates_sent),
            lite_sent: load(&c.lite_sent),
            pings_received: load(&c.pings_received),
            pongs_sent: load(&c.pongs_sent),
            acks_received: load(&c.acks_received),
            ack_violations: load(&c.ack_violations),
            bad_frames_received: load(&c.bad_frames_received),
            batches_skipped: load(&c.batches_skipped),
            malformed_frames_sent: load(&c.malformed_sent),
            symbol_token_requests: load(&c.symbol_token_requests),
            quote_requests: load(&c.quote_requests),
            quote_rate_limited: load(&c.quote_rate_limited),
            quotes_served: load(&c.quotes_served),
            rest_429s: load(&c.rest_429s),
            flood_pings_sent: load(&c.flood_pings_sent),
        }
    }
}

/// The timed faults a connection is inside now.
struct Faults {
    stalled: bool,
    flooding: bool,
}

fn connection(id: u64, faults: Faults, s: SessionSummary) -> FyersConnectionState {
    FyersConnectionState {
        id,
        authenticated: s.authenticated,
        token_id: s.token_id,
        authorization_header: s.silent,
        ack_count: s.ack_count,
        last_ack: s.last_ack,
        message_number: s.message_number,
        stalled: faults.stalled,
        flooding: faults.flooding,
        frames_sent: s.frames_sent,
        records_sent: s.records_sent,
        acks_received: s.acks_received,
        pings_received: s.pings_received,
        subscriptions: s
            .subscriptions
            .into_iter()
            .map(|t| FyersSubscription {
                topic: t.topic,
                topic_id: t.topic_id,
                symbol: t.symbol,
                channel: t.channel,
                mode: match t.mode {
                    FeedMode::Full => FyersMode::Full,
                    FeedMode::Lite => FyersMode::Lite,
                },
                paused: t.paused,
                precision: t.precision,
                values: t.last_sent,
            })
            .collect(),
    }
}
