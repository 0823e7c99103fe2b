//! Command-line interface (DESIGN.md §3) and dispatch to the subcommands.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "feedgate",
    version,
    about = "Self-healing market-data gateway for Kite Connect and Fyers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulator + gateway in one process, market treated as open; dashboard at http://127.0.0.1:8080/.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Which broker's protocol the gateway speaks to the simulator.
        #[arg(long, value_enum, default_value_t = DemoBroker::Kite)]
        broker: DemoBroker,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Market speed multiplier (1.0 = about one update per instrument per second).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
    },
    /// The gateway against a real broker (or any broker-compatible endpoint set by URL).
    Serve {
        #[arg(long)]
        config: Option<std::path::PathBuf>,
    },
    /// The standalone broker simulator (Kite WS + REST + login page + control API).
    Sim(SimArgs),
    /// Print the market-session JSON for now or the given instant.
    Session {
        /// RFC 3339 instant, e.g. 2026-01-26T10:00:00+05:30 (default: now).
        #[arg(long)]
        at: Option<String>,
        #[arg(long, default_value = "NSE")]
        exchange: String,
    },
    /// Validate config, calendar coverage and token; exit 0 when ready.
    Check {
        #[arg(long)]
        config: Option<std::path::PathBuf>,
    },
    /// Manage access keys (FEEDGATE_DATA_DIR/keys.json): add, list, revoke.
    Keys {
        #[arg(long, global = true)]
        config: Option<std::path::PathBuf>,
        #[command(subcommand)]
        command: crate::keys_cmd::KeysCommand,
    },
}

/// The broker `feedgate demo` simulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoBroker {
    /// Zerodha Kite Connect.
    Kite,
    /// Fyers API v3.
    Fyers,
}

#[derive(Debug, clap::Args)]
pub struct SimArgs {
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub listen: SocketAddr,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value = "feedgate-sim")]
    pub api_key: String,
    #[arg(long, default_value = "feedgate-sim-secret")]
    pub api_secret: String,
    #[arg(long, default_value = "http://127.0.0.1:8080/api/auth/callback")]
    pub redirect_url: String,
    /// Aggregate ticks per second across all instruments (default: ~1 update/s per instrument).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Market speed multiplier when `--rate` is not given (1.0 = about one update per instrument
    /// per second).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// The simulated Fyers app id (with its `-100` suffix).
    #[arg(long, default_value = "FEEDGATESIM-100")]
    pub fyers_app_id: String,
    #[arg(long, default_value = "feedgate-sim-fyers-secret")]
    pub fyers_secret: String,
    /// Where the simulated Fyers login redirects (default: the same as `--redirect-url`).
    #[arg(long)]
    pub fyers_redirect_url: Option<String>,
}

impl Cli {
    /// The `--config` file of the commands that take one.
    pub fn config_file(&self) -> Option<&std::path::Path> {
        match &self.command {
            Command::Serve { config }
            | Command::Check { config }
            | Command::Keys { config, .. } => config.as_deref(),
            _ => None,
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Sim(args) => crate::sim_cmd::run(args).await,
        Command::Session { at, exchange } => crate::session_cmd::run(at, &exchange),
        Command::Demo {
            listen,
            broker,
            seed,
            speed,
        } => crate::demo_cmd::run(listen, broker, seed, speed).await,
        Command::Serve { config } => crate::serve_cmd::run(config.as_deref()).await,
        Command::Check { config } => crate::check_cmd::run(config.as_deref()).await,
        Command::Keys { config, command } => crate::keys_cmd::run(command, config.as_deref()),
    }
}
