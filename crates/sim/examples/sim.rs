//! A stand-in for `feedgate sim` with the same arguments and the same first stdout line, for
//! running the conformance script before the `feedgate` binary is built:
//! `cargo run -p feedgate-sim --example sim -- --listen 127.0.0.1:0 --seed 7` (a leading `sim`
//! argument is accepted, so `FEEDGATE_BIN=target/debug/examples/sim` works for the script).

use feedgate_sim::{Sim, SimConfig};
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

fn usage() -> &'static str {
    "usage: sim [--listen ADDR] [--seed N] [--api-key K] [--api-secret S] [--redirect-url URL] [--rate TICKS_PER_S]"
}

fn parse_args() -> Result<(SocketAddr, SimConfig), String> {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 9090).into();
    let mut cfg = SimConfig::default();
    let mut args = std::env::args().skip(1).peekable();
    // Accept `sim` first, so this runs wherever `$FEEDGATE_BIN sim …` is expected.
    args.next_if(|a| a == "sim");
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--seed" => cfg.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--api-key" => cfg.api_key = value()?,
            "--api-secret" => cfg.api_secret = value()?,
            "--redirect-url" => cfg.redirect_url = value()?,
            "--rate" => cfg.rate = Some(value()?.parse().map_err(|e| format!("--rate: {e}"))?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok((listen, cfg))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FEEDGATE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let (listen, cfg) = match parse_args() {
        Ok(parsed) => parsed,
        Err(err) => {
            eprintln!("sim: {err}\n{}", usage());
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("sim: cannot listen on {listen}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = CancellationToken::new();
    let sim = match Sim::start(cfg, listener, shutdown.clone()).await {
        Ok(sim) => sim,
        Err(err) => {
            eprintln!("sim: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "feedgate sim listening on {}", sim.base_url())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(out);
    let _ = tokio::signal::ctrl_c().await;
    shutdown.cancel();
    ExitCode::SUCCESS
}
