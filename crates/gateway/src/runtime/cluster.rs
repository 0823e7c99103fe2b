//! Start-up step of a clustered node (DESIGN.md §9): the election for an ingest role; the
//! broker feed's run condition (the schedule's alone for role `all`, and the schedule's while
//! this node leads otherwise: never, for an edge); and its demand (an edge publishes its own,
//! an ingest node subscribes its own joined with every edge's).

use super::Wiring;
use super::control::Schedule;
use crate::cluster::{self, ClusterHandle};
use crate::hub::HubHandle;
use crate::model::demand::{Demand, RunPolicy};
use crate::model::instruments::Registry;
use std::sync::Arc;
use tokio::sync::watch;

impl Wiring {
    /// Starts the cluster part of the role, if any.
    pub(super) fn start_cluster(
        &self,
    ) -> Result<Option<ClusterHandle>, cluster::store::StoreError> {
        cluster::start(&self.config.cluster, self.shutdown.clone(), &self.tracker)
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
}
