//! Command-line interface (DESIGN.md §3) and dispatch to the subcommands.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "feedgate",
    version,
    about = "Self-healing market-data gateway for Kite Connect and Fyers",
    after_help = ENVIRONMENT
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The settings people reach for first; the README's "Configuration" lists every one.
const ENVIRONMENT: &str = "\
Configuration comes from the environment (and a .env file in the working directory, and a TOML
file given with --config, keys in lower case; the environment wins). The main variables:
  FEEDGATE_LISTEN          listen address (127.0.0.1:8080)
  FEEDGATE_PUBLIC_URL      how browsers reach feedgate (login links, cookies)
  FEEDGATE_BROKER          kite or fyers
  ZERODHA_API_KEY, ZERODHA_API_SECRET, ZERODHA_ACCESS_TOKEN     Kite credentials
  FYERS_APP_ID, FYERS_SECRET_ID, FYERS_ACCESS_TOKEN             Fyers credentials
  KITE_API_URL, KITE_WS_URL, KITE_LOGIN_URL, FYERS_API_URL      broker endpoints (e.g. feedgate sim)
  FEEDGATE_INSTRUMENTS     always-streamed watchlist
  FEEDGATE_DATA_DIR        token file, keys, caches, candles (./data)
  FEEDGATE_AUTH, FEEDGATE_API_KEYS, FEEDGATE_ALLOWED_ORIGINS   access control
  FEED_STALE_THRESHOLD, FEED_RECONNECT_DELAY, FEED_MAX_RECONNECTS, REST_POLL_INTERVAL   healing
  FEEDGATE_LOG, FEEDGATE_LOG_FORMAT   log filter, json lines
`feedgate check` validates them all and says what is missing or wrong.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulator + gateway in one process, market treated as open; dashboard at http://127.0.0.1:8080/.
    Demo {
        /// Where the dashboard and the API listen; a non-loopback address also exposes the
        /// simulator's control API (/_sim/*), and feedgate warns about it.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Which broker's protocol the gateway speaks to the simulator.
        #[arg(long, value_enum, default_value_t = DemoBroker::Kite)]
        broker: DemoBroker,
        /// Seed of the simulated market (the same seed, the same prices).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Market speed multiplier (1.0 = about one update per instrument per second).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
    },
    /// The gateway against a real broker (or any broker-compatible endpoint set by URL).
    Serve {
        /// A TOML file with settings (the environment variables' names in lower case); the
        /// environment wins over it.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
    },
    /// The standalone broker simulator: Kite's and Fyers' protocols (WebSocket, REST, login
    /// pages, symbol masters) over one market, plus the fault-injection control API (/_sim/*).
    Sim(SimArgs),
    /// Print the market-session JSON for now or the given instant.
    Session {
        /// RFC 3339 instant, e.g. 2026-01-26T10:00:00+05:30 (default: now).
        #[arg(long)]
        at: Option<String>,
        /// The exchange whose equity session is shown (NSE or BSE).
        #[arg(long, default_value = "NSE")]
        exchange: String,
    },
    /// Validate config, calendar coverage, access control and token; list every problem;
    /// exit 0 when ready.
    Check {
        /// A TOML file with settings, as for `serve`.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
    },
    /// Manage access keys (FEEDGATE_DATA_DIR/keys.json): add, list, revoke.
    Keys {
        /// A TOML file with settings, as for `serve` (for FEEDGATE_DATA_DIR).
        #[arg(long, global = true)]
        config: Option<std::path::PathBuf>,
        #[command(subcommand)]
        command: crate::keys_cmd::KeysCommand,
    },
    /// Write a recorded day's ticks (FEEDGATE_DATA_DIR/recordings) as CSV rows: exact decimals,
    /// IST times, decoded exactly as the live feed decodes them.
    Export {
        /// The IST trading day, YYYY-MM-DD.
        #[arg(long)]
        date: chrono::NaiveDate,
        /// Only from this IST time (HH:MM).
        #[arg(long, value_parser = parse_hhmm)]
        from: Option<chrono::NaiveTime>,
        /// Only up to the end of this IST minute (HH:MM).
        #[arg(long, value_parser = parse_hhmm)]
        to: Option<chrono::NaiveTime>,
        /// Only these instruments: EXCHANGE:SYMBOL or instrument tokens, comma-separated.
        #[arg(long, value_delimiter = ',')]
        symbols: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// A TOML file with settings, as for `serve` (for FEEDGATE_DATA_DIR).
        #[arg(long)]
        config: Option<std::path::PathBuf>,
    },
    /// Serve a recorded day through the whole gateway (dashboard, /ws/market, /kite, candles)
    /// as it happened: recorded times, the market phase of the recorded moment. Kite
    /// recordings; writable state goes to a temporary data directory, never the live one.
    Replay {
        /// The IST trading day, YYYY-MM-DD.
        #[arg(long)]
        date: chrono::NaiveDate,
        /// From this IST time (HH:MM); default the first recorded frame.
        #[arg(long, value_parser = parse_hhmm)]
        from: Option<chrono::NaiveTime>,
        /// Up to the end of this IST minute (HH:MM).
        #[arg(long, value_parser = parse_hhmm)]
        to: Option<chrono::NaiveTime>,
        /// How fast: a factor of real time (1 = as it happened, 10 = ten times faster) or
        /// `max` (as fast as the gateway takes the frames).
        #[arg(long, default_value = "1", value_parser = parse_speed)]
        speed: feedgate_gateway::replay::clock::Speed,
        /// Where the dashboard and the API listen (default FEEDGATE_LISTEN).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Exit when the range has been replayed instead of serving on until Ctrl-C.
        #[arg(long)]
        exit_at_end: bool,
        /// A TOML file with settings, as for `serve` (FEEDGATE_DATA_DIR, access, watchlist).
        #[arg(long)]
        config: Option<std::path::PathBuf>,
    },
}

fn parse_speed(s: &str) -> Result<feedgate_gateway::replay::clock::Speed, String> {
    use feedgate_gateway::replay::clock::Speed;
    if s.eq_ignore_ascii_case("max") {
        return Ok(Speed::Max);
    }
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(Speed::Times(x)),
        _ => Err(format!("{s:?} is neither a positive number nor max")),
    }
}

/// What `feedgate export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// Comma-separated values with a header row.
    Csv,
}

fn parse_hhmm(s: &str) -> Result<chrono::NaiveTime, String> {
    chrono::NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| format!("{s:?} is not HH:MM"))
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
    /// Where the simulated broker listens (Kite's ticker at ws://ADDR/, Fyers' data socket at
    /// ws://ADDR/hsm/v1-5/prod, REST and login pages under http://ADDR/).
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub listen: SocketAddr,
    /// Seed of the simulated market (the same seed, the same prices).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The simulated Kite app's API key (ZERODHA_API_KEY of the gateway).
    #[arg(long, default_value = "feedgate-sim")]
    pub api_key: String,
    /// The simulated Kite app's API secret (ZERODHA_API_SECRET of the gateway).
    #[arg(long, default_value = "feedgate-sim-secret")]
    pub api_secret: String,
    /// Where the simulated Kite login page sends the browser (the gateway's callback).
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
    /// The simulated Fyers app's secret id (FYERS_SECRET_ID of the gateway).
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
            | Command::Keys { config, .. }
            | Command::Export { config, .. }
            | Command::Replay { config, .. } => config.as_deref(),
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
        Command::Export {
            date,
            from,
            to,
            symbols,
            format: ExportFormat::Csv,
            out,
            config,
        } => crate::export_cmd::run(crate::export_cmd::ExportArgs {
            date,
            from,
            to,
            symbols,
            out,
            config,
        }),
        Command::Replay {
            date,
            from,
            to,
            speed,
            listen,
            exit_at_end,
            config,
        } => {
            crate::replay_cmd::run(crate::replay_cmd::ReplayArgs {
                date,
                from,
                to,
                speed,
                listen,
                exit_at_end,
                config,
            })
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every command and every flag says what it is for (issue 18: `--config` had no help), and
    /// the top-level help names the environment variables.
    #[test]
    fn every_command_and_flag_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in cmd.get_subcommands() {
                let name = format!("{path} {}", sub.get_name()).trim().to_string();
                if sub.get_about().is_none() {
                    missing.push(name.clone());
                }
                for arg in sub.get_arguments() {
                    let id = arg.get_id().as_str();
                    if id != "help" && id != "version" && arg.get_help().is_none() {
                        missing.push(format!("{name} --{id}"));
                    }
                }
                walk(sub, &name, missing);
            }
        }
        let cli = Cli::command();
        let mut missing = Vec::new();
        walk(&cli, "", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
        let help = cli.clone().render_help().to_string();
        for var in [
            "FEEDGATE_LISTEN",
            "ZERODHA_API_KEY",
            "FYERS_APP_ID",
            "KITE_WS_URL",
        ] {
            assert!(help.contains(var), "--help does not name {var}");
        }
    }

    #[test]
    fn replay_takes_a_speed_factor_or_max_and_refuses_the_rest() {
        use feedgate_gateway::replay::clock::Speed;
        let speed = |args: &[&str]| {
            let mut all = vec!["feedgate", "replay", "--date", "2026-12-07"];
            all.extend_from_slice(args);
            match Cli::try_parse_from(all).map(|c| c.command) {
                Ok(Command::Replay { speed, .. }) => Ok(speed),
                Ok(other) => panic!("{other:?}"),
                Err(e) => Err(e.to_string()),
            }
        };
        assert_eq!(speed(&[]), Ok(Speed::Times(1.0)));
        assert_eq!(speed(&["--speed", "10"]), Ok(Speed::Times(10.0)));
        assert_eq!(speed(&["--speed", "MAX"]), Ok(Speed::Max));
        for bad in ["0", "-2", "fast", "inf"] {
            assert!(speed(&["--speed", bad]).is_err(), "{bad}");
        }
    }
}
