//! The soak's world, all in this process and on tokio's clock: the simulator and a gateway
//! wired to it on loopback (Kite, no always-on watchlist, throttle 0, the real calendar), one
//! wall clock for both starting at the chosen instant, a temporary data directory, and the
//! HTTP clients the scripted user and the checks use.

use crate::login;
use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};
use feedgate_gateway::config::GatewayConfig;
use feedgate_gateway::model::clock::{SharedClock, TokioClock};
use feedgate_gateway::runtime::Gateway;
use feedgate_sim::{Fault, Sim, SimConfig, SimState};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The simulator and the gateway, running.
pub struct SoakEnv {
    sim: Sim,
    gw: Gateway,
    sim_shutdown: CancellationToken,
    data_dir: tempfile::TempDir,
    pub clock: SharedClock,
    /// Follows redirects, as a browser does (the login).
    browser: reqwest::Client,
}

impl SoakEnv {
    /// Starts both with the wall clock at `at` and a token the simulator minted.
    pub async fn start(at: DateTime<Utc>) -> anyhow::Result<Self> {
        let gw_listener = TcpListener::bind("127.0.0.1:0").await?;
        let gw_addr = gw_listener.local_addr()?;
        let sim_listener = TcpListener::bind("127.0.0.1:0").await?;
        let sim_shutdown = CancellationToken::new();
        let sim_cfg = SimConfig {
            start_at: Some(at),
            redirect_url: format!("http://{gw_addr}/api/auth/callback"),
            ..SimConfig::default()
        };
        let sim = Sim::start(sim_cfg.clone(), sim_listener, sim_shutdown.clone())
            .await
            .map_err(|e| anyhow!("simulator: {e}"))?;
        let data_dir = tempfile::Builder::new()
            .prefix("feedgate-soak-")
            .tempdir()
            .context("temporary data directory")?;
        let vars = gateway_vars(&sim, &sim_cfg, gw_addr, data_dir.path());
        let config = GatewayConfig::from_vars(&vars).map_err(|e| anyhow!("config: {e}"))?;
        let clock: SharedClock = Arc::new(TokioClock::starting_at(at));
        let gw = start_gateway(config, clock.clone(), sim.control_router(), gw_listener).await?;
        Ok(Self {
            sim,
            gw,
            sim_shutdown,
            data_dir,
            clock,
            browser: reqwest::Client::new(),
        })
    }

    pub fn gateway_addr(&self) -> SocketAddr {
        self.gw.local_addr()
    }

    /// The gateway's health document.
    pub async fn health(&self) -> anyhow::Result<Value> {
        let url = format!("http://{}/api/system/health", self.gateway_addr());
        let body = self.browser.get(url).send().await?.error_for_status()?;
        Ok(body.json().await?)
    }

    /// What the gateway's upstream shards say, for a report on a stuck client.
    pub fn shards(&self) -> String {
        format!("{:?}", *self.gw.upstream.shards.borrow())
    }

    pub fn sim_state(&self) -> SimState {
        self.sim.state()
    }

    pub fn fault(&self, fault: Fault) -> anyhow::Result<()> {
        self.sim
            .fault(fault)
            .map_err(|e| anyhow!("fault refused: {e}"))
    }

    /// Logs in through the login pages, as the user does in a browser.
    pub async fn login(&self) -> anyhow::Result<()> {
        login::login(&self.browser, self.gateway_addr()).await
    }

    /// Where the close writes the candle file of `day`.
    pub fn candle_file(&self, day: chrono::NaiveDate) -> PathBuf {
        self.data_dir
            .path()
            .join("candles")
            .join(format!("{day}.csv"))
    }

    pub async fn shutdown(self) {
        self.gw.shutdown(Duration::from_secs(5)).await;
        self.sim_shutdown.cancel();
    }
}

/// The gateway's settings: Kite against the simulator, the real calendar (`DEV_MODE` off).
fn gateway_vars(
    sim: &Sim,
    cfg: &SimConfig,
    addr: SocketAddr,
    data_dir: &std::path::Path,
) -> BTreeMap<String, String> {
    let base = sim.base_url();
    [
        ("FEEDGATE_LISTEN", addr.to_string()),
        ("FEEDGATE_DATA_DIR", data_dir.display().to_string()),
        ("FEEDGATE_INSTRUMENTS", String::new()),
        ("TICK_THROTTLE_MS", "0".into()),
        ("DEV_MODE", "false".into()),
        ("KITE_API_URL", base.clone()),
        ("KITE_WS_URL", sim.ws_url()),
        ("KITE_LOGIN_URL", format!("{base}/connect/login")),
        ("ZERODHA_API_KEY", cfg.api_key.clone()),
        ("ZERODHA_API_SECRET", cfg.api_secret.clone()),
        ("ZERODHA_ACCESS_TOKEN", sim.mint_access_token()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

async fn start_gateway(
    config: GatewayConfig,
    clock: SharedClock,
    routes: axum::Router,
    listener: TcpListener,
) -> anyhow::Result<Gateway> {
    let routes = axum::Router::new().nest("/_sim", routes);
    crate::kite_gateway::start(config, clock, Some(routes), listener).await
}
