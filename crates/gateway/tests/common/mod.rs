//! Shared harness for the gateway's integration tests: the in-process simulator and a gateway
//! wired to it on port 0 ([`EnvBuilder`], [`Env`]). Tests that depend on timing run under
//! `#[tokio::test(start_paused = true)]`: the simulator, the gateway and the clock all follow
//! tokio's paused time.
//!
//! The helpers the test files share live in small modules, re-exported here:
//!
//! - [`ws`]: client WebSockets, a client that has read its greeting, subscribing;
//! - [`ticks`]: waiting for a matching message, a symbol's next tick, a tick from a source, a
//!   tick's volume;
//! - [`wait`]: deadline-based waiting (no fixed sleeps), on anything or on the simulator;
//! - [`upstream`]: the simulator's Kite connections and what each subscribes;
//! - [`auth`]: the gateway's auth state and waiting for one;
//! - [`login`]: the login flow through the simulator's login page, form and header parsing;
//! - [`tokens`]: the token file (its place, what it holds, dropping a new one in);
//! - [`logs`]: log capture and secret scanning;
//! - [`days`]: a trading session and the restarts after it on the same data directory, last
//!   known values (its `subscribe`, quote mode with candles, is imported by path: the name at
//!   this level is [`ws::subscribe`]);
//! - [`data_dir`]: the files the gateway leaves in its data directory (temp files, candles);
//! - [`redis_server`]: a real `redis-server` per test, on a free port, killed on drop;
//! - [`nodes`]: real `feedgate serve` processes of a cluster, killed on drop.

// Each test binary compiles this module on its own and uses only some of it: what one binary
// leaves unused is dead code there, and so are the re-exports below.
#![allow(dead_code)]

pub mod auth;
pub mod data_dir;
pub mod days;
pub mod keys;
pub mod login;
pub mod logs;
pub mod nodes;
pub mod recorded;
pub mod redis_server;
pub mod ticks;
pub mod tokens;
pub mod upstream;
pub mod wait;
pub mod ws;

#[allow(unused_imports)]
pub use self::{
    auth::{auth_section, auth_state, wait_auth},
    data_dir::{CSV_HEADER, candle_files, candle_text, csv_rows, temp_files},
    days::{advance_to, assert_last_known, first_ticks, ist, live_session, quiesce, quotes},
    keys::{ADMIN, ORDERS, READER, TRADER, ws_with},
    login::{
        Login, LoginChecks, SIM_USER, header, kite_redirect_params, location, login, query_map,
        sim_kite_login_form, state_in,
    },
    logs::{Capture, assert_no_secret, everything_the_binary_may_log, served_bodies},
    ticks::{next_matching, next_tick, next_tick_from, through_stall, tick_after, volume},
    tokens::{drop_in_token_file, stored_token, stored_token_file, token_path},
    upstream::{received, subs},
    wait::{WAIT, let_time_pass, sim_until, wait_until},
    ws::{WsClient, client, snapshot_after_ack, subscribe, subscribed_client},
};

use chrono::{DateTime, Utc};
use feedgate_gateway::brokers::BrokerApi;
use feedgate_gateway::brokers::fyers::rest::{FyersBroker, FyersSettings};
use feedgate_gateway::brokers::kite::rest::KiteBroker;
use feedgate_gateway::brokers::kite::wire::KiteWire;
use feedgate_gateway::brokers::wire::Wire;
use feedgate_gateway::config::GatewayConfig;
use feedgate_gateway::model::clock::{SharedClock, TokioClock};
use feedgate_gateway::runtime::{Gateway, GatewayDeps};
use feedgate_sim::{Fault, Sim, SimConfig, SimState};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A Monday during market hours (IST), so the real calendar says LIVE when DEV_MODE is off.
pub const MARKET_OPEN: &str = "2026-11-23T10:00:00+05:30";

pub fn instant(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .to_utc()
}

/// Which broker the gateway speaks to the simulator (`FEEDGATE_BROKER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broker {
    Kite,
    Fyers,
}

impl Broker {
    pub const ALL: [Broker; 2] = [Broker::Kite, Broker::Fyers];

    pub fn name(self) -> &'static str {
        match self {
            Broker::Kite => "kite",
            Broker::Fyers => "fyers",
        }
    }
}

/// How the gateway gets its first token.
#[derive(Debug, Clone)]
pub enum TokenSetup {
    /// A token minted by the simulator for the broker in use, given as `ZERODHA_ACCESS_TOKEN`
    /// (Kite) or `FYERS_ACCESS_TOKEN` (Fyers).
    Minted,
    /// No token anywhere: login required.
    None,
    /// This exact token string.
    Given(String),
}

pub struct EnvBuilder {
    pub vars: BTreeMap<String, String>,
    pub sim: SimConfig,
    pub token: TokenSetup,
    pub start_at: DateTime<Utc>,
    pub data_dir: Option<tempfile::TempDir>,
    pub broker: Broker,
}

impl Default for EnvBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl EnvBuilder {
    pub fn new() -> Self {
        let mut vars = BTreeMap::new();
        // Clients pick what they want; no always-on watchlist unless a test sets one.
        vars.insert("FEEDGATE_INSTRUMENTS".into(), String::new());
        vars.insert("TICK_THROTTLE_MS".into(), "0".into());
        Self {
            vars,
            sim: SimConfig::default(),
            token: TokenSetup::Minted,
            start_at: instant(MARKET_OPEN),
            data_dir: None,
            broker: Broker::Kite,
        }
    }

    /// Points the gateway at the simulator's side for `broker` (Kite by default).
    pub fn broker(mut self, broker: Broker) -> Self {
        self.broker = broker;
        self
    }

    /// No REST bridge over the WebSocket's gaps (it starts a minute into one instead of a
    /// second): for tests that freeze the simulated market with a stall and look at what the
    /// hub then holds, which the bridge's REST quotes would replace.
    pub fn without_bridge(self) -> Self {
        self.var("FEED_BRIDGE_AFTER_MS", "60000")
    }

    pub fn var(mut self, k: &str, v: &str) -> Self {
        self.vars.insert(k.into(), v.into());
        self
    }

    pub fn sim(mut self, f: impl FnOnce(&mut SimConfig)) -> Self {
        f(&mut self.sim);
        self
    }

    pub fn token(mut self, t: TokenSetup) -> Self {
        self.token = t;
        self
    }

    pub fn start_at(mut self, t: &str) -> Self {
        self.start_at = instant(t);
        self
    }

    /// Starts the gateway's wall clock at `t`.
    pub fn start_at_utc(mut self, t: DateTime<Utc>) -> Self {
        self.start_at = t;
        self
    }

    /// Reuse a data directory (to test restarts).
    pub fn data_dir(mut self, d: tempfile::TempDir) -> Self {
        self.data_dir = Some(d);
        self
    }

    pub async fn start(self) -> Env {
        let gw_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let gw_addr = gw_listener.local_addr().expect("addr");
        let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sim");
        let sim_shutdown = CancellationToken::new();
        let mut sim_cfg = self.sim.clone();
        // One wall clock for both sides: exchange timestamps agree with the gateway's.
        sim_cfg.start_at = Some(self.start_at);
        sim_cfg.redirect_url = format!("http://{gw_addr}/api/auth/callback");
        sim_cfg.fyers_redirect_url = sim_cfg.redirect_url.clone();
        let sim = Sim::start(sim_cfg, sim_listener, sim_shutdown.clone())
            .await
            .expect("simulator starts");
        let data_dir = match self.data_dir {
            Some(d) => d,
            None => tempfile::tempdir().expect("temp dir"),
        };
        let mut vars = self.vars;
        vars.insert("FEEDGATE_LISTEN".into(), gw_addr.to_string());
        vars.insert(
            "FEEDGATE_DATA_DIR".into(),
            data_dir.path().display().to_string(),
        );
        vars.insert("KITE_API_URL".into(), sim.base_url());
        vars.insert("KITE_WS_URL".into(), sim.ws_url());
        vars.insert(
            "KITE_LOGIN_URL".into(),
            format!("{}/connect/login", sim.base_url()),
        );
        vars.insert("ZERODHA_API_KEY".into(), self.sim.api_key.clone());
        vars.insert("ZERODHA_API_SECRET".into(), self.sim.api_secret.clone());
        vars.entry("DEV_MODE".into())
            .or_insert_with(|| "true".into());
        if self.broker == Broker::Fyers {
            let root = sim.fyers_api_url();
            vars.insert("FEEDGATE_BROKER".into(), "fyers".into());
            vars.insert("FYERS_API_URL".into(), root.clone());
            vars.insert("FYERS_WS_URL".into(), sim.fyers_ws_url());
            vars.insert(
                "FYERS_LOGIN_URL".into(),
                format!("{root}/api/v3/generate-authcode"),
            );
            vars.insert("FYERS_APP_ID".into(), self.sim.fyers_app_id.clone());
            vars.insert("FYERS_SECRET_ID".into(), self.sim.fyers_secret.clone());
        }
        let minted = match &self.token {
            TokenSetup::Minted => Some(match self.broker {
                Broker::Kite => sim.mint_access_token(),
                Broker::Fyers => sim.mint_fyers_token(),
            }),
            TokenSetup::Given(t) => Some(t.clone()),
            TokenSetup::None => None,
        };
        if let Some(t) = &minted {
            let key = match self.broker {
                Broker::Kite => "ZERODHA_ACCESS_TOKEN",
                Broker::Fyers => "FYERS_ACCESS_TOKEN",
            };
            vars.insert(key.into(), t.clone());
        }
        let config = GatewayConfig::from_vars(&vars).expect("valid test config");
        let clock: SharedClock = Arc::new(TokioClock::starting_at(self.start_at));
        let routes = axum::Router::new().nest("/_sim", sim.control_router());
        let gw = broker_gateway(self.broker, &config, &clock, routes, gw_listener).await;
        Env {
            sim,
            gw: Some(gw),
            sim_shutdown,
            data_dir,
            clock,
            config,
            minted_token: minted,
            broker: self.broker,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                // Below the gateway's 60 s idle timeout, as a client should be: with paused
                // time a pooled connection could otherwise be reused in the instant the gateway
                // closes it.
                .pool_idle_timeout(Duration::from_secs(50))
                .build()
                .expect("http client"),
        }
    }
}

pub struct Env {
    pub sim: Sim,
    pub gw: Option<Gateway>,
    pub sim_shutdown: CancellationToken,
    pub data_dir: tempfile::TempDir,
    pub clock: SharedClock,
    pub config: GatewayConfig,
    pub minted_token: Option<String>,
    /// HTTP client that does not follow redirects.
    pub http: reqwest::Client,
    pub broker: Broker,
}

async fn start_gateway<W: Wire + Clone>(
    config: &GatewayConfig,
    broker: Arc<dyn BrokerApi>,
    wire: W,
    clock: &SharedClock,
    routes: axum::Router,
    listener: tokio::net::TcpListener,
) -> Gateway {
    Gateway::start(
        GatewayDeps {
            config: config.clone(),
            broker,
            wire,
            clock: clock.clone(),
            calendar: Arc::new(feedgate_session::Calendar::builtin()),
            extra_routes: Some(routes),
        },
        listener,
    )
    .await
    .expect("gateway starts")
}

/// Starts a gateway for `broker` from `config` on `listener`.
async fn broker_gateway(
    broker: Broker,
    config: &GatewayConfig,
    clock: &SharedClock,
    routes: axum::Router,
    listener: tokio::net::TcpListener,
) -> Gateway {
    let gw_addr = listener.local_addr().expect("addr");
    match broker {
        Broker::Kite => {
            let broker = KiteBroker::new(
                &config.kite.api_url,
                &config.kite.login_url,
                &config.kite.api_key,
                config.kite.api_secret.clone(),
            )
            .expect("broker");
            let wire = KiteWire::new(&config.kite.ws_url, &config.kite.api_key);
            start_gateway(config, Arc::new(broker), wire, clock, routes, listener).await
        }
        Broker::Fyers => {
            let broker = FyersBroker::new(FyersSettings {
                app_id: &config.fyers.app_id,
                secret: config.fyers.secret_id.clone(),
                api_url: &config.fyers.api_url,
                data_api_url: &config.fyers.data_api_url,
                symbols_url: &config.fyers.symbols_url,
                login_url: &config.fyers.login_url,
                redirect_url: format!("http://{gw_addr}/api/auth/callback"),
                data_dir: Some(&config.data_dir),
            })
            .expect("broker");
            let wire = broker.wire(&config.fyers.ws_url);
            start_gateway(config, Arc::new(broker), wire, clock, routes, listener).await
        }
    }
}

impl Env {
    pub fn gw(&self) -> &Gateway {
        self.gw.as_ref().expect("gateway running")
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.gw().local_addr())
    }

    /// `GET {path}` on the gateway (redirects not followed), whatever the answer's status.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path).await
    }

    /// `POST {path}` on the gateway with an empty JSON body (state-changing requests need a
    /// JSON content type or a key header), whatever the answer's status.
    pub async fn post(&self, path: &str) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base()))
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    async fn request(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        self.http
            .request(method.clone(), format!("{}{path}", self.base()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.expect("JSON body")
    }

    /// `/api/candles?{query}`: the array and the `x-candles-date` header (asserts a 200).
    pub async fn candles(&self, query: &str) -> (Vec<Value>, String) {
        let resp = self.get(&format!("/api/candles?{query}")).await;
        assert_eq!(resp.status(), 200, "{query}");
        let date = resp.headers()["x-candles-date"]
            .to_str()
            .expect("an ASCII date header")
            .to_string();
        let body: Value = resp.json().await.expect("JSON body");
        (body.as_array().expect("an array").clone(), date)
    }

    /// The body of `GET {path}` as text, whatever its status.
    pub async fn get_text(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("body")
    }

    pub async fn health(&self) -> Value {
        self.get_json("/api/system/health").await
    }

    pub async fn ws_status(&self) -> Value {
        self.get_json("/api/websocket/status").await
    }

    pub fn sim_state(&self) -> SimState {
        self.sim.state()
    }

    pub fn fault(&self, f: Fault) {
        self.sim.fault(f).expect("fault accepted");
    }

    /// A fresh valid token for the broker in use, minted by the simulator.
    pub fn mint_token(&self) -> String {
        match self.broker {
            Broker::Kite => self.sim.mint_access_token(),
            Broker::Fyers => self.sim.mint_fyers_token(),
        }
    }

    /// Upgrades the simulator accepted and refused on the broker's socket.
    pub fn upgrades(&self) -> (u64, u64) {
        let st = self.sim_state();
        match self.broker {
            Broker::Kite => (st.upgrades.accepted, st.upgrades.refused.total()),
            Broker::Fyers => (
                st.fyers.upgrades.accepted,
                st.fyers.upgrades.refused_reject_ws,
            ),
        }
    }

    /// Open broker sockets on the simulator, with what each subscribes, as comparable strings
    /// (Kite: `token:mode`; Fyers: topics), sorted.
    pub fn upstream_subscriptions(&self) -> Vec<Vec<String>> {
        let st = self.sim_state();
        let mut all: Vec<Vec<String>> = match self.broker {
            Broker::Kite => st
                .connections
                .iter()
                .map(|c| {
                    c.subscriptions
                        .iter()
                        .map(|s| format!("{}:{:?}", s.token, s.mode))
                        .collect()
                })
                .collect(),
            Broker::Fyers => st
                .fyers
                .connections
                .iter()
                .map(|c| c.subscriptions.iter().map(|s| s.topic.clone()).collect())
                .collect(),
        };
        for subs in &mut all {
            subs.sort();
        }
        all
    }

    /// REST quote requests the simulator answered for the broker in use.
    pub fn quote_requests(&self) -> (u64, u64) {
        let st = self.sim_state();
        match self.broker {
            Broker::Kite => (st.quote_requests, st.quote_rate_limited),
            Broker::Fyers => (st.fyers.quote_requests, st.fyers.quote_rate_limited),
        }
    }

    /// Opens a client WebSocket on `/ws/market` (Nagle off: see the module docs of the sim).
    pub async fn client(&self) -> WsClient {
        let url = format!("ws://{}/ws/market", self.gw().local_addr());
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .expect("client connects");
        WsClient { ws }
    }

    /// Stops the gateway (not the simulator), e.g. to restart it on the same data directory.
    pub async fn stop_gateway(&mut self) {
        if let Some(gw) = self.gw.take() {
            gw.shutdown(Duration::from_secs(5)).await;
        }
    }

    /// Stops the gateway gracefully and starts a new one (a new port) on the same simulator,
    /// data directory and clock: a restart mid-session.
    pub async fn restart_gateway(&mut self) {
        self.stop_gateway().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let routes = axum::Router::new().nest("/_sim", self.sim.control_router());
        let gw = broker_gateway(self.broker, &self.config, &self.clock, routes, listener).await;
        self.gw = Some(gw);
    }

    pub async fn shutdown(mut self) {
        self.stop_gateway().await;
        self.sim_shutdown.cancel();
    }

    /// Stops the gateway gracefully (it saves what it keeps across restarts) and the
    /// simulator, and hands back the data directory for a restart on it.
    pub async fn into_data_dir(mut self) -> tempfile::TempDir {
        self.stop_gateway().await;
        self.sim_shutdown.cancel();
        self.data_dir
    }

    /// Stops the gateway the way a crash would, as far as its files are concerned: every task
    /// is cancelled without the save `Gateway::shutdown` does first. Hands back the data
    /// directory.
    pub async fn crash(mut self) -> tempfile::TempDir {
        if let Some(gw) = self.gw.take() {
            gw.shutdown_token().cancel();
            drop(gw);
        }
        self.sim_shutdown.cancel();
        self.data_dir
    }
}
