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
    let cfg = SimConfig {
        api_key: args.api_key,
        api_secret: args.api_secret,
        redirect_url: args.redirect_url,
        seed: args.seed,
        rate: args.rate,
        ..SimConfig::default()
    };
    let shutdown = CancellationToken::new();
    let sim = Sim::start(cfg, listener, shutdown.clone())
        .await
        .context("cannot start the simulator")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "feedgate sim listening on {}", sim.base_url())?;
        out.flush()?;
    }
    tracing::info!(addr = %sim.local_addr(), "simulator ready; control API at /_sim/, login page at /connect/login");
    crate::shutdown::signal().await;
    shutdown.cancel();
    Ok(ExitCode::SUCCESS)
}
