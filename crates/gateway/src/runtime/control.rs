//! Start-up steps of the control plane: the market scheduler, the auth task and the status
//! monitor (what decides whether the feed should run and what clients are told about it).

use super::links::{AuthSenders, MonitorSenders};
use super::{Core, Wiring};
use crate::auth::{self, AuthConfig, AuthHandle, AuthIo};
use crate::model::demand::RunPolicy;
use crate::status::monitor::{self, MonitorIo};
use crate::status::schedule::{self, MarketView, ScheduleIo};
use crate::store::token_file::TokenStore;
use crate::upstream::UpstreamHandle;
use feedgate_session::{Calendar, MarketStatus, SchedulerConfig, Segment};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What the scheduler publishes (receivers; clones start from the first value).
#[derive(Debug, Clone)]
pub(super) struct Schedule {
    /// Whether the feed should run now.
    pub(super) run: watch::Receiver<RunPolicy>,
    /// The market phase as the monitor and health see it.
    pub(super) market: watch::Receiver<MarketView>,
    pub(super) status: watch::Receiver<MarketStatus>,
}

impl Wiring {
    /// Evaluates the schedule now (so every reader starts from today's answer) and spawns the
    /// scheduler; also returns the pre-market token checks it will send to the auth task.
    pub(super) fn start_scheduler(
        &self,
        calendar: Arc<Calendar>,
    ) -> (Schedule, mpsc::Receiver<()>) {
        let config = self.scheduler_config();
        let segment = Segment::NseCm;
        let now = self.clock.now();
        let (run0, view0, status0, ..) = schedule::evaluate(now, &calendar, &config, segment);
        let (run_tx, run) = watch::channel::<RunPolicy>(run0);
        let (market_tx, market) = watch::channel::<MarketView>(view0);
        let (status_tx, status) = watch::channel(status0);
        let (checks_tx, checks_rx) = mpsc::channel(4);
        self.tracker.spawn(schedule::run(
            ScheduleIo {
                clock: self.clock.clone(),
                calendar,
                config,
                segment,
                run: run_tx,
                market: market_tx,
                status: status_tx,
                token_checks: checks_tx,
            },
            self.shutdown.clone(),
        ));
        (
            Schedule {
                run,
                market,
                status,
            },
            checks_rx,
        )
    }

    fn scheduler_config(&self) -> SchedulerConfig {
        let times = &self.config.schedule_times;
        SchedulerConfig {
            enabled: self.config.enable_scheduler,
            dev_mode: self.config.dev_mode,
            token_check_lead: times.token_check_lead,
            feed_start_lead: times.feed_start_lead,
            feed_stop_lag: times.feed_stop_lag,
            ..SchedulerConfig::default()
        }
    }

    /// Spawns the auth task: it owns the access token and follows upstream's feed events.
    pub(super) fn start_auth(
        &self,
        out: AuthSenders,
        upstream: &UpstreamHandle,
        token_checks: mpsc::Receiver<()>,
        shared: Option<auth::SharedToken>,
    ) -> AuthHandle {
        let (env_token, store) = (
            self.config.env_token(),
            TokenStore::for_config(&self.config, self.broker.name()),
        );
        auth::task::spawn(
            AuthConfig {
                env_token,
                store,
                login_url: self.login_url(),
                file_poll: Duration::from_secs(2),
            },
            AuthIo {
                broker: self.broker.clone(),
                clock: self.clock.clone(),
                token: out.token,
                state: out.state,
                feed_events: Some(upstream.subscribe_events()),
                pre_market: token_checks,
                shared,
            },
            self.shutdown.clone(),
            &self.tracker,
        )
    }

    /// Spawns the status monitor, which turns shard, market, auth and fallback state into the
    /// client status, the feed-live flag and the quality score.
    pub(super) fn start_monitor(&self, out: MonitorSenders, core: &Core) {
        let reads = &core.reads;
        self.tracker.spawn(monitor::run(
            MonitorIo {
                shards: core.upstream.shards.clone(),
                market: core.schedule.market.clone(),
                auth: reads.auth_state.clone(),
                fallback: reads.fallback.clone(),
                gauges: reads.gauges.clone(),
                clock: self.clock.clone(),
                stale_threshold: self.config.feed.stale_threshold,
                poll_interval: self.config.feed.rest_poll_interval,
                login_url: self.login_url(),
                status: out.status,
                feed_live: out.feed_live,
                quality: out.quality,
                relay: core.cluster.as_ref().map(|c| c.feeding.clone()),
                follow: core
                    .cluster
                    .as_ref()
                    .zip(core.leader_status.as_ref())
                    .map(|(c, tx)| crate::status::follower::Follow {
                        received: tx.subscribe(),
                        view: c.view.clone(),
                    }),
            },
            self.shutdown.clone(),
        ));
    }
}
