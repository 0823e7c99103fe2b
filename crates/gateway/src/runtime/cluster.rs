//! Start-up step of a clustered node (DESIGN.md §9): the election for an ingest role, and the
//! broker feed's run condition: the schedule's alone for role `all`, and the schedule's while
//! this node leads otherwise (never, for an edge).

use super::Wiring;
use super::control::Schedule;
use crate::cluster::{self, ClusterHandle};
use crate::model::demand::RunPolicy;
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
}
