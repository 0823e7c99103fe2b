//! `feedgate check`: validates the configuration, the calendar's coverage and the access token
//! without starting anything. Exit 0 when feedgate is ready to serve; otherwise non-zero with a
//! list of what to fix.

use crate::config_load;
use crate::credentials::Severity;
use chrono::Utc;
use feedgate_gateway::access::KeyRing;
use feedgate_gateway::access::startup::{StartCheck, start_check};
use feedgate_gateway::brokers::BrokerApi;
use feedgate_gateway::config::{AuthMode, Broker, ConfigErrors, GatewayConfig};
use feedgate_gateway::model::secret::same_secret;
use feedgate_gateway::store::token_file::TokenStore;
use feedgate_session::{Calendar, Segment};
use secrecy::SecretString;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// A clustered role needs Redis: one PING, and the round trip reported. Returns the problems.
async fn check_cluster(out: &mut impl Write, cfg: &GatewayConfig) -> anyhow::Result<usize> {
    let c = &cfg.cluster;
    let Some(url) = c.redis.as_ref().filter(|_| c.role.clustered()) else {
        return Ok(0);
    };
    match feedgate_gateway::cluster::store::ping(url, std::time::Duration::from_secs(3)).await {
        Ok(rtt) => {
            writeln!(
                out,
                "ok    Redis at {url} answers ({} ms); this is node {} with role {}",
                rtt.as_millis(),
                c.node,
                c.role.as_str()
            )?;
            Ok(0)
        }
        Err(e) => {
            writeln!(
                out,
                "FAIL  Redis at {url} (FEEDGATE_REDIS_URL) does not answer: {e}; FEEDGATE_ROLE={} needs it",
                c.role.as_str()
            )?;
            Ok(1)
        }
    }
}

pub async fn run(config_file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let vars = config_load::collect(config_file)?;
    let mut warnings = 0;
    for key in GatewayConfig::unknown_keys(&vars) {
        warnings += 1;
        writeln!(out, "warn  unknown setting {key} (typo?); ignored")?;
    }
    let cfg = match GatewayConfig::from_vars(&vars) {
        Ok(c) => c,
        Err(ConfigErrors(errors)) => {
            // Every invalid setting; nothing else can be checked without a configuration.
            for e in &errors {
                writeln!(out, "FAIL  {e}")?;
            }
            return verdict(&mut out, errors.len(), warnings);
        }
    };
    let creds = check_credentials(&mut out, &cfg)?;
    let mut problems = creds.problems;
    warnings += creds.warnings;
    match load_calendar(&mut out, &cfg)? {
        Some(calendar) => warnings += check_calendar(&mut out, &calendar)?,
        None => problems += 1,
    }
    let (access_problems, access_warnings) = check_access(&mut out, &cfg)?;
    problems += access_problems;
    warnings += access_warnings;
    problems += check_cluster(&mut out, &cfg).await?;
    if creds.problems > 0 {
        writeln!(
            out,
            "skip  the access token is not checked until the credentials above are set"
        )?;
        return verdict(&mut out, problems, warnings);
    }
    let target = TokenTarget::for_config(&cfg)?;
    let login = cfg.login_page();
    let file = match target.store.load() {
        Ok(t) => t.map(|t| t.token),
        Err(e) => {
            warnings += 1;
            writeln!(out, "warn  {e}")?;
            None
        }
    };
    let names = target.names(&login);
    let found = check_token(
        &mut out,
        target.broker.as_ref(),
        file,
        target.env_token,
        names,
    )
    .await?;
    problems += found.problems;
    warnings += found.warnings;
    if found.problems == 0 && cfg.broker == Broker::Fyers {
        report_expiry(&mut out, target.broker.as_ref(), found.valid)?;
    }
    verdict(&mut out, problems, warnings)
}

/// Access control as `serve` would decide it: `(problems, warnings)`.
fn check_access(out: &mut impl Write, cfg: &GatewayConfig) -> anyhow::Result<(usize, usize)> {
    let ring = KeyRing::new(Some(KeyRing::file_in(&cfg.data_dir)), &cfg.access.env_keys);
    let keys = ring.len();
    match start_check(cfg, keys) {
        StartCheck::Refuse(msg) => {
            writeln!(out, "FAIL  {msg}")?;
            Ok((1, 0))
        }
        StartCheck::Warn(msg) => {
            writeln!(out, "warn  {msg}")?;
            Ok((0, 1))
        }
        StartCheck::Ready => {
            let mode = match cfg.access.mode {
                AuthMode::Off => "access control off (loopback listen address)".to_string(),
                AuthMode::Keys => format!("access control on, {keys} key(s)"),
            };
            writeln!(out, "ok    {mode}")?;
            Ok((0, 0))
        }
    }
}

/// Failures and warnings a step printed.
#[derive(Debug, Default)]
struct Tally {
    problems: usize,
    warnings: usize,
}

/// The broker credentials: every finding in the report (not the log), and "configuration is
/// valid" only when nothing is missing.
fn check_credentials(out: &mut impl Write, cfg: &GatewayConfig) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    for f in crate::credentials::findings(cfg) {
        match f.severity {
            Severity::Fail => {
                tally.problems += 1;
                writeln!(out, "FAIL  {}", f.message)?;
            }
            Severity::Warn => {
                tally.warnings += 1;
                writeln!(out, "warn  {}", f.message)?;
            }
        }
    }
    if tally.problems == 0 {
        writeln!(out, "ok    configuration is valid")?;
    }
    Ok(tally)
}

/// The built-in calendar, or the configured override; `None` after printing why it failed.
fn load_calendar(out: &mut impl Write, cfg: &GatewayConfig) -> anyhow::Result<Option<Calendar>> {
    let Some(path) = &cfg.calendar else {
        return Ok(Some(Calendar::builtin()));
    };
    match crate::calendar::load_from(path) {
        Ok(c) => {
            writeln!(out, "ok    calendar override {} loaded", path.display())?;
            Ok(Some(c))
        }
        Err(e) => {
            writeln!(out, "FAIL  {e:#}")?;
            Ok(None)
        }
    }
}

/// Whether the calendar covers today and the days ahead; returns the warnings printed.
fn check_calendar(out: &mut impl Write, calendar: &Calendar) -> anyhow::Result<usize> {
    let today = feedgate_session::to_ist(Utc::now()).date_naive();
    let warnings = calendar.coverage_warnings(Segment::NseCm, today);
    if warnings.is_empty() {
        writeln!(
            out,
            "ok    calendar covers today; holidays known through {}",
            calendar.valid_through()
        )?;
    }
    for w in &warnings {
        writeln!(out, "warn  calendar: {}", w.message)?;
    }
    Ok(warnings.len())
}

/// The broker, its token file and its environment variable.
#[derive(Debug)]
struct TokenTarget {
    broker: Arc<dyn BrokerApi>,
    store: TokenStore,
    env_token: Option<SecretString>,
    /// `ZERODHA_ACCESS_TOKEN` or `FYERS_ACCESS_TOKEN`.
    env_name: &'static str,
    /// `Kite` or `Fyers`.
    label: &'static str,
}

impl TokenTarget {
    fn for_config(cfg: &GatewayConfig) -> anyhow::Result<Self> {
        Ok(match cfg.broker {
            Broker::Kite => Self {
                broker: Arc::new(crate::serve_cmd::kite_broker(cfg)?),
                store: TokenStore::for_config(cfg, "kite"),
                env_token: cfg.env_token(),
                env_name: "ZERODHA_ACCESS_TOKEN",
                label: "Kite",
            },
            Broker::Fyers => Self {
                broker: Arc::new(crate::serve_cmd::fyers_broker(cfg)?),
                store: TokenStore::for_config(cfg, "fyers"),
                env_token: cfg.env_token(),
                env_name: "FYERS_ACCESS_TOKEN",
                label: "Fyers",
            },
        })
    }

    fn names<'a>(&self, login: &'a str) -> TokenNames<'a> {
        TokenNames {
            env: self.env_name,
            broker: self.label,
            login,
        }
    }
}

/// When the accepted token stops working, if the broker says.
fn report_expiry(
    out: &mut impl Write,
    broker: &dyn BrokerApi,
    valid: Option<SecretString>,
) -> anyhow::Result<()> {
    if let Some(exp) = valid.and_then(|t| broker.expiry_hint(&t, None)) {
        let left = exp - Utc::now();
        writeln!(
            out,
            "ok    the token expires at {} ({:.1} h from now)",
            feedgate_session::to_ist(exp).format("%Y-%m-%d %H:%M IST"),
            left.num_minutes() as f64 / 60.0
        )?;
    }
    Ok(())
}

/// The last line, and the exit code that goes with it.
fn verdict(out: &mut impl Write, problems: usize, warnings: usize) -> anyhow::Result<ExitCode> {
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

/// How the token's sources and the broker are named in the report.
#[derive(Debug, Clone, Copy)]
struct TokenNames<'a> {
    /// `ZERODHA_ACCESS_TOKEN` or `FYERS_ACCESS_TOKEN`.
    env: &'a str,
    /// `Kite` or `Fyers`.
    broker: &'a str,
    /// The gateway's `/api/login`.
    login: &'a str,
}

/// What the token check found.
#[derive(Debug, Default)]
struct TokenReport {
    problems: usize,
    warnings: usize,
    /// The token `feedgate serve` would use, if the broker accepted it.
    valid: Option<SecretString>,
}

/// Checks the token `feedgate serve` would start with, choosing it the same way: the token
/// file if the broker accepts it, else the environment's token (when both exist and differ).
async fn check_token(
    out: &mut impl Write,
    broker: &dyn BrokerApi,
    file: Option<SecretString>,
    env: Option<SecretString>,
    names: TokenNames<'_>,
) -> anyhow::Result<TokenReport> {
    let mut report = TokenReport::default();
    let candidates = candidates(file, env, names.env);
    if candidates.is_empty() {
        report.problems += 1;
        writeln!(
            out,
            "FAIL  no access token: start `feedgate serve` and log in at {}, or set {}",
            names.login, names.env
        )?;
        return Ok(report);
    }
    let last = candidates.len() - 1;
    for (i, (token, source)) in candidates.into_iter().enumerate() {
        match broker.profile(token.clone()).await {
            Ok(p) => {
                writeln!(
                    out,
                    "ok    access token from {source} is valid (user {})",
                    p.user_id
                )?;
                report.valid = Some(token);
                break;
            }
            Err(e) if e.is_auth() => report.rejected(out, source, i < last, names)?,
            Err(e) => {
                // No verdict: `serve` would start with this token too.
                report.problems += 1;
                writeln!(
                    out,
                    "FAIL  cannot check the token with {}: {e}",
                    names.broker
                )?;
                break;
            }
        }
    }
    Ok(report)
}

/// The tokens `serve` would try, in its order, with where each comes from.
fn candidates(
    file: Option<SecretString>,
    env: Option<SecretString>,
    env_name: &str,
) -> Vec<(SecretString, &str)> {
    let env = env.filter(|e| !file.as_ref().is_some_and(|f| same_secret(f, e)));
    let mut candidates = Vec::new();
    if let Some(t) = file {
        candidates.push((t, "the token file"));
    }
    if let Some(t) = env {
        candidates.push((t, env_name));
    }
    candidates
}

impl TokenReport {
    /// The broker rejected the token from `source`: a warning when `serve` would fall back to
    /// the next one, else a problem.
    fn rejected(
        &mut self,
        out: &mut impl Write,
        source: &str,
        has_next: bool,
        names: TokenNames<'_>,
    ) -> anyhow::Result<()> {
        if has_next {
            self.warnings += 1;
            writeln!(
                out,
                "warn  the access token in the token file was rejected by {}; `feedgate serve` uses {} instead",
                names.broker, names.env
            )?;
        } else {
            self.problems += 1;
            writeln!(
                out,
                "FAIL  the access token from {source} was rejected by {}: log in again at {}",
                names.broker, names.login
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feedgate_gateway::brokers::kite::rest::KiteBroker;
    use feedgate_sim::{Sim, SimConfig};
    use tokio_util::sync::CancellationToken;

    const NAMES: TokenNames<'static> = TokenNames {
        env: "ZERODHA_ACCESS_TOKEN",
        broker: "Kite",
        login: "http://127.0.0.1:8080/api/login",
    };

    #[tokio::test]
    async fn the_token_is_chosen_as_serve_chooses_it() {
        let shutdown = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim = Sim::start(SimConfig::default(), listener, shutdown.clone())
            .await
            .unwrap();
        let defaults = SimConfig::default();
        let broker = KiteBroker::new(
            &sim.base_url(),
            &format!("{}/connect/login", sim.base_url()),
            &defaults.api_key,
            SecretString::from(defaults.api_secret),
        )
        .unwrap();
        let good = || Some(SecretString::from(sim.mint_access_token()));
        let stale = || Some(SecretString::from("stale-token"));
        let check = |file: Option<SecretString>, env: Option<SecretString>| {
            let broker = &broker;
            async move {
                let mut out = Vec::new();
                let r = check_token(&mut out, broker, file, env, NAMES)
                    .await
                    .unwrap();
                (r.problems, r.warnings, String::from_utf8(out).unwrap())
            }
        };

        // A rejected file token and a working environment token: serve uses the environment's.
        let (problems, warnings, text) = check(stale(), good()).await;
        assert_eq!((problems, warnings), (0, 1), "{text}");
        assert!(
            text.contains("ok    access token from ZERODHA_ACCESS_TOKEN is valid"),
            "{text}"
        );
        // A working file token wins over the environment's.
        let (problems, warnings, text) = check(good(), stale()).await;
        assert_eq!((problems, warnings), (0, 0), "{text}");
        assert!(text.contains("from the token file is valid"), "{text}");
        // Both rejected, or none at all: not ready.
        let (problems, _, text) = check(stale(), Some(SecretString::from("older"))).await;
        assert_eq!(problems, 1, "{text}");
        assert!(text.contains("FAIL  the access token from ZERODHA_ACCESS_TOKEN was rejected"));
        let (problems, _, text) = check(None, None).await;
        assert_eq!(problems, 1, "{text}");
        assert!(text.contains("FAIL  no access token"), "{text}");
        shutdown.cancel();
    }
}
