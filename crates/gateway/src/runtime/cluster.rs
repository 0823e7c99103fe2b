//! Start-up step of a clustered node (DESIGN.md §9): the election for an ingest role; the
//! broker feed's run condition (the schedule's alone for role `all`, and the schedule's while
//! this node leads otherwise: never, for an edge); its demand (an edge publishes its own, an
//! ingest node subscribes its own joined with every edge's); and the ticks through Redis: the
//! hub's tap and the leader's publisher on an ingest node, the relay into the hub on every node;
//! the leader's status (auth, feed) through Redis for health on every node; candle files
//! written by the leader alone; the broker token shared through Redis between every node's
//! auth task, and the logins other nodes forward to the leader.

use super::Wiring;
use super::control::Schedule;
use crate::auth::SharedToken;
use crate::cluster::ticks::{publish, relay, tap};
use crate::cluster::{self, ClusterHandle, exchange_io, store, token, token_io};
use crate::config::Broker;
use crate::hub::HubHandle;
use crate::hub::archive::Archive;
use crate::model::demand::{Demand, RunPolicy};
use crate::model::instruments::Registry;
use crate::model::tick::Tick;
use crate::status::health::HealthSources;
use crate::status::shared_io;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// The hub's tap and the publisher's end of it (ingest roles only).
#[derive(Debug)]
pub(super) struct Tap {
    tap: tap::TickTap,
    batches: mpsc::Receiver<Vec<Tick>>,
}

impl Tap {
    /// The hub's end.
    pub(super) fn for_hub(&self) -> Arc<dyn crate::hub::TickTap> {
        Arc::new(self.tap.clone())
    }
}

impl Wiring {
    /// Starts the cluster part of the role, if any.
    pub(super) fn start_cluster(&self) -> Result<Option<ClusterHandle>, store::StoreError> {
        cluster::start(
            &self.config.cluster,
            self.account(),
            self.shutdown.clone(),
            &self.tracker,
        )
    }

    /// The broker account whose token the cluster shares (the sealed token's binding).
    pub(super) fn account(&self) -> token::Account {
        let c = &self.config;
        let api_key = match c.broker {
            Broker::Kite => c.kite.api_key.clone(),
            Broker::Fyers => c.fyers.app_id.clone(),
        };
        token::Account {
            broker: self.broker.name().to_string(),
            api_key,
        }
    }

    /// Spawns the token sharing of a clustered node; returns the auth task's side of it.
    pub(super) fn share_token(&self, cluster: Option<&ClusterHandle>) -> Option<SharedToken> {
        let c = cluster?;
        let (in_use_tx, in_use) = watch::channel(None);
        let (take_tx, take) = mpsc::channel(1);
        self.tracker.spawn(token_io::run(
            token_io::TokenShareIo {
                conn: c.link.conn.clone(),
                key: c.login.key.clone(),
                account: c.login.account.clone(),
                clock: self.clock.clone(),
                in_use,
                take: take_tx,
                leading: c.leading.clone(),
                redis: c.redis.clone(),
                answer_within: cluster::ANSWER_WITHIN,
            },
            self.shutdown.clone(),
        ));
        Some(SharedToken {
            in_use: in_use_tx,
            take,
        })
    }

    /// On a node that may lead: completes the logins other nodes forward (the broker's
    /// exchange and this node's auth task), one at a time.
    pub(super) fn serve_forwarded_logins(
        &self,
        cluster: Option<&ClusterHandle>,
        auth: &crate::auth::AuthHandle,
    ) {
        let Some(c) = cluster.filter(|c| c.role.ingests()) else {
            return;
        };
        let (tx, mut rx) = mpsc::channel::<exchange_io::Exchange>(1);
        self.tracker.spawn(exchange_io::serve(
            exchange_io::ExchangeIo {
                link: c.login.clone(),
                leading: c.leading.clone(),
                clock: self.clock.clone(),
                exchanges: tx,
            },
            self.shutdown.clone(),
        ));
        let (broker, auth) = (self.broker.clone(), auth.clone());
        self.tracker.spawn(async move {
            while let Some(x) = rx.recv().await {
                tracing::info!(from = %x.from, "completing a login another node received");
                let code = secrecy::ExposeSecret::expose_secret(&x.code).to_string();
                let r = crate::auth::exchange::complete(broker.as_ref(), &auth, code).await;
                let _ = x.reply.send(r.map_err(|e| e.to_string()));
            }
        });
    }

    /// When the broker feed (sockets and REST fallback) should run.
    pub(super) fn feed_run(
        &self,
        schedule: &Schedule,
        cluster: Option<&ClusterHandle>,
    ) -> watch::Receiver<RunPolicy> {
        match cluster {
            None => schedule.run.clone(),
            Some(c) => cluster::gate::spawn(
                schedule.run.clone(),
                c.leading.clone(),
                self.shutdown.clone(),
                &self.tracker,
            ),
        }
    }

    /// What the broker feed subscribes: the hub's demand, joined in a cluster with every
    /// edge's; an edge starts publishing its own here.
    pub(super) fn feed_demand(
        &self,
        hub: &HubHandle,
        registry: &watch::Receiver<Arc<Registry>>,
        cluster: Option<&ClusterHandle>,
    ) -> watch::Receiver<Arc<Demand>> {
        let Some(c) = cluster else {
            return hub.demand();
        };
        if c.role.edges() {
            self.tracker.spawn(cluster::demand_io::publish(
                c.link.clone(),
                c.node.clone(),
                hub.demand(),
                registry.clone(),
                self.shutdown.clone(),
            ));
        }
        if !c.role.ingests() {
            return hub.demand();
        }
        cluster::demand_io::spawn_union(
            c.link.clone(),
            hub.demand(),
            registry.clone(),
            self.shutdown.clone(),
            &self.tracker,
        )
    }

    /// The hub's tap for the publisher, on a node that may lead.
    pub(super) fn tick_tap(&self, cluster: Option<&ClusterHandle>) -> Option<Tap> {
        let c = cluster.filter(|c| c.role.ingests())?;
        let (tap, batches) = tap::channel(tap::CAPACITY, c.leading.clone(), c.ticks.clone());
        Some(Tap { tap, batches })
    }

    /// Spawns the publisher (with a tap) and the relay into the hub, and points the cluster
    /// handle at the relay's `feeding`.
    pub(super) fn start_ticks(
        &self,
        cluster: Option<&mut ClusterHandle>,
        tap: Option<Tap>,
        hub: &HubHandle,
        registry: &watch::Receiver<Arc<Registry>>,
    ) -> Result<(), store::StoreError> {
        let (Some(c), Some(url)) = (cluster, self.config.cluster.redis.as_ref()) else {
            return Ok(());
        };
        let conn = store::connect(url, cluster::ANSWER_WITHIN)?;
        if let Some(Tap { batches, .. }) = tap {
            self.tracker.spawn(publish::run(
                publish::PublishIo {
                    conn: conn.clone(),
                    batches,
                    hub: hub.clone(),
                    leading: c.leading.clone(),
                    stats: c.ticks.clone(),
                    redis: c.redis.clone(),
                    answer_within: cluster::ANSWER_WITHIN,
                },
                self.shutdown.clone(),
            ));
        }
        let (feeding_tx, feeding) = watch::channel(false);
        c.feeding = feeding;
        self.tracker.spawn(relay::run(
            relay::RelayIo {
                client: redis::Client::open(url.expose())?,
                conn,
                hub: hub.clone(),
                ticks: hub.tick_sender(),
                registry: registry.clone(),
                leading: c.leading.clone(),
                stats: c.ticks.clone(),
                feeding: feeding_tx,
                redis: c.redis.clone(),
                answer_within: cluster::ANSWER_WITHIN,
                received: metrics::counter!("feedgate_cluster_ticks_received_total"),
            },
            self.shutdown.clone(),
        ));
        Ok(())
    }

    /// The leader writes its status for the others, who read it into `sources` (clustered
    /// roles only).
    pub(super) fn share_status(
        &self,
        sources: &mut HealthSources,
        leader_status: Option<&super::LeaderStatusTx>,
    ) {
        let (Some(c), Some(received)) = (sources.cluster.clone(), leader_status.cloned()) else {
            return;
        };
        sources.shared = Some(received.subscribe());
        let io = shared_io::SharedIo {
            board: c.board.clone(),
            sources: sources.clone(),
            node: c.node.clone(),
            view: c.view.clone(),
            received,
        };
        self.tracker
            .spawn(shared_io::run(io, self.shutdown.clone()));
    }

    /// In a cluster only the leader writes candle files: every node's hub builds the same
    /// candles from the relayed ticks, and the files are the leader's record of the day.
    pub(super) fn archive_candles(&self, archive: &mut Archive, cluster: Option<&ClusterHandle>) {
        if let Some(c) = cluster {
            archive.candles_while = Some(c.leading.clone());
        }
    }
}
