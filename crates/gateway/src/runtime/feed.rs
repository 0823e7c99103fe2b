//! Start-up steps of the tick path: the hub (seeded from disk, with its archive) and the
//! upstream broker connections that feed it.

use super::links::StatusReads;
use super::{Core, Wiring};
use crate::brokers::{ProfileCheck, Wire};
use crate::config::Broker;
use crate::hub::archive::Archive;
use crate::hub::recording::RecordingSource;
use crate::hub::replay::Anchoring;
use crate::hub::{self, HubConfig, HubHandle};
use crate::model::demand::{Demand, RunPolicy};
use crate::model::instruments::Registry;
use crate::model::tick::Token;
use crate::store::candle_files::CandleStore;
use crate::store::last_values::LastValues;
use crate::store::recording::format::RecordedBroker;
use crate::store::recording::tap::FrameTap;
use crate::upstream::{self, UpstreamConfig, UpstreamHandle, UpstreamInputs};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// The started hub and what hangs off it.
#[derive(Debug)]
pub(super) struct Hub {
    pub(super) handle: HubHandle,
    /// Persists last values and candles (periodically, and once more at shutdown).
    pub(super) archive: Archive,
    pub(super) candles: CandleStore,
    /// Instruments the hub wants a closed-hours quote for.
    pub(super) closed_quote_requests: mpsc::Receiver<Vec<Token>>,
}

/// Anchors for resuming from the recording: every 256th value (and every WebSocket value after
/// a REST one), the last 16 per instrument, so the recording reaches back at least 4,096 values
/// (about 8 KiB per instrument a client has, or just had).
const RESUME_ANCHORS: Anchoring = Anchoring {
    every: 256,
    keep: 16,
};

impl Wiring {
    /// Spawns the hub and seeds it with the last known values from disk. `recording`, when
    /// on, lets resumes reach back past the ring (Kite only: see
    /// [`hub::recording::refillable`]); `tap` sees every tick batch it handles (a cluster
    /// leader's publisher).
    pub(super) async fn start_hub(
        &self,
        reads: &StatusReads,
        registry: &Registry,
        recording: Option<RecordingSource>,
        tap: Option<Arc<dyn hub::TickTap>>,
    ) -> Hub {
        let (closed_quotes_tx, closed_quote_requests) = mpsc::channel(64);
        let recorded_broker = match self.config.broker {
            Broker::Kite => RecordedBroker::Kite,
            Broker::Fyers => RecordedBroker::Fyers,
        };
        let recording = recording.filter(|_| hub::recording::refillable(recorded_broker));
        let anchoring = match recording {
            Some(_) => RESUME_ANCHORS,
            None => Anchoring::OFF,
        };
        let handle = hub::spawn_with_closed_quotes(
            HubConfig {
                ws_precedence: self.config.feed.bridge_after,
                // The start's wall-clock millisecond: a new epoch at every start, and one a
                // client can read as a time.
                resume: hub::ResumeConfig {
                    epoch: u64::try_from(self.clock.now_ms()).unwrap_or(0),
                    keep: self.config.resume_buffer,
                    linger: self.config.resume_linger,
                    anchoring,
                },
                recording,
                ..HubConfig::default()
            },
            reads.feed_live.clone(),
            self.clock.clone(),
            self.shutdown.clone(),
            &self.tracker,
            Some(closed_quotes_tx),
            tap,
        );
        let values = LastValues::new(&self.config.data_dir);
        let seeded = values.load(registry);
        if !seeded.is_empty() {
            tracing::info!(values = seeded.len(), "last known values loaded");
            let _ = handle.seed(seeded).await;
        }
        let candles = CandleStore::new(&self.config.data_dir);
        let archive = Archive {
            hub: handle.clone(),
            values,
            candles: candles.clone(),
            clock: self.clock.clone(),
            candles_while: None,
        };
        Hub {
            handle,
            archive,
            candles,
            closed_quote_requests,
        }
    }

    /// Spawns the upstream supervisor: broker sockets for `demand` (what clients want: the
    /// hub's, in a cluster joined with the edges'), while `run`
    /// says the feed should run (the schedule, and in a cluster leadership) and a token is at
    /// hand.
    pub(super) fn start_upstream<W: Wire + Clone>(
        &self,
        wire: W,
        hub: &HubHandle,
        reads: &StatusReads,
        run: &watch::Receiver<RunPolicy>,
        demand: &watch::Receiver<Arc<Demand>>,
        record: &FrameTap,
    ) -> UpstreamHandle {
        upstream::spawn(
            wire,
            self.upstream_config(),
            UpstreamInputs {
                demand: demand.clone(),
                token: reads.token.clone(),
                run: run.clone(),
                ticks: hub.tick_sender(),
                orders: hub.orders().clone(),
                checker: Arc::new(ProfileCheck(self.broker.clone())),
                clock: self.clock.clone(),
                gauges: reads.gauges.clone(),
                record: record.clone(),
            },
            self.shutdown.clone(),
            &self.tracker,
        )
    }

    /// Kite: 3000 instruments per socket, 3 sockets per api_key. Fyers: 5000 symbols per app
    /// (the data socket's and the API key's limit alike), so one socket.
    fn upstream_config(&self) -> UpstreamConfig {
        let kite = UpstreamConfig::kite(self.config.feed.clone());
        match self.config.broker {
            Broker::Kite => kite,
            Broker::Fyers => UpstreamConfig {
                shard_cap: 5000,
                max_shards: 1,
                ..kite
            },
        }
    }

    /// Spawns the archive's periodic save (last values, finished candles).
    pub(super) fn start_archive(&self, archive: &Archive, core: &Core) {
        self.tracker.spawn(
            archive
                .clone()
                .run(core.schedule.run.clone(), self.shutdown.clone()),
        );
    }
}
