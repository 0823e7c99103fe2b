//! The `feedgate` binary: command line, logging set-up and wiring of the library crates.
//! This is the only crate that uses `anyhow`: errors end here, as messages for a person.

mod calendar;
mod check_cmd;
mod cli;
mod config_load;
mod credentials;
mod demo_cmd;
mod export_cmd;
mod keys_cmd;
mod logging;
mod replay_cmd;
mod serve_cmd;
mod session_cmd;
mod shutdown;
mod sim_cmd;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // A `.env` in the working directory is part of the documented configuration (DESIGN.md §4).
    let dotenv = dotenvy::dotenv();
    let cli = cli::Cli::parse();
    // Logging settings may come from the config file too, so it is read (quietly) first; its
    // own errors are reported by the command once logging runs.
    let file = cli
        .config_file()
        .and_then(|path| Some((path, config_load::read_file(path).ok()?)));
    let settings = logging::settings(
        |key| std::env::var(key).ok(),
        file.as_ref().map(|(path, vars)| (*path, vars)),
    );
    match settings {
        Ok(s) => logging::init(&s),
        Err(errors) => {
            eprintln!("feedgate: invalid configuration:");
            for e in errors {
                eprintln!("  - {e}");
            }
            return ExitCode::FAILURE;
        }
    }
    if let Err(err) = &dotenv
        && !err.not_found()
    {
        tracing::warn!(error = %err, "could not read .env; continuing with the process environment");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("feedgate: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("feedgate: {err:#}");
            ExitCode::FAILURE
        }
    }
}
