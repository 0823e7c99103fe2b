//! `feedgate check`: validates the configuration, the calendar's coverage and the access token
//! without starting anything. Exit 0 when feedgate is ready to serve; otherwise non-zero with a
//! list of what to fix.

use crate::config_load;
use chrono::Utc;
use feedgate_gateway::auth::TokenStore;
use feedgate_gateway::broker::BrokerApi;
use feedgate_gateway::broker::kite::KiteBroker;
use feedgate_gateway::config::Broker;
use feedgate_session::Segment;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

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

    if cfg.broker == Broker::Kite {
        let broker = KiteBroker::new(
            &cfg.kite.api_url,
            &cfg.kite.login_url,
            &cfg.kite.api_key,
            cfg.kite.api_secret.clone(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let store = TokenStore::new(&cfg.data_dir, "kite");
        let token = match store.load() {
            Ok(Some(t)) => Some((t.token, "token file")),
            Ok(None) => cfg
                .kite
                .access_token
                .clone()
                .map(|t| (t, "ZERODHA_ACCESS_TOKEN")),
            Err(e) => {
                warnings += 1;
                writeln!(out, "warn  {e}")?;
                cfg.kite
                    .access_token
                    .clone()
                    .map(|t| (t, "ZERODHA_ACCESS_TOKEN"))
            }
        };
        let login = format!("{}/api/login", cfg.public_url.trim_end_matches('/'));
        match token {
            None => {
                problems += 1;
                writeln!(
                    out,
                    "FAIL  no access token: start `feedgate serve` and log in at {login}, or set ZERODHA_ACCESS_TOKEN"
                )?;
            }
            Some((token, source)) => match broker.profile(token).await {
                Ok(p) => writeln!(
                    out,
                    "ok    access token from the {source} is valid (user {})",
                    p.user_id
                )?,
                Err(e) if e.is_auth() => {
                    problems += 1;
                    writeln!(
                        out,
                        "FAIL  the access token from the {source} was rejected by Kite: log in again at {login}"
                    )?;
                }
                Err(e) => {
                    problems += 1;
                    writeln!(out, "FAIL  cannot check the token with Kite: {e}")?;
                }
            },
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
