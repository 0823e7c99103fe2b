//! `feedgate serve`: the gateway against a real broker (or any broker-compatible endpoint).

use crate::config_load;
use anyhow::Context;
use feedgate_gateway::broker::kite::KiteBroker;
use feedgate_gateway::clock::SystemClock;
use feedgate_gateway::config::{Broker, GatewayConfig};
use feedgate_gateway::runtime::{Gateway, GatewayDeps};
use feedgate_gateway::upstream::kite::KiteWire;
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
    let gw = start(cfg, None, None).await?;
    crate::shutdown::signal().await;
    gw.shutdown(SHUTDOWN_DEADLINE).await;
    Ok(ExitCode::SUCCESS)
}

/// The credentials `serve` cannot work without, with what to do about them.
pub fn check_credentials(cfg: &GatewayConfig) -> anyhow::Result<()> {
    match cfg.broker {
        Broker::Fyers => anyhow::bail!(
            "FEEDGATE_BROKER=fyers is not available in this build yet; use FEEDGATE_BROKER=kite"
        ),
        Broker::Kite => {
            if cfg.kite.api_key.is_empty() {
                anyhow::bail!(
                    "ZERODHA_API_KEY is not set: put your Kite Connect app's API key in the environment, a .env file or the --config file"
                );
            }
            if cfg.kite.api_secret.is_empty() {
                tracing::warn!(
                    "ZERODHA_API_SECRET is not set: the daily login at /api/login cannot complete; set it, or supply ZERODHA_ACCESS_TOKEN (or the token file) yourself every day"
                );
            }
            Ok(())
        }
    }
}

/// Builds and starts a Kite gateway from a validated configuration, on `listener` or else on
/// `FEEDGATE_LISTEN`.
pub async fn start(
    cfg: GatewayConfig,
    extra_routes: Option<axum::Router>,
    listener: Option<tokio::net::TcpListener>,
) -> anyhow::Result<Gateway> {
    let calendar = Arc::new(match &cfg.calendar {
        Some(path) => crate::calendar::load_from(path)?,
        None => feedgate_session::Calendar::builtin(),
    });
    let broker = KiteBroker::new(
        &cfg.kite.api_url,
        &cfg.kite.login_url,
        &cfg.kite.api_key,
        cfg.kite.api_secret.clone(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let wire = KiteWire::new(&cfg.kite.ws_url, &cfg.kite.api_key);
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
            broker: Arc::new(broker),
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
