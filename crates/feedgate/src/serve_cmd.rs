//! `feedgate serve`: the gateway against a real broker (or any broker-compatible endpoint).

use crate::config_load;
use crate::credentials::Severity;
use anyhow::Context;
use feedgate_gateway::access::KeyRing;
use feedgate_gateway::access::startup::{StartCheck, start_check};
use feedgate_gateway::brokers::fyers::rest::{FyersBroker, FyersSettings};
use feedgate_gateway::brokers::kite::rest::KiteBroker;
use feedgate_gateway::brokers::kite::wire::KiteWire;
use feedgate_gateway::brokers::wire::Wire;
use feedgate_gateway::config::{AuthMode, Broker, GatewayConfig};
use feedgate_gateway::model::clock::SystemClock;
use feedgate_gateway::runtime::{Gateway, GatewayDeps};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// How long shutdown may take before feedgate exits anyway.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

pub async fn run(config_file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let vars = config_load::collect(config_file)?;
    let cfg = config_load::gateway_config(&vars)?;
    check_credentials(&cfg)?;
    check_access(&cfg, AccessCheck::Serve)?;
    let signals = crate::shutdown::Signals::install();
    let gw = start(cfg, None, None).await?;
    signals.recv().await;
    gw.shutdown(SHUTDOWN_DEADLINE).await;
    Ok(ExitCode::SUCCESS)
}

/// The credentials `serve` cannot work without: every missing one in one error; what is
/// merely incomplete is logged as a warning.
pub fn check_credentials(cfg: &GatewayConfig) -> anyhow::Result<()> {
    let findings = crate::credentials::findings(cfg);
    let (fails, warns): (Vec<_>, Vec<_>) = findings
        .into_iter()
        .partition(|f| f.severity == Severity::Fail);
    if !fails.is_empty() {
        let lines: Vec<_> = fails.into_iter().map(|f| f.message).collect();
        anyhow::bail!("{}", lines.join("\n"));
    }
    for w in warns {
        tracing::warn!("{}", w.message);
    }
    Ok(())
}

/// Which command asks [`check_access`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessCheck {
    Serve,
    /// `demo`: its data directory is temporary, so keys come from `FEEDGATE_API_KEYS` only,
    /// and it serves the simulator's control routes.
    Demo,
}

/// Secure by default (DESIGN.md §10): refuses a reachable address with keys required and
/// none configured, and warns about what is exposed.
pub fn check_access(cfg: &GatewayConfig, cmd: AccessCheck) -> anyhow::Result<()> {
    let keys = match cmd {
        AccessCheck::Serve => {
            KeyRing::new(Some(KeyRing::file_in(&cfg.data_dir)), &cfg.access.env_keys).len()
        }
        AccessCheck::Demo => cfg.access.env_keys.len(),
    };
    let public = !cfg.listen.ip().is_loopback();
    match start_check(cfg, keys) {
        StartCheck::Refuse(_) if cmd == AccessCheck::Demo => anyhow::bail!(
            "feedgate demo would listen on {}, which other machines can reach, with FEEDGATE_AUTH=keys but no key (the demo keeps no data directory, so `feedgate keys add` does not apply). Pass FEEDGATE_API_KEYS=id:secret:admin (a secret of at least 16 characters), or set FEEDGATE_AUTH=off to run it open.",
            cfg.listen
        ),
        StartCheck::Refuse(msg) => anyhow::bail!(msg),
        StartCheck::Warn(msg) => tracing::warn!("{msg}"),
        StartCheck::Ready => {}
    }
    if cmd == AccessCheck::Demo && public {
        let guard = match cfg.access.mode {
            AuthMode::Keys => "behind the admin scope",
            AuthMode::Off => "to anyone",
        };
        tracing::warn!(
            listen = %cfg.listen,
            "the simulator's control routes /_sim/* (faults, clock, token expiry) are exposed on this address {guard}"
        );
    }
    Ok(())
}

/// The Fyers adapter for a configuration (REST, symbol book in the data directory).
pub fn fyers_broker(cfg: &GatewayConfig) -> anyhow::Result<FyersBroker> {
    FyersBroker::new(FyersSettings {
        app_id: &cfg.fyers.app_id,
        secret: cfg.fyers.secret_id.clone(),
        api_url: &cfg.fyers.api_url,
        data_api_url: &cfg.fyers.data_api_url,
        symbols_url: &cfg.fyers.symbols_url,
        login_url: &cfg.fyers.login_url,
        redirect_url: format!("{}/api/auth/callback", cfg.public_url.trim_end_matches('/')),
        data_dir: Some(&cfg.data_dir),
    })
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// The Kite adapter for a configuration.
pub fn kite_broker(cfg: &GatewayConfig) -> anyhow::Result<KiteBroker> {
    KiteBroker::new(
        &cfg.kite.api_url,
        &cfg.kite.login_url,
        &cfg.kite.api_key,
        cfg.kite.api_secret.clone(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Builds and starts a gateway for the configured broker from a validated configuration, on
/// `listener` or else on `FEEDGATE_LISTEN`.
pub async fn start(
    cfg: GatewayConfig,
    extra_routes: Option<axum::Router>,
    listener: Option<tokio::net::TcpListener>,
) -> anyhow::Result<Gateway> {
    match cfg.broker {
        Broker::Kite => {
            let broker = kite_broker(&cfg)?;
            let wire = KiteWire::new(&cfg.kite.ws_url, &cfg.kite.api_key);
            start_with(cfg, Arc::new(broker), wire, extra_routes, listener).await
        }
        Broker::Fyers => {
            let broker = fyers_broker(&cfg)?;
            let wire = broker.wire(&cfg.fyers.ws_url);
            start_with(cfg, Arc::new(broker), wire, extra_routes, listener).await
        }
    }
}

async fn start_with<W: Wire + Clone>(
    cfg: GatewayConfig,
    broker: Arc<dyn feedgate_gateway::brokers::BrokerApi>,
    wire: W,
    extra_routes: Option<axum::Router>,
    listener: Option<tokio::net::TcpListener>,
) -> anyhow::Result<Gateway> {
    let calendar = Arc::new(match &cfg.calendar {
        Some(path) => crate::calendar::load_from(path)?,
        None => feedgate_session::Calendar::builtin(),
    });
    let listener = match listener {
        Some(l) => l,
        None => tokio::net::TcpListener::bind(cfg.listen).await.with_context(|| {
            format!(
                "cannot listen on {} (FEEDGATE_LISTEN): is another feedgate or program using the port?",
                cfg.listen
            )
        })?,
    };
    let gw = Gateway::start(
        GatewayDeps {
            config: cfg,
            broker,
            wire,
            clock: Arc::new(SystemClock),
            calendar,
            extra_routes,
        },
        listener,
    )
    .await
    .context("cannot start the gateway")?;
    Ok(gw)
}
