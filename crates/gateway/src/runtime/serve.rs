//! Start-up steps of the HTTP side: the application state every handler shares (client
//! context, health sources) and the HTTP server itself.

use super::accept::Server;
use super::slots::ConnSlots;
use super::{Core, Wiring};
use crate::access::KeyRing;
use crate::clients::{ClientContext, ClientLimits};
use crate::cluster::ClusterHandle;
use crate::cluster::sessions::RedisSessions;
use crate::http::kite_rest::KiteRest;
use crate::http::kite_rest::fetch::FetchIo;
use crate::http::{self, AppParts, AppState};
use crate::rest::history::HistoryAccess;
use crate::rest::rate_gate::RateGate;
use crate::status::health::HealthSources;
use crate::status::limits;
use crate::status::view::StatusView;
use crate::store::candle_files::CandleStore;
use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

impl Wiring {
    /// What the HTTP handlers and client connections share.
    pub(super) fn app_state(
        &self,
        core: &Core,
        candles: CandleStore,
        kite_rest: KiteRest,
        history: HistoryAccess,
    ) -> AppState {
        AppState::new(AppParts {
            client: self.client_context(core),
            upstream: core.upstream.clone(),
            feed_live: core.reads.feed_live.clone(),
            auth: core.auth.clone(),
            broker: self.broker.clone(),
            health: self.health_sources(core),
            candles,
            access: self.access_state(core.cluster.as_ref()),
            kite_rest,
            history,
            shutdown: self.shutdown.clone(),
            tracker: self.tracker.clone(),
        })
    }

    /// The Kite REST reads' keeper and fetcher; the fetcher shares the broker's quote budget.
    pub(super) fn start_kite_rest(&self, core: &Core, gate: Arc<RateGate>) -> KiteRest {
        let io = FetchIo {
            broker: self.broker.clone(),
            gate,
            auth: core.auth.clone(),
            token: core.reads.token.clone(),
            ticks: core.hub.tick_sender(),
            clock: self.clock.clone(),
        };
        KiteRest::start(
            core.hub.clone(),
            io,
            self.config.kite_rest_idle,
            &self.shutdown,
            &self.tracker,
        )
    }

    /// Keys, sessions and the origin policy (DESIGN.md §10); in a cluster the dashboard
    /// sessions are shared through Redis.
    fn access_state(&self, cluster: Option<&ClusterHandle>) -> http::access::AccessState {
        let a = &self.config.access;
        let file = KeyRing::file_in(&self.config.data_dir);
        let state = http::access::AccessState::new(
            a.mode,
            KeyRing::new(Some(file), &a.env_keys),
            &self.config.public_url,
            &a.allowed_origins,
        );
        match cluster {
            Some(c) => state.with_shared(Arc::new(RedisSessions::new(
                c.link.conn.clone(),
                c.redis.clone(),
            ))),
            None => state,
        }
    }

    /// What every client connection starts from.
    fn client_context(&self, core: &Core) -> ClientContext {
        ClientContext {
            hub: core.hub.clone(),
            registry: core.registry.clone(),
            limits: ClientLimits {
                max_symbols: self.config.max_symbols_per_client,
                ..ClientLimits::default()
            },
            default_throttle: self.config.tick_throttle,
            heartbeat_interval: self.config.heartbeat_interval,
            status: StatusView {
                status: core.reads.status.clone(),
                gauges: core.reads.gauges.clone(),
            },
            clock: self.clock.clone(),
            order_updates: false,
        }
    }

    /// What `/health` reads (in a cluster, with the leader's status).
    fn health_sources(&self, core: &Core) -> HealthSources {
        let mut sources = HealthSources {
            market: core.schedule.status.clone(),
            expects_data: core.schedule.market.clone(),
            auth: core.auth.view.clone(),
            shards: core.upstream.shards.clone(),
            fallback: core.reads.fallback.clone(),
            quality: core.reads.quality.clone(),
            gauges: core.reads.gauges.clone(),
            clock: self.clock.clone(),
            stale_threshold_s: self.config.feed.stale_threshold.as_secs_f64(),
            recording: core.record.stats().clone(),
            cluster: core.cluster.clone(),
            shared: None,
        };
        self.share_status(&mut sources, core.leader_status.as_ref());
        sources
    }

    /// Spawns the HTTP server (it stops accepting at shutdown and lets open requests finish)
    /// and the summary of limit refusals.
    pub(super) fn start_http(&self, listener: TcpListener, router: Router) {
        let limits = self.config.server.clone();
        let max = connection_cap(limits.max_connections);
        tracing::info!(
            max_connections = max,
            max_connections_per_ip = limits.max_connections_per_ip,
            trusted_proxies = !limits.trusted_proxies.is_empty(),
            "connection limits"
        );
        let server = Server {
            slots: ConnSlots::new(max, limits.max_connections_per_ip),
            router,
            limits,
            shutdown: self.shutdown.clone(),
            tracker: self.tracker.clone(),
        };
        self.tracker.spawn(server.run(listener));
        self.tracker
            .spawn(limits::summarise(LIMIT_SUMMARY, self.shutdown.clone()));
    }
}

/// How often repeated limit refusals are summarised in the log.
const LIMIT_SUMMARY: Duration = Duration::from_secs(60);

/// `FEEDGATE_MAX_CONNECTIONS`, or 80 % of the open-file limit: the rest is left for the
/// broker, REST calls and files, so the cap is reached before `accept` runs out of
/// descriptors. The soft limit is first raised to the hard one, as servers commonly do (the
/// usual soft default, 1024, would cap feedgate at 819 clients).
fn connection_cap(configured: Option<usize>) -> usize {
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    };
    if let Some(n) = configured {
        if n as u64 > soft {
            tracing::warn!(
                max_connections = n,
                open_file_limit = soft,
                "FEEDGATE_MAX_CONNECTIONS is above the open-file limit; accept will fail first"
            );
        }
        return n;
    }
    usize::try_from(soft / 10 * 8).unwrap_or(usize::MAX).max(1)
}

/// The gateway's routes plus any extra ones (the simulator's `/_sim` in demo mode).
pub(super) fn router(state: AppState, extra: Option<Router>) -> Router {
    http::router(state, extra)
}
