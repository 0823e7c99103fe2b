//! What a recording needs to decode the Fyers data socket later: the topic table (topic name →
//! instrument, divisor, mode) that symbol resolution built over REST and the frames name only
//! by topic. [`Wire::recording_context`] writes it after every subscription change;
//! [`FyersWire::for_recording`] and [`FyersWire::restore_context`] rebuild a wire that decodes
//! recorded frames exactly as the live one did, with no REST behind it.

use super::{ConnState, FyersWire, Topics};
use crate::brokers::fyers::book::{BookSource, SymbolBook};
use crate::brokers::fyers::limiter::ApiLimiter;
use crate::brokers::wire::WireError;
use crate::model::demand::Demand;
use crate::model::tick::{Mode, Token};
use feedgate_fyers::hsm::TopicName;
use feedgate_fyers::rest::FyersRest;
use feedgate_fyers::rest::client::FyersEndpoints;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One instrument of the context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    token: Token,
    mode: String,
    divisor: u32,
    quote: String,
    depth: Option<String>,
}

/// Why a context record cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("fyers context record: {0}")]
    Json(#[from] serde_json::Error),
    #[error("fyers context record: bad entry for token {0}")]
    Entry(Token),
}

impl FyersWire {
    /// A wire that decodes recorded frames only: its REST side points at the production
    /// endpoints and is never called (nothing prepares it).
    pub fn for_recording() -> Result<Self, WireError> {
        let unavailable = |e: String| WireError::Unavailable(e);
        let endpoints = FyersEndpoints::production().map_err(|e| unavailable(e.to_string()))?;
        let rest = FyersRest::new(endpoints, "").map_err(|e| unavailable(e.to_string()))?;
        let book = SymbolBook::new(BookSource {
            http: reqwest::Client::new(),
            base_url: String::new(),
            path: None,
        });
        Ok(Self::new("", rest, book, Arc::new(ApiLimiter::new(1, 1))))
    }

    /// The subscriptions the frames after a context record decode against.
    pub(super) fn context_bytes(&self) -> Vec<u8> {
        let entries: Vec<Entry> = self
            .demand
            .iter()
            .filter_map(|(token, mode)| {
                let t = self.topics.get(token)?;
                Some(Entry {
                    token: *token,
                    mode: mode.as_str().to_string(),
                    divisor: t.divisor,
                    quote: t.quote.as_str().to_string(),
                    depth: t.depth.as_ref().map(|d| d.as_str().to_string()),
                })
            })
            .collect();
        serde_json::to_vec(&entries).unwrap_or_default()
    }

    /// Replaces the topic table and the demand with a recorded context.
    pub fn restore_context(&mut self, bytes: &[u8]) -> Result<(), ContextError> {
        let entries: Vec<Entry> = serde_json::from_slice(bytes)?;
        self.topics.clear();
        self.by_topic.clear();
        let mut demand = Demand::new();
        for e in entries {
            let bad = || ContextError::Entry(e.token);
            let mode = Mode::parse(&e.mode).ok_or_else(bad)?;
            let quote = TopicName::new(e.quote.clone()).map_err(|_| bad())?;
            let depth = match &e.depth {
                Some(d) => Some(TopicName::new(d.clone()).map_err(|_| bad())?),
                None => None,
            };
            self.by_topic.insert(quote.clone(), e.token);
            if let Some(d) = &depth {
                self.by_topic.insert(d.clone(), e.token);
            }
            let divisor = e.divisor;
            self.topics.insert(
                e.token,
                Topics {
                    quote,
                    depth,
                    divisor,
                },
            );
            demand.insert(e.token, mode);
        }
        self.demand = demand;
        Ok(())
    }

    /// A recorded connection start: per-connection state (snapshots, acks) starts over.
    pub fn reset_connection(&mut self) {
        self.conn = ConnState::default();
    }
}
