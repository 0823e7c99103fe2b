//! Start-up steps of the HTTP side: the application state every handler shares (client
//! context, health sources) and the axum server itself.

use super::{Core, Wiring};
use crate::access::KeyRing;
use crate::clients::{ClientContext, ClientLimits};
use crate::http::{self, AppParts, AppState};
use crate::status::health::HealthSources;
use crate::status::view::StatusView;
use crate::store::candle_files::CandleStore;
use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;

impl Wiring {
    /// What the HTTP handlers and client connections share.
    pub(super) fn app_state(&self, core: &Core, candles: CandleStore) -> AppState {
        AppState::new(AppParts {
            client: self.client_context(core),
            upstream: core.upstream.clone(),
            feed_live: core.reads.feed_live.clone(),
            auth: core.auth.clone(),
            broker: self.broker.clone(),
            health: self.health_sources(core),
            candles,
            access: self.access_state(),
            shutdown: self.shutdown.clone(),
            tracker: self.tracker.clone(),
        })
    }

    /// Keys, sessions and the origin policy (DESIGN.md §10).
    fn access_state(&self) -> http::access::AccessState {
        let a = &self.config.access;
        let file = KeyRing::file_in(&self.config.data_dir);
        http::access::AccessState::new(
            a.mode,
            KeyRing::new(Some(file), &a.env_keys),
            &self.config.public_url,
            &a.allowed_origins,
        )
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
        }
    }

    /// What `/health` reads.
    fn health_sources(&self, core: &Core) -> HealthSources {
        HealthSources {
            market: core.schedule.status.clone(),
            expects_data: core.schedule.market.clone(),
            auth: core.auth.view.clone(),
            shards: core.upstream.shards.clone(),
            fallback: core.reads.fallback.clone(),
            quality: core.reads.quality.clone(),
            gauges: core.reads.gauges.clone(),
            clock: self.clock.clone(),
            stale_threshold_s: self.config.feed.stale_threshold.as_secs_f64(),
        }
    }

    /// Spawns the HTTP server; it stops accepting at shutdown and lets open requests finish.
    pub(super) fn start_http(&self, listener: TcpListener, router: Router) {
        let shutdown = self.shutdown.clone();
        self.tracker.spawn(async move {
            // Ticks are small messages that must leave at once: no Nagle delay.
            let listener = listener.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY on a client socket");
                }
            });
            // `into_make_service` shares one route table across connections; serving the plain
            // router would rebuild it per connection (~1 KiB each, measured with massif).
            // With the peer address, for the per-address back-off on wrong keys.
            let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
            let res = axum::serve(listener, service)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await;
            if let Err(e) = res {
                tracing::error!(error = %e, "HTTP server stopped");
            }
        });
    }
}

/// The gateway's routes plus any extra ones (the simulator's `/_sim` in demo mode).
pub(super) fn router(state: AppState, extra: Option<Router>) -> Router {
    http::router(state, extra)
}
