//! A session as `/_sim/state` shows it: authentication, ack and traffic figures, and every
//! subscribed topic with the raw values its client holds.

use super::{Auth, Session};
use crate::fyers::catalog::FyersCatalog;
use feedgate_fyers::hsm::{FeedMode, NO_VALUE};

impl Session {
    /// What `/_sim/state` shows about this connection.
    pub(crate) fn summary(&self, catalog: &FyersCatalog) -> SessionSummary {
        let subscriptions = self
            .topics
            .iter()
            .map(|(name, e)| TopicSummary {
                topic: name.clone(),
                topic_id: e.id,
                symbol: catalog
                    .by_idx(e.idx)
                    .map(|i| i.symbol.clone())
                    .unwrap_or_default(),
                channel: e.channel.get(),
                mode: self.mode(e.channel),
                paused: self.paused.contains(e.channel),
                precision: catalog.by_idx(e.idx).map_or(0, |i| i.precision),
                last_sent: e
                    .last
                    .iter()
                    .map(|v| (*v != NO_VALUE).then_some(*v))
                    .collect(),
            })
            .collect();
        SessionSummary {
            authenticated: self.authed(),
            token_id: match self.auth {
                Auth::Ok { token_id } => Some(token_id),
                _ => None,
            },
            silent: self.silent,
            ack_count: self.acks.ack_count(),
            last_ack: self.acks.last_ack(),
            message_number: self.message_number,
            frames_sent: self.frames_sent,
            records_sent: self.records_sent,
            acks_received: self.acks.received(),
            pings_received: self.pings_received,
            subscriptions,
        }
    }
}

/// A session as `/_sim/state` shows it (see `crate::state::FyersConnectionState`).
#[derive(Debug, Clone)]
pub(crate) struct SessionSummary {
    pub authenticated: bool,
    pub token_id: Option<u64>,
    pub silent: bool,
    pub ack_count: u32,
    pub last_ack: Option<u32>,
    pub message_number: u32,
    pub frames_sent: u64,
    pub records_sent: u64,
    pub acks_received: u64,
    pub pings_received: u64,
    pub subscriptions: Vec<TopicSummary>,
}

/// One subscribed topic as `/_sim/state` shows it.
#[derive(Debug, Clone)]
pub(crate) struct TopicSummary {
    pub topic: String,
    pub topic_id: u16,
    pub symbol: String,
    pub channel: u8,
    pub mode: FeedMode,
    pub paused: bool,
    pub precision: u8,
    /// The values the client holds now (`None` = not available).
    pub last_sent: Vec<Option<i32>>,
}
