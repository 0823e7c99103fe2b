//! `feedgate demo`: the simulator and the gateway in one process, market treated as open, so
//! a new user sees live ticks in seconds with no broker account. The simulator's control API
//! is also served at `/_sim/*` on the gateway's address, for fault injection. `--broker fyers`
//! runs the gateway's Fyers adapter against the simulator's Fyers side instead of Kite's.

use crate::cli::DemoBroker;
use crate::config_load;
use anyhow::Context;
use feedgate_gateway::runtime::Gateway;
use feedgate_sim::{Sim, SimConfig};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

pub async fn run(
    listen: SocketAddr,
    broker: DemoBroker,
    seed: u64,
    speed: f64,
) -> anyhow::Result<ExitCode> {
    // Bind the gateway first so the simulator's login redirect points at the real port even
    // when `--listen` asks for port 0.
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| {
        format!("cannot listen on {listen}: is another feedgate running? Try --listen 127.0.0.1:8081")
    })?;
    let addr = listener.local_addr()?;
    let signals = crate::shutdown::Signals::install();
    let sim_shutdown = CancellationToken::new();
    let sim = start_sim(addr, seed, speed, sim_shutdown.clone()).await?;
    // The demo keeps nothing between runs: its data directory is temporary.
    let data_dir = tempfile::Builder::new()
        .prefix("feedgate-demo-")
        .tempdir()
        .context("cannot create a temporary data directory")?;
    let vars = demo_vars(addr, data_dir.path(), broker, &sim)?;
    let cfg = config_load::gateway_config(&vars)?;
    crate::serve_cmd::check_access(&cfg, crate::serve_cmd::AccessCheck::Demo)?;
    let extra = axum::Router::new().nest("/_sim", sim.control_router());
    let gw = crate::serve_cmd::start(cfg, Some(extra), Some(listener)).await?;
    announce(&gw, broker)?;
    signals.recv().await;
    gw.shutdown(crate::serve_cmd::SHUTDOWN_DEADLINE).await;
    sim_shutdown.cancel();
    drop(data_dir);
    Ok(ExitCode::SUCCESS)
}

/// The simulator on a local port, its login redirecting to the gateway at `addr`.
async fn start_sim(
    addr: SocketAddr,
    seed: u64,
    speed: f64,
    shutdown: CancellationToken,
) -> anyhow::Result<Sim> {
    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot open a local port for the simulator")?;
    // `--listen 0.0.0.0:…` is no address to redirect a browser to.
    let callback = format!(
        "{}/api/auth/callback",
        feedgate_gateway::config::local_url(addr)
    );
    Sim::start(
        SimConfig {
            redirect_url: callback.clone(),
            fyers_redirect_url: callback,
            seed,
            speed,
            ..SimConfig::default()
        },
        sim_listener,
        shutdown,
    )
    .await
    .context("cannot start the simulator")
}

/// The user's settings, overridden to point the gateway at the simulator.
fn demo_vars(
    addr: SocketAddr,
    data_dir: &Path,
    broker: DemoBroker,
    sim: &Sim,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut vars = config_load::collect(None)?;
    let common = [
        ("FEEDGATE_LISTEN", addr.to_string()),
        ("FEEDGATE_DATA_DIR", data_dir.display().to_string()),
        ("DEV_MODE", "true".to_string()),
    ];
    for (k, v) in common.into_iter().chain(broker_vars(broker, sim)) {
        vars.insert(k.to_string(), v);
    }
    Ok(vars)
}

/// The broker's endpoints on the simulator, its app credentials and a fresh token.
fn broker_vars(broker: DemoBroker, sim: &Sim) -> Vec<(&'static str, String)> {
    let defaults = SimConfig::default();
    match broker {
        DemoBroker::Kite => vec![
            ("FEEDGATE_BROKER", "kite".to_string()),
            ("KITE_API_URL", sim.base_url()),
            ("KITE_WS_URL", sim.ws_url()),
            (
                "KITE_LOGIN_URL",
                format!("{}/connect/login", sim.base_url()),
            ),
            ("ZERODHA_API_KEY", defaults.api_key),
            ("ZERODHA_API_SECRET", defaults.api_secret),
            ("ZERODHA_ACCESS_TOKEN", sim.mint_access_token()),
        ],
        DemoBroker::Fyers => vec![
            ("FEEDGATE_BROKER", "fyers".to_string()),
            ("FYERS_API_URL", sim.fyers_api_url()),
            ("FYERS_WS_URL", sim.fyers_ws_url()),
            (
                "FYERS_DATA_API_URL",
                format!("{}/data", sim.fyers_api_url()),
            ),
            (
                "FYERS_SYMBOLS_URL",
                format!("{}/sym_details", sim.fyers_api_url()),
            ),
            (
                "FYERS_LOGIN_URL",
                format!("{}/api/v3/generate-authcode", sim.fyers_api_url()),
            ),
            ("FYERS_APP_ID", defaults.fyers_app_id),
            ("FYERS_SECRET_ID", defaults.fyers_secret),
            ("FYERS_ACCESS_TOKEN", sim.mint_fyers_token()),
        ],
    }
}

/// The line scripts wait for (on stdout), then where to look (in the log).
fn announce(gw: &Gateway, broker: DemoBroker) -> anyhow::Result<()> {
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "feedgate demo listening on http://{}", gw.local_addr())?;
        out.flush()?;
    }
    tracing::info!(
        dashboard = %format!("http://{}/", gw.local_addr()),
        websocket = %format!("ws://{}/ws/market", gw.local_addr()),
        broker = ?broker,
        faults = %format!("POST http://{}/_sim/fault", gw.local_addr()),
        "demo ready: simulated market, treated as open"
    );
    Ok(())
}
