//! The hub actor: one task owning a [`HubCore`], fed by two bounded channels (commands from
//! client tasks, tick batches from the upstream). Commands are served first so a tick flood
//! cannot starve subscribes; nothing here ever waits on a client.

use crate::clock::SharedClock;
use crate::hub::core::{ClientId, Demand, HubCore, Liveness};
use crate::hub::outbox::Outbox;
use crate::instruments::Instrument;
use crate::tick::{Mode, Tick, Token};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

pub(crate) enum Command {
    Subscribe {
        client: ClientId,
        outbox: Arc<Outbox>,
        items: Vec<(Arc<Instrument>, Mode)>,
    },
    Unsubscribe {
        client: ClientId,
        tokens: Vec<Token>,
    },
    Disconnect {
        client: ClientId,
    },
    Latest {
        tokens: Vec<Token>,
        reply: oneshot::Sender<Vec<Option<Tick>>>,
    },
    LatestAll {
        reply: oneshot::Sender<Vec<(Arc<Instrument>, Tick)>>,
    },
    Watchlist(Vec<(Arc<Instrument>, Mode)>),
    Seed(Vec<(Arc<Instrument>, Tick)>),
}

/// Counters shared with status endpoints and metrics.
#[derive(Debug, Default)]
pub struct HubStats {
    pub ticks_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub conflated: AtomicU64,
    pub clients_subscribed: AtomicUsize,
    pub instruments_subscribed: AtomicUsize,
}

pub(crate) struct HubTask {
    pub core: HubCore,
    pub commands: mpsc::Receiver<Command>,
    pub ticks: mpsc::Receiver<Vec<Tick>>,
    pub demand: watch::Sender<Arc<Demand>>,
    pub feed_live: watch::Receiver<bool>,
    pub clock: SharedClock,
    pub stats: Arc<HubStats>,
    pub shutdown: CancellationToken,
}

impl HubTask {
    pub async fn run(mut self) {
        loop {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => break,
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                batch = self.ticks.recv() => match batch {
                    Some(batch) => self.on_ticks(&batch),
                    None => break,
                },
            }
        }
        tracing::debug!("hub stopped");
    }

    fn liveness(&self) -> Liveness {
        Liveness {
            feed_live: *self.feed_live.borrow(),
            now_ms: self.clock.now_ms(),
        }
    }

    fn on_ticks(&mut self, batch: &[Tick]) {
        let live = self.liveness();
        let s = self.core.on_ticks(batch, live);
        self.stats.ticks_in.fetch_add(s.ticks, Ordering::Relaxed);
        self.stats
            .messages_out
            .fetch_add(s.messages, Ordering::Relaxed);
        self.stats
            .conflated
            .fetch_add(s.conflated, Ordering::Relaxed);
        metrics::counter!("feedgate_hub_ticks_total").increment(s.ticks);
        metrics::counter!("feedgate_hub_messages_total").increment(s.messages);
        metrics::counter!("feedgate_hub_conflated_total").increment(s.conflated);
        metrics::counter!("feedgate_hub_encoded_bytes_total").increment(s.encoded_bytes);
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Subscribe {
                client,
                outbox,
                items,
            } => {
                let live = self.liveness();
                self.core.subscribe(client, &outbox, &items, live);
                self.publish_demand();
            }
            Command::Unsubscribe { client, tokens } => {
                self.core.unsubscribe(client, &tokens);
                self.publish_demand();
            }
            Command::Disconnect { client } => {
                self.core.disconnect(client);
                self.publish_demand();
            }
            Command::Latest { tokens, reply } => {
                let out = tokens
                    .iter()
                    .map(|t| self.core.latest(*t).copied())
                    .collect();
                let _ = reply.send(out);
            }
            Command::LatestAll { reply } => {
                let out = self
                    .core
                    .latest_all()
                    .map(|(i, t)| (i.clone(), *t))
                    .collect();
                let _ = reply.send(out);
            }
            Command::Watchlist(items) => {
                self.core.set_watchlist(items);
                self.publish_demand();
            }
            Command::Seed(items) => self.core.seed(items),
        }
    }

    fn publish_demand(&mut self) {
        let demand = self.core.demand();
        self.demand.send_if_modified(|cur| {
            if **cur == demand {
                false
            } else {
                *cur = Arc::new(demand);
                true
            }
        });
        self.stats
            .clients_subscribed
            .store(self.core.client_count(), Ordering::Relaxed);
        self.stats
            .instruments_subscribed
            .store(self.core.subscribed_instruments(), Ordering::Relaxed);
    }
}
