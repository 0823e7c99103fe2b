//! A gateway started the way `feedgate serve` starts it, with the Kite adapter: the load
//! harness's gateway process and the soak's in-process one share it.

use anyhow::anyhow;
use feedgate_gateway::brokers::kite::rest::KiteBroker;
use feedgate_gateway::brokers::kite::wire::KiteWire;
use feedgate_gateway::config::GatewayConfig;
use feedgate_gateway::model::clock::SharedClock;
use feedgate_gateway::runtime::{Gateway, GatewayDeps};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Starts the gateway on `listener` with the built-in calendar; `extra_routes` are merged into
/// its server (the simulator's control API, for the soak).
pub async fn start(
    config: GatewayConfig,
    clock: SharedClock,
    extra_routes: Option<axum::Router>,
    listener: TcpListener,
) -> anyhow::Result<Gateway> {
    let broker = KiteBroker::new(
        &config.kite.api_url,
        &config.kite.login_url,
        &config.kite.api_key,
        config.kite.api_secret.clone(),
    )
    .map_err(|e| anyhow!("broker client: {e}"))?;
    let wire = KiteWire::new(&config.kite.ws_url, &config.kite.api_key);
    Gateway::start(
        GatewayDeps {
            config,
            broker: Arc::new(broker),
            wire,
            clock,
            calendar: Arc::new(feedgate_session::Calendar::builtin()),
            extra_routes,
        },
        listener,
    )
    .await
    .map_err(|e| anyhow!("gateway start: {e}"))
}
