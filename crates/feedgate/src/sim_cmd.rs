//! `feedgate sim`: the standalone broker simulator. Prints its address as the first line on
//! stdout (scripts read it to learn the port when `--listen` uses port 0).

use crate::cli::SimArgs;
use anyhow::Context;
use feedgate_sim::{Sim, SimConfig};
use std::io::Write;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

pub async fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (is the port in use?)", args.listen))?;
    let fyers_redirect_url = args
        .fyers_redirect_url
        .unwrap_or_else(|| args.redirect_url.clone());
    let cfg = SimConfig {
        api_key: args.api_key,
        api_secret: args.api_secret,
        redirect_url: args.redirect_url,
        seed: args.seed,
        rate: args.rate,
        speed: args.speed,
        fyers_app_id: args.fyers_app_id,
        fyers_secret: args.fyers_secret,
        fyers_redirect_url,
        ..SimConfig::default()
    };
    let signals = crate::shutdown::Signals::install();
    let shutdown = CancellationToken::new();
    let sim = Sim::start(cfg, listener, shutdown.clone())
        .await
        .context("cannot start the simulator")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "feedgate sim listening on {}", sim.base_url())?;
        out.flush()?;
    }
    tracing::info!(
        addr = %sim.local_addr(),
        kite_ws = %sim.ws_url(),
        fyers_ws = %sim.fyers_ws_url(),
        "simulator ready: Kite ticker at /, Fyers data socket at /hsm/v1-5/prod; login pages at /connect/login (Kite) and /api/v3/generate-authcode (Fyers); control API at /_sim/"
    );
    signals.recv().await;
    shutdown.cancel();
    Ok(ExitCode::SUCCESS)
}
