//! Wiring: builds every task of a running gateway from its configuration and a broker
//! implementation, serves HTTP, and shuts everything down in order.

use crate::auth::AuthState;
use crate::auth::{self, AuthConfig, AuthHandle, AuthIo};
use crate::brokers::Wire;
use crate::brokers::{BrokerApi, ProfileCheck};
use crate::clients::{ClientContext, ClientLimits};
use crate::config::GatewayConfig;
use crate::http::{self, AppParts, AppState};
use crate::hub::archive::Archive;
use crate::hub::{self, HubConfig, HubHandle};
use crate::model::clock::SharedClock;
use crate::model::demand::RunPolicy;
use crate::model::gauges::Gauges;
use crate::model::instruments::Registry;
use crate::model::tick::Mode;
use crate::rest::closed_quotes::{self, ClosedQuotesIo};
use crate::rest::fallback::{self, FallbackIo};
use crate::rest::instruments::{InstrumentLoader, InstrumentsError};
use crate::rest::rate_gate::RateGate;
use crate::status::health::HealthSources;
use crate::status::monitor::{self, MonitorIo};
use crate::status::schedule::MarketView;
use crate::status::schedule::{self, ScheduleIo};
use crate::status::view::{ClientStatus, StatusView};
use crate::store::candle_files::CandleStore;
use crate::store::last_values::LastValues;
use crate::store::token_file::TokenStore;
use crate::upstream::{self, UpstreamConfig, UpstreamHandle, UpstreamInputs};
use axum::Router;
use axum::serve::ListenerExt;
use feedgate_session::{Calendar, MarketStatus, SchedulerConfig, Segment, market_status};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Everything a gateway is built from.
#[derive(Debug)]
pub struct GatewayDeps<W> {
    pub config: GatewayConfig,
    pub broker: Arc<dyn BrokerApi>,
    pub wire: W,
    pub clock: SharedClock,
    pub calendar: Arc<Calendar>,
    /// Extra routes merged into the server (the simulator's `/_sim` in demo mode).
    pub extra_routes: Option<Router>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Instruments(#[from] InstrumentsError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serve HTTP: {0}")]
    Serve(#[source] std::io::Error),
}

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    addr: SocketAddr,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    pub state: AppState,
    pub hub: HubHandle,
    pub upstream: UpstreamHandle,
    pub auth: AuthHandle,
    pub market: watch::Receiver<MarketStatus>,
    pub registry: watch::Receiver<Arc<Registry>>,
    archive: Archive,
}

impl Gateway {
    /// Starts every task and serves on `listener`.
    pub async fn start<W: Wire + Clone>(
        deps: GatewayDeps<W>,
        listener: TcpListener,
    ) -> Result<Gateway, StartError> {
        let GatewayDeps {
            config,
            broker,
            wire,
            clock,
            calendar,
            extra_routes,
        } = deps;
        let addr = listener.local_addr().map_err(StartError::Serve)?;
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();

        // Metrics: install the recorder before any task records.
        let _ = crate::status::telemetry::handle();
        tracker.spawn(crate::status::telemetry::upkeep(shutdown.clone()));

        // Instruments.
        let store = InstrumentLoader::new(broker.clone(), &config.data_dir, clock.clone());
        let loaded = store.load().await?;
        let registry = Arc::new(loaded.registry);
        let (registry_tx, registry_rx) = watch::channel(registry.clone());
        tracker.spawn(store.refresh_daily(loaded.date, registry_tx, shutdown.clone()));

        // Shared status plumbing.
        let gauges = Arc::new(Gauges::default());
        let (feed_live_tx, feed_live_rx) = watch::channel(false);
        let (status_tx, status_rx) = watch::channel(ClientStatus::starting());
        let (quality_tx, quality_rx) = watch::channel(100.0);
        let (fallback_tx, fallback_rx) = watch::channel(false);
        // Until the auth task has looked at the token, say it is being checked.
        let (auth_state_tx, auth_state_rx) = watch::channel(AuthState::Refreshing);
        let (token_tx, token_rx) = watch::channel(None);
        let auth_token_rx = token_rx.clone();

        // Scheduler.
        let sched_cfg = SchedulerConfig {
            enabled: config.enable_scheduler,
            dev_mode: config.dev_mode,
            token_check_lead: config.schedule_times.token_check_lead,
            feed_start_lead: config.schedule_times.feed_start_lead,
            feed_stop_lag: config.schedule_times.feed_stop_lag,
            ..SchedulerConfig::default()
        };
        let segment = Segment::NseCm;
        let now = clock.now();
        let (run0, view0, status0, ..) = schedule::evaluate(now, &calendar, &sched_cfg, segment);
        let (run_tx, run_rx) = watch::channel::<RunPolicy>(run0);
        let run_rx_fallback = run_rx.clone();
        let run_rx_archive = run_rx.clone();
        let (market_tx, market_rx) = watch::channel::<MarketView>(view0);
        let market_view_rx = market_rx.clone();
        let (market_status_tx, market_status_rx) = watch::channel(status0);
        let (checks_tx, checks_rx) = mpsc::channel(4);
        tracker.spawn(schedule::run(
            ScheduleIo {
                clock: clock.clone(),
                calendar: calendar.clone(),
                config: sched_cfg,
                segment,
                run: run_tx,
                market: market_tx,
                status: market_status_tx,
                token_checks: checks_tx,
            },
            shutdown.clone(),
        ));

        // Hub, seeded with the last known values from disk.
        let (closed_quotes_tx, closed_quotes_rx) = mpsc::channel(64);
        let hub = hub::spawn_with_closed_quotes(
            HubConfig::default(),
            feed_live_rx.clone(),
            clock.clone(),
            shutdown.clone(),
            &tracker,
            Some(closed_quotes_tx),
        );
        let values = LastValues::new(&config.data_dir);
        let seeded = values.load(&registry);
        if !seeded.is_empty() {
            tracing::info!(values = seeded.len(), "last known values loaded");
            let _ = hub.seed(seeded).await;
        }
        let candle_store = CandleStore::new(&config.data_dir);
        let archive = Archive {
            hub: hub.clone(),
            values,
            candles: candle_store.clone(),
            clock: clock.clone(),
        };
        // The watchlist is resolved now (so the first connection subscribes it) and again
        // whenever the daily refresh publishes a new registry (derivatives expire, new ones list).
        // Marked seen before resolving, so a registry published meanwhile is followed.
        let mut watchlist = Watchlist::new(config.instruments.clone());
        let mut registry_updates = registry_rx.clone();
        let current = registry_updates.borrow_and_update().clone();
        let _ = hub.set_watchlist(watchlist.resolve(&current)).await;
        tracker.spawn(watchlist.follow(registry_updates, hub.clone(), shutdown.clone()));

        // Upstream. Kite: 3000 instruments per socket, 3 sockets per api_key. Fyers: 5000
        // symbols per app (the data socket's and the API key's limit alike), so one socket.
        let upstream_cfg = match config.broker {
            crate::config::Broker::Kite => UpstreamConfig::kite(config.feed.clone()),
            crate::config::Broker::Fyers => UpstreamConfig {
                shard_cap: 5000,
                max_shards: 1,
                ..UpstreamConfig::kite(config.feed.clone())
            },
        };
        let upstream = upstream::spawn(
            wire,
            upstream_cfg,
            UpstreamInputs {
                demand: hub.demand(),
                token: token_rx,
                run: run_rx,
                ticks: hub.tick_sender(),
                checker: Arc::new(ProfileCheck(broker.clone())),
                clock: clock.clone(),
                gauges: gauges.clone(),
            },
            shutdown.clone(),
            &tracker,
        );

        // Auth.
        let login_url = format!("{}/api/login", config.public_url.trim_end_matches('/'));
        let (env_token, store) = match config.broker {
            crate::config::Broker::Kite => (
                config.kite.access_token.clone(),
                TokenStore::new(&config.data_dir, broker.name()),
            ),
            crate::config::Broker::Fyers => (
                config.fyers.access_token.clone(),
                match &config.fyers.token_file {
                    Some(path) => TokenStore::at(path.clone(), broker.name()),
                    None => TokenStore::new(&config.data_dir, broker.name()),
                },
            ),
        };
        let auth = auth::task::spawn(
            AuthConfig {
                env_token,
                store,
                login_url: login_url.clone(),
                file_poll: Duration::from_secs(2),
            },
            AuthIo {
                broker: broker.clone(),
                clock: clock.clone(),
                token: token_tx,
                state: auth_state_tx,
                feed_events: Some(upstream.subscribe_events()),
                pre_market: checks_rx,
            },
            shutdown.clone(),
            &tracker,
        );

        // Status monitor.
        tracker.spawn(monitor::run(
            MonitorIo {
                shards: upstream.shards.clone(),
                market: market_rx,
                auth: auth_state_rx,
                fallback: fallback_rx.clone(),
                gauges: gauges.clone(),
                clock: clock.clone(),
                stale_threshold: config.feed.stale_threshold,
                poll_interval: config.feed.rest_poll_interval,
                login_url,
                status: status_tx,
                feed_live: feed_live_tx,
                quality: quality_tx,
            },
            shutdown.clone(),
        ));
        let gate = Arc::new(RateGate::new(broker.quote_interval()));
        tracker.spawn(closed_quotes::run(
            ClosedQuotesIo {
                requests: closed_quotes_rx,
                broker: broker.clone(),
                gate: gate.clone(),
                registry: registry_rx.clone(),
                token: auth_token_rx.clone(),
                auth: auth.clone(),
                ticks: hub.tick_sender(),
                feed_live: feed_live_rx.clone(),
                clock: clock.clone(),
            },
            shutdown.clone(),
        ));
        tracker.spawn(archive.clone().run(run_rx_archive, shutdown.clone()));
        tracker.spawn(fallback::run(
            FallbackIo {
                broker: broker.clone(),
                gate,
                shards: upstream.shards.clone(),
                demand: hub.demand(),
                registry: registry_rx.clone(),
                token: auth_token_rx,
                run: run_rx_fallback,
                ticks: hub.tick_sender(),
                active: fallback_tx,
                auth: auth.clone(),
                clock: clock.clone(),
                gauges: gauges.clone(),
                poll_interval: config.feed.rest_poll_interval,
            },
            shutdown.clone(),
        ));

        let client = ClientContext {
            hub: hub.clone(),
            registry: registry_rx.clone(),
            limits: ClientLimits {
                max_symbols: config.max_symbols_per_client,
                ..ClientLimits::default()
            },
            default_throttle: config.tick_throttle,
            heartbeat_interval: config.heartbeat_interval,
            status: StatusView {
                status: status_rx,
                gauges,
            },
            clock: clock.clone(),
        };
        let health = HealthSources {
            market: market_status_rx.clone(),
            expects_data: market_view_rx,
            auth: auth.view.clone(),
            shards: upstream.shards.clone(),
            fallback: fallback_rx,
            quality: quality_rx,
            gauges: client.status.gauges.clone(),
            clock: clock.clone(),
            stale_threshold_s: config.feed.stale_threshold.as_secs_f64(),
        };
        let state = AppState::new(AppParts {
            client,
            upstream: upstream.clone(),
            feed_live: feed_live_rx,
            auth: auth.clone(),
            broker,
            health,
            candles: candle_store,
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
        });
        let mut router = http::router(state.clone());
        if let Some(extra) = extra_routes {
            router = router.merge(extra);
        }
        let serve_shutdown = shutdown.clone();
        tracker.spawn(async move {
            // Ticks are small messages that must leave at once: no Nagle delay.
            let listener = listener.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY on a client socket");
                }
            });
            // `into_make_service` shares one route table across connections; serving the plain
            // router would rebuild it per connection (~1 KiB each, measured with massif).
            let res = axum::serve(listener, router.into_make_service())
                .with_graceful_shutdown(async move { serve_shutdown.cancelled().await })
                .await;
            if let Err(e) = res {
                tracing::error!(error = %e, "HTTP server stopped");
            }
        });
        tracing::info!(%addr, "feedgate gateway listening");
        Ok(Gateway {
            addr,
            shutdown,
            tracker,
            state,
            hub,
            upstream,
            auth,
            market: market_status_rx,
            registry: registry_rx,
            archive,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The market status right now (pure computation, for callers without the watch).
    pub fn market_status_at(
        calendar: &Calendar,
        now: chrono::DateTime<chrono::Utc>,
    ) -> MarketStatus {
        market_status(calendar, Segment::NseCm, now)
    }

    /// Stops every task: clients get a 1001 close, the broker a normal close. Waits at most
    /// `deadline` for tasks to finish.
    pub async fn shutdown(self, deadline: Duration) {
        // Persist while the hub still runs, then stop everything.
        if tokio::time::timeout(deadline, self.archive.save_all())
            .await
            .is_err()
        {
            tracing::warn!("saving state at shutdown took too long; skipped");
        }
        self.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                deadline_s = deadline.as_secs(),
                "some tasks did not stop before the shutdown deadline"
            );
        }
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// The always-subscribed watchlist (`FEEDGATE_INSTRUMENTS`) against the current registry.
#[derive(Debug)]
struct Watchlist {
    symbols: Vec<String>,
    /// Entries the last registry could not resolve (logged when that changes, not daily).
    skipped: Vec<String>,
}

impl Watchlist {
    fn new(symbols: Vec<String>) -> Self {
        Self {
            symbols,
            skipped: Vec::new(),
        }
    }

    /// The instruments the entries name in `registry`.
    fn resolve(
        &mut self,
        registry: &Registry,
    ) -> Vec<(Arc<crate::model::instruments::Instrument>, Mode)> {
        let mut items = Vec::new();
        let mut skipped = Vec::new();
        for sym in &self.symbols {
            match registry.resolve(sym) {
                Ok(inst) => {
                    if self.skipped.contains(sym) {
                        tracing::info!(symbol = %sym, "FEEDGATE_INSTRUMENTS entry found in the new instrument list");
                    }
                    items.push((inst.clone(), Mode::Quote));
                }
                Err(e) => {
                    if !self.skipped.contains(sym) {
                        tracing::warn!(symbol = %sym, reason = %e, "FEEDGATE_INSTRUMENTS entry skipped");
                    }
                    skipped.push(sym.clone());
                }
            }
        }
        self.skipped = skipped;
        items
    }

    /// Resolves the watchlist again for every registry `registry` publishes.
    async fn follow(
        mut self,
        mut registry: watch::Receiver<Arc<Registry>>,
        hub: HubHandle,
        shutdown: CancellationToken,
    ) {
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                r = registry.changed() => if r.is_err() { return },
            }
            let current = registry.borrow_and_update().clone();
            if hub.set_watchlist(self.resolve(&current)).await.is_err() {
                return;
            }
        }
    }
}
