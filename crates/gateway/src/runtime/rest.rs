//! Start-up steps of the REST loops: closed-hours quotes for what clients ask about, and the
//! fallback that polls quotes while the feed cannot stream (both share one rate gate), and the
//! history backfill of today's candles (a gate of its own: the historical API's limit).

use super::{Core, Wiring};
use crate::hub::HubHandle;
use crate::model::candle::History;
use crate::model::tick::Token;
use crate::rest::backfill::{self, BackfillIo, HistorySink};
use crate::rest::closed_quotes::{self, ClosedQuotesIo};
use crate::rest::fallback::{self, FallbackIo};
use crate::rest::history::HistoryAccess;
use crate::rest::rate_gate::RateGate;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

impl Wiring {
    /// A new budget for the broker's quote calls: made once, shared by every REST loop.
    pub(super) fn new_rate_gate(&self) -> Arc<RateGate> {
        Arc::new(RateGate::new(self.broker.quote_interval()))
    }

    /// Spawns the closed-hours quote loop: answers the hub's requests for closed-hours quotes.
    pub(super) fn start_closed_quotes(
        &self,
        requests: mpsc::Receiver<Vec<Token>>,
        gate: Arc<RateGate>,
        core: &Core,
    ) {
        self.tracker.spawn(closed_quotes::run(
            ClosedQuotesIo {
                requests,
                broker: self.broker.clone(),
                gate,
                registry: core.registry.clone(),
                token: core.reads.token.clone(),
                auth: core.auth.clone(),
                ticks: core.hub.tick_sender(),
                feed_live: core.reads.feed_live.clone(),
                clock: self.clock.clone(),
            },
            self.shutdown.clone(),
        ));
    }

    /// A budget for the broker's historical calls, shared by the backfill and `/api/candles`.
    pub(super) fn history_access(&self, core: &Core) -> HistoryAccess {
        HistoryAccess {
            broker: self.broker.clone(),
            gate: Arc::new(RateGate::new(self.broker.historical_interval())),
            token: core.reads.token.clone(),
            auth: core.auth.view.clone(),
        }
    }

    /// Spawns the history backfill: today's minutes of every demanded instrument from the
    /// broker's historical API into the hub's candles.
    pub(super) fn start_backfill(&self, core: &Core, gate: Arc<RateGate>) {
        self.tracker.spawn(backfill::run(
            BackfillIo {
                broker: self.broker.clone(),
                gate,
                demand: core.hub.demand(),
                registry: core.registry.clone(),
                token: core.reads.token.clone(),
                auth: core.auth.clone(),
                sink: Arc::new(HubHistory(core.hub.clone())),
                clock: self.clock.clone(),
            },
            self.shutdown.clone(),
        ));
    }

    /// Spawns the REST fallback; it publishes whether it is polling on `active`.
    pub(super) fn start_fallback(
        &self,
        gate: Arc<RateGate>,
        active: watch::Sender<bool>,
        core: &Core,
    ) {
        self.tracker.spawn(fallback::run(
            FallbackIo {
                broker: self.broker.clone(),
                gate,
                shards: core.upstream.shards.clone(),
                demand: core.feed_demand.clone(),
                registry: core.registry.clone(),
                token: core.reads.token.clone(),
                // A REST fallback stands in for the broker feed: it runs where the feed would.
                run: core.feed_run.clone(),
                ticks: core.hub.tick_sender(),
                active,
                auth: core.auth.clone(),
                clock: self.clock.clone(),
                gauges: core.reads.gauges.clone(),
                poll_interval: self.config.feed.rest_poll_interval,
            },
            self.shutdown.clone(),
        ));
    }
}

/// The hub as the backfill's destination.
#[derive(Debug)]
struct HubHistory(HubHandle);

impl HistorySink for HubHistory {
    fn merge(&self, history: History) -> BoxFuture<'static, Option<usize>> {
        let hub = self.0.clone();
        Box::pin(async move { hub.merge_history(history).await.ok() })
    }
}
