//! `feedgate check`: validates the configuration, the calendar's coverage and the access token
//! without starting anything. Exit 0 when feedgate is ready to serve; otherwise non-zero with a
//! list of what to fix.

use crate::config_load;
use chrono::Utc;
use feedgate_gateway::auth::TokenStore;
use feedgate_gateway::broker::BrokerApi;
use feedgate_gateway::config::Broker;
use feedgate_session::Segment;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

pub async fn run(config_file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let mut problems = 0usize;
    let mut warnings = 0usize;
    let vars = config_load::collect(config_file)?;
    let cfg = match config_load::gateway_config(&vars) {
        Ok(c) => {
            writeln!(out, "ok    configuration is valid")?;
            c
        }
        Err(e) => {
            writeln!(out, "FAIL  {e}")?;
            return Ok(ExitCode::FAILURE);
        }
    };
    if let Err(e) = crate::serve_cmd::check_credentials(&cfg) {
        writeln!(out, "FAIL  {e}")?;
        return Ok(ExitCode::FAILURE);
    }

    let calendar = match &cfg.calendar {
        Some(path) => match crate::calendar::load_from(path) {
            Ok(c) => {
                writeln!(out, "ok    calendar override {} loaded", path.display())?;
                c
            }
            Err(e) => {
                writeln!(out, "FAIL  {e:#}")?;
                return Ok(ExitCode::FAILURE);
            }
        },
        None => feedgate_session::Calendar::builtin(),
    };
    let today = feedgate_session::to_ist(Utc::now()).date_naive();
    let cal_warnings = calendar.coverage_warnings(Segment::NseCm, today);
    if cal_warnings.is_empty() {
        writeln!(
            out,
            "ok    calendar covers today; holidays known through {}",
            calendar.valid_through()
        )?;
    }
    for w in cal_warnings {
        warnings += 1;
        writeln!(out, "warn  calendar: {}", w.message)?;
    }

    // The broker, its token file and its environment variable.
    let (broker, store, env_token, env_name, label): (
        Arc<dyn BrokerApi>,
        TokenStore,
        _,
        &str,
        &str,
    ) = match cfg.broker {
        Broker::Kite => (
            Arc::new(crate::serve_cmd::kite_broker(&cfg)?),
            TokenStore::new(&cfg.data_dir, "kite"),
            cfg.kite.access_token.clone(),
            "ZERODHA_ACCESS_TOKEN",
            "Kite",
        ),
        Broker::Fyers => (
            Arc::new(crate::serve_cmd::fyers_broker(&cfg)?),
            match &cfg.fyers.token_file {
                Some(path) => TokenStore::at(path.clone(), "fyers"),
                None => TokenStore::new(&cfg.data_dir, "fyers"),
            },
            cfg.fyers.access_token.clone(),
            "FYERS_ACCESS_TOKEN",
            "Fyers",
        ),
    };
    let token = match store.load() {
        Ok(Some(t)) => Some((t.token, "token file")),
        Ok(None) => env_token.map(|t| (t, env_name)),
        Err(e) => {
            warnings += 1;
            writeln!(out, "warn  {e}")?;
            env_token.map(|t| (t, env_name))
        }
    };
    let login = format!("{}/api/login", cfg.public_url.trim_end_matches('/'));
    match token {
        None => {
            problems += 1;
            writeln!(
                out,
                "FAIL  no access token: start `feedgate serve` and log in at {login}, or set {env_name}"
            )?;
        }
        Some((token, source)) => {
            let hint = broker.expiry_hint(&token, None);
            match broker.profile(token).await {
                Ok(p) => {
                    writeln!(
                        out,
                        "ok    access token from the {source} is valid (user {})",
                        p.user_id
                    )?;
                    if cfg.broker == Broker::Fyers
                        && let Some(exp) = hint
                    {
                        let left = exp - Utc::now();
                        writeln!(
                            out,
                            "ok    the token expires at {} ({:.1} h from now)",
                            feedgate_session::to_ist(exp).format("%Y-%m-%d %H:%M IST"),
                            left.num_minutes() as f64 / 60.0
                        )?;
                    }
                }
                Err(e) if e.is_auth() => {
                    problems += 1;
                    writeln!(
                        out,
                        "FAIL  the access token from the {source} was rejected by {label}: log in again at {login}"
                    )?;
                }
                Err(e) => {
                    problems += 1;
                    writeln!(out, "FAIL  cannot check the token with {label}: {e}")?;
                }
            }
        }
    }
    if problems == 0 {
        writeln!(out, "ready ({warnings} warning(s))")?;
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(
            out,
            "not ready: {problems} problem(s), {warnings} warning(s)"
        )?;
        Ok(ExitCode::FAILURE)
    }
}
