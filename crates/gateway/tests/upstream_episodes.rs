//! Upstream behaviour across the day and across failures: configured feed start and stop times,
//! the market open after a quiet pre-open, `stale` staying visible, log lines per failure
//! episode instead of per attempt, REST polling while the WebSocket is refused and the switch
//! back, connections reported under their token's epoch, the watchlist following the daily
//! instrument refresh, and one request budget for Fyers' REST API. Paused time throughout (the
//! simulator, the gateway and the clock follow it).

mod common;

use common::{
    Broker, Capture, EnvBuilder, WAIT, client, instant, let_time_pass, next_matching,
    next_tick_from, received, sim_until, subscribe, subscribed_client, wait_until,
};
use feedgate_gateway::auth::AuthState;
use feedgate_gateway::auth::task::{self, AuthConfig, AuthIo};
use feedgate_gateway::brokers::fyers::rest::{FyersBroker, FyersSettings};
use feedgate_gateway::brokers::{BrokerApi, BrokerError, SessionGrant, UserProfile};
use feedgate_gateway::model::clock::{SharedClock, TokioClock};
use feedgate_gateway::model::instruments::{Instrument, InstrumentSpec};
use feedgate_gateway::model::tick::Tick;
use feedgate_gateway::store::token_file::TokenStore;
use feedgate_gateway::upstream::FeedEvent;
use feedgate_sim::Fault;
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const S5: Duration = Duration::from_secs(5);
const S30: Duration = Duration::from_secs(30);
/// A simulated market that never trades (one tick per ~11 days across all instruments) while
/// its heartbeats keep the socket alive: a pre-open, or a silent feed.
const QUIET: f64 = 1e-6;

/// Logs everything at `info` and above emitted on this thread (the test's runtime, which runs
/// the simulator and the gateway) while the guard lives.
fn capture_logs(capture: &Capture) -> tracing::subscriber::DefaultGuard {
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_default(subscriber)
}

/// Warnings the upstream logged.
fn upstream_warnings(capture: &Capture) -> Vec<String> {
    capture
        .text()
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains("feedgate_gateway::upstream"))
        .map(str::to_string)
        .collect()
}

async fn feed(env: &common::Env) -> Value {
    env.health().await["feed"].clone()
}

async fn stalls(env: &common::Env) -> u64 {
    feed(env).await["stalls_total"].as_u64().unwrap_or(0)
}

// ----------------------------------------------------------------------------------------------
// Configured feed start and stop

#[tokio::test(start_paused = true)]
async fn the_feed_starts_and_stops_at_the_configured_times() {
    let configured = |start_at: &str| {
        EnvBuilder::new()
            .var("DEV_MODE", "false")
            .var("TOKEN_CHECK_LEAD_MINUTES", "30")
            .var("FEED_START_LEAD_MINUTES", "20")
            .var("FEED_STOP_LAG_MINUTES", "1")
            .start_at(start_at)
            .start()
    };
    let at = |env: &common::Env, ist: &str| {
        Instant::now()
            + (instant(&format!("2026-11-23T{ist}+05:30")) - env.clock.now())
                .to_std()
                .expect("later")
    };

    let env = configured("2026-11-23T08:35:00+05:30").await;
    let start = at(&env, "08:40:00");
    tokio::time::sleep_until(start - Duration::from_secs(2)).await;
    assert_eq!(feed(&env).await["should_run"], false, "not before 08:40");
    assert_eq!(env.upgrades().0, 0);
    tokio::time::sleep_until(start + Duration::from_secs(3)).await;
    assert_eq!(
        feed(&env).await["should_run"],
        true,
        "from 08:40 (20 min lead)"
    );
    assert!(
        wait_until(WAIT, || async { feed(&env).await["state"] == "connected" }).await,
        "connected before the pre-open"
    );
    env.shutdown().await;

    let env = configured("2026-11-23T15:58:00+05:30").await;
    let stop = at(&env, "16:01:00");
    tokio::time::sleep_until(stop - Duration::from_secs(2)).await;
    assert_eq!(feed(&env).await["should_run"], true, "until 16:01");
    tokio::time::sleep_until(stop + Duration::from_secs(3)).await;
    assert_eq!(
        feed(&env).await["should_run"],
        false,
        "stopped 1 min after the post-close session"
    );
    env.shutdown().await;
}

// ----------------------------------------------------------------------------------------------
// The market open

#[tokio::test(start_paused = true)]
async fn the_open_after_a_quiet_pre_open_keeps_the_connection_and_stale_stays_visible() {
    let env = EnvBuilder::new()
        .var("DEV_MODE", "false")
        .var("FEED_RECONNECT_DELAY", "3")
        .start_at("2026-11-23T09:12:00+05:30")
        .sim(|s| s.rate = Some(QUIET))
        .start()
        .await;
    let mut c = client(&env).await;
    subscribe(&mut c, &["NSE:SBIN"], "quote").await;
    assert!(
        wait_until(WAIT, || async { feed(&env).await["state"] == "connected" }).await,
        "connected during the pre-open"
    );
    let open = Instant::now()
        + (instant("2026-11-23T09:15:00+05:30") - env.clock.now())
            .to_std()
            .expect("before the open");

    // Three quiet minutes of pre-open and auction, then the market opens: no reconnect, no
    // stall (the quiet before the open was not the broker's silence).
    tokio::time::sleep_until(open + Duration::from_secs(5)).await;
    let h = env.health().await;
    assert_eq!(h["market"]["phase"], "LIVE", "{h}");
    assert_eq!(h["feed"]["stalls_total"], 0, "{h}");
    assert_eq!(h["feed"]["state"], "connected", "{h}");
    assert_eq!(env.upgrades().0, 1, "the pre-open connection is kept");

    // A live market without data is stale one threshold after the open.
    assert!(wait_until(S30, || async { stalls(&env).await >= 1 }).await);
    let first = Instant::now().duration_since(open);
    assert!(
        first >= Duration::from_secs(10),
        "stale {first:?} after the open"
    );
    // The reconnect after a second stall waits out a backoff (the second failure in a row:
    // 1 s ± 20 %): health says `stale` meanwhile, not `disconnected`.
    assert!(wait_until(S30, || async { stalls(&env).await >= 2 }).await);
    let f = feed(&env).await;
    assert_eq!(f["state"], "stale", "{f}");
    let_time_pass(Duration::from_millis(600)).await;
    let f = feed(&env).await;
    assert_eq!(f["state"], "stale", "{f}");
    assert!(
        wait_until(S30, || async { feed(&env).await["state"] != "stale" }).await,
        "until the next attempt"
    );
    env.shutdown().await;
}

// ----------------------------------------------------------------------------------------------
// One log line per transition

#[tokio::test(start_paused = true)]
async fn a_feed_that_keeps_stalling_logs_a_few_lines_not_a_few_per_cycle() {
    let capture = Capture::default();
    let _logs = capture_logs(&capture);
    let env = EnvBuilder::new()
        .var("FEED_STALE_THRESHOLD", "2")
        .var("FEED_RECONNECT_DELAY", "1")
        .var("FEED_MAX_RECONNECT_DELAY", "2")
        .var("FEED_MAX_RECONNECTS", "3")
        .sim(|s| s.rate = Some(QUIET))
        .start()
        .await;
    let mut c = client(&env).await;
    subscribe(&mut c, &["NSE:SBIN"], "quote").await;
    // Every connection opens, subscribes and goes stale, twenty times over.
    assert!(
        wait_until(Duration::from_secs(300), || async {
            stalls(&env).await >= 20
        })
        .await,
        "{}",
        feed(&env).await
    );
    let warnings = upstream_warnings(&capture);
    assert!(
        warnings.len() <= 3,
        "{} warnings over 20 cycles:\n{}",
        warnings.len(),
        warnings.join("\n")
    );
    assert_eq!(capture.lines_with("WebSocket unusable").len(), 1);
    // At most the first connection is logged at info; none of the twenty reconnects within the
    // episode is. (Zero when the very first attempt failed too: paused time can fire a connect
    // timeout while the kernel is still delivering loopback I/O on a loaded machine, and that
    // attempt then starts the episode.)
    let reconnected = capture
        .lines_with("reconnected to the broker feed and resubscribed")
        .len();
    let connected = capture.lines_with("connected to the broker feed").len() - reconnected;
    assert!(
        connected <= 1,
        "reconnects within the episode are logged at debug: {connected} info lines"
    );
    // The episode's first reconnect says so once, with its outcome; the other nineteen do not.
    assert_eq!(reconnected, 1, "one reconnect line per episode");
    env.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_flapping_feed_reconnects_at_once_within_the_flap_guard_and_logs_once() {
    let capture = Capture::default();
    let _logs = capture_logs(&capture);
    let env = EnvBuilder::new()
        .var("FEED_RECONNECT_DELAY", "1")
        .var("FEED_MAX_RECONNECT_DELAY", "2")
        .var("FEED_MAX_RECONNECTS", "2")
        .var("FEED_MAX_ATTEMPTS_PER_MINUTE", "6")
        .start()
        .await;
    let mut events = env.gw().upstream.subscribe_events();
    let mut c = client(&env).await;
    subscribe(&mut c, &["NSE:SBIN", "NSE:NIFTY 50"], "quote").await;
    // The socket delivers data, then drops, over and over (never healthy for 30 s). Each drop
    // after data is a blip: the next attempt is immediate and nothing counts as a failure,
    // until the flap guard holds attempts back.
    let mut reconnects = Vec::new();
    for cycle in 0..8 {
        let accepted = env.upgrades().0;
        assert!(
            next_tick_from(&mut c, "ws", Duration::from_secs(90))
                .await
                .is_some(),
            "cycle {cycle}"
        );
        env.fault(Fault::Drop);
        let dropped = Instant::now();
        assert!(
            sim_until(&env, Duration::from_secs(90), |s| s.upgrades.accepted
                > accepted)
            .await,
            "cycle {cycle}: reconnected"
        );
        reconnects.push(dropped.elapsed());
    }
    assert!(next_tick_from(&mut c, "ws", S30).await.is_some());
    // Five attempts fit the guard's minute beside the first connection; the sixth waits.
    let quick = reconnects
        .iter()
        .filter(|d| **d < Duration::from_secs(1))
        .count();
    assert!(
        quick >= 5 && reconnects.iter().any(|d| *d >= Duration::from_secs(20)),
        "reconnects after each drop: {reconnects:?}"
    );
    assert_eq!(capture.lines_with("flap guard").len(), 1);
    assert!(capture.lines_with("WebSocket unusable").is_empty());
    let warnings = upstream_warnings(&capture);
    assert!(warnings.len() <= 3, "{}", warnings.join("\n"));
    let wanted = received(&mut events)
        .iter()
        .filter(|e| matches!(e, FeedEvent::FallbackWanted { .. }))
        .count();
    assert_eq!(wanted, 0, "blips are not failures");
    env.shutdown().await;
}

// ----------------------------------------------------------------------------------------------
// REST fallback while the WebSocket is refused

#[tokio::test(start_paused = true)]
async fn refused_websocket_falls_back_to_rest_and_comes_back() {
    const MAX_RECONNECTS: u64 = 3;
    let env = EnvBuilder::new()
        .var("FEED_MAX_RECONNECTS", &MAX_RECONNECTS.to_string())
        .var("FEED_RECONNECT_DELAY", "1")
        .var("FEED_MAX_RECONNECT_DELAY", "4")
        .var("REST_POLL_INTERVAL", "1")
        .start()
        .await;
    let (mut c, _) = subscribed_client(&env, &["NSE:SBIN", "NIFTY", "NSE:INFY"]).await;
    assert!(next_tick_from(&mut c, "ws", S5).await.is_some());

    // The broker keeps REST up but refuses every WebSocket for an hour.
    env.fault(Fault::RejectWs { seconds: 3600.0 });
    env.fault(Fault::Drop);
    let t0 = Instant::now();
    let status = next_matching(&mut c, S30, |v| {
        v["type"] == "connection_status" && v["mode"] == "REST API Polling"
    })
    .await;
    let to_fallback = t0.elapsed();
    let refused_at_fallback = env.sim_state().upgrades.refused.reject_ws;
    let status = status.unwrap_or_else(|| panic!("fallback status; health {:?}", env.sim_state()));
    assert_eq!(status["quality"], "DEGRADED", "{status}");
    assert_eq!(
        refused_at_fallback, MAX_RECONNECTS,
        "fallback after exactly FEED_MAX_RECONNECTS refused attempts"
    );
    let first_rest = next_tick_from(&mut c, "rest", Duration::from_secs(5))
        .await
        .expect("a REST tick");
    assert!(first_rest["data"]["ltp"].is_number(), "{first_rest}");
    let h = env.health().await;
    assert_eq!(h["feed"]["using_rest_fallback"], true, "{h}");
    assert_eq!(h["feed"]["mode"], "REST API Polling");
    assert_eq!(
        h["auth"]["state"], "valid",
        "a refused WebSocket is not an auth problem"
    );
    eprintln!(
        "fallback: REST polling {:.1} s after the drop, after {refused_at_fallback} refused attempts",
        to_fallback.as_secs_f64()
    );

    // Clients keep getting updates for every instrument while polling; the WebSocket keeps
    // being retried in the background; the broker's 1 request/s limit is never hit.
    let quotes_before = env.sim_state().quote_requests;
    let mut rest_ticks = 0;
    let mut symbols = std::collections::BTreeSet::new();
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        let left = end.saturating_duration_since(Instant::now());
        let Some(v) = next_matching(&mut c, left, |v| v["type"] == "ticker").await else {
            break;
        };
        assert_eq!(v["data"]["src"], "rest", "only REST while refused: {v}");
        rest_ticks += 1;
        symbols.insert(v["data"]["symbol"].as_str().unwrap_or_default().to_string());
    }
    let s = env.sim_state();
    let polls = s.quote_requests - quotes_before;
    assert!(
        rest_ticks >= 20,
        "a steady stream of REST ticks: {rest_ticks}"
    );
    assert_eq!(symbols.len(), 3, "every subscribed instrument: {symbols:?}");
    assert!(
        (20..=30).contains(&polls),
        "one batched request per interval, never faster than 1/s: {polls} in 30 s"
    );
    assert_eq!(s.quote_rate_limited, 0, "never rate limited");
    assert!(
        s.upgrades.refused.reject_ws >= refused_at_fallback + 5,
        "WebSocket retries continue in the background: {:?}",
        s.upgrades
    );
    assert_eq!(s.upgrades.refused.bad_token, 0);

    // The outage ends: back to the WebSocket, and polling stops.
    env.fault(Fault::Clear);
    let t1 = Instant::now();
    let back = next_matching(&mut c, S30, |v| {
        v["type"] == "connection_status" && v["mode"] == "WebSocket"
    })
    .await
    .expect("back to WebSocket");
    let to_ws = t1.elapsed();
    assert_ne!(back["quality"], "DEGRADED", "{back}");
    assert!(next_tick_from(&mut c, "ws", S5).await.is_some());
    let h = env.health().await;
    assert_eq!(h["feed"]["using_rest_fallback"], false, "{h}");
    assert_eq!(h["feed"]["mode"], "WebSocket");
    assert_eq!(h["feed"]["state"], "connected");
    let quotes_at_switch = env.sim_state().quote_requests;
    // Keep reading (the feed is live) for ten seconds: no more polls, only WebSocket ticks.
    let end = Instant::now() + Duration::from_secs(10);
    while let Some(v) = next_matching(&mut c, end.saturating_duration_since(Instant::now()), |v| {
        v["type"] == "ticker"
    })
    .await
    {
        assert_eq!(v["data"]["src"], "ws", "{v}");
    }
    let s = env.sim_state();
    assert!(
        s.quote_requests <= quotes_at_switch + 1,
        "polling stopped: {} → {}",
        quotes_at_switch,
        s.quote_requests
    );
    assert_eq!(s.quote_rate_limited, 0);
    eprintln!(
        "fallback: {rest_ticks} REST ticks and {polls} polls in 30 s; back on the WebSocket {:.1} s after clear",
        to_ws.as_secs_f64()
    );
    env.shutdown().await;
}

// ----------------------------------------------------------------------------------------------
// Connections count for their own token only

/// Accepts the token `good`, rejects every other.
#[derive(Debug)]
struct Profiles;

impl BrokerApi for Profiles {
    fn name(&self) -> &'static str {
        "kite"
    }

    fn profile(&self, token: SecretString) -> BoxFuture<'static, Result<UserProfile, BrokerError>> {
        let answer = if token.expose_secret() == "good" {
            Ok(UserProfile {
                user_id: "AB1234".into(),
                user_name: "A".into(),
            })
        } else {
            Err(BrokerError::Auth("TokenException".into()))
        };
        Box::pin(async move { answer })
    }

    fn quotes(
        &self,
        _: SecretString,
        _: Vec<Arc<Instrument>>,
        _: i64,
    ) -> BoxFuture<'static, Result<Vec<Tick>, BrokerError>> {
        Box::pin(async { Err(BrokerError::Invalid("not used".into())) })
    }

    fn instruments(&self) -> BoxFuture<'static, Result<Vec<InstrumentSpec>, BrokerError>> {
        Box::pin(async { Err(BrokerError::Invalid("not used".into())) })
    }

    fn login_url(&self, state: &str) -> String {
        format!("http://broker.test/login?state={state}")
    }

    fn exchange(&self, _: String) -> BoxFuture<'static, Result<SessionGrant, BrokerError>> {
        Box::pin(async { Err(BrokerError::Invalid("not used".into())) })
    }

    fn quote_batch(&self) -> usize {
        500
    }

    fn quote_interval(&self) -> Duration {
        Duration::from_secs(1)
    }
}

#[tokio::test(start_paused = true)]
async fn a_connection_made_with_an_older_token_does_not_vouch_for_the_new_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (token_tx, token_rx) = watch::channel(None);
    let (view_tx, _view) = watch::channel(AuthState::Refreshing);
    let (events, events_rx) = broadcast::channel(16);
    let (_pre_market, pre_market) = mpsc::channel(1);
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let clock: SharedClock = Arc::new(TokioClock::starting_at(instant(common::MARKET_OPEN)));
    let auth = task::spawn(
        AuthConfig {
            env_token: Some(SecretString::from("good")),
            store: TokenStore::new(dir.path(), "kite"),
            login_url: "http://127.0.0.1:8080/api/login".into(),
            file_poll: Duration::from_secs(3600),
        },
        AuthIo {
            broker: Arc::new(Profiles),
            clock,
            token: token_tx,
            state: view_tx,
            feed_events: Some(events_rx),
            pre_market,
            shared: None,
        },
        shutdown.clone(),
        &tracker,
    );
    let state = || auth.view.borrow().state;
    let epoch = || {
        token_rx
            .borrow()
            .as_ref()
            .map(|t| t.epoch)
            .expect("a token")
    };
    assert!(wait_until(WAIT, || async { state() == AuthState::Valid }).await);
    let old = epoch();

    // A login brings a token the broker turns out to reject.
    auth.store_grant(SessionGrant {
        token: SecretString::from("bad"),
        user_id: "AB1234".into(),
        user_name: "A".into(),
    })
    .await
    .expect("stored");
    assert!(wait_until(WAIT, || async { state() == AuthState::Expired }).await);
    let new = epoch();
    assert_ne!(old, new);

    // The upstream reports, late, the connection it had made with the old token.
    events
        .send(FeedEvent::Connected {
            shard: 0,
            token_epoch: old,
        })
        .expect("auth listens");
    assert!(
        !wait_until(Duration::from_secs(2), || async {
            state() != AuthState::Expired
        })
        .await,
        "an old connection does not make the new token valid"
    );
    // A connection with the current token does.
    events
        .send(FeedEvent::Connected {
            shard: 0,
            token_epoch: new,
        })
        .expect("auth listens");
    assert!(wait_until(WAIT, || async { state() == AuthState::Valid }).await);
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}

// ----------------------------------------------------------------------------------------------
// The watchlist follows the daily instrument refresh

#[tokio::test(start_paused = true)]
async fn the_watchlist_is_resolved_again_when_the_instruments_are_refreshed() {
    // A first run leaves today's instrument cache behind.
    let dir = EnvBuilder::new().start().await.into_data_dir().await;
    // Make it yesterday's, from before INFY was listed.
    let path = dir.path().join("instruments-kite.json");
    let mut cache: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("cache written")).expect("JSON");
    cache["date"] = "2026-11-22".into();
    let list = cache["instruments"].as_array_mut().expect("instruments");
    let before = list.len();
    list.retain(|i| !(i["exchange"] == "NSE" && i["tradingsymbol"] == "INFY"));
    assert_eq!(list.len(), before - 1);
    std::fs::write(&path, serde_json::to_vec(&cache).expect("JSON")).expect("write");

    // Monday 08:25: yesterday's dump is still the current one, so the cache serves, and the
    // watchlist's INFY is unknown.
    let env = EnvBuilder::new()
        .var("FEEDGATE_INSTRUMENTS", "NSE:SBIN,NSE:INFY")
        .start_at("2026-11-23T08:25:00+05:30")
        .data_dir(dir)
        .start()
        .await;
    let registry = env.gw().registry.clone();
    let sbin = registry.borrow().resolve("NSE:SBIN").expect("SBIN").token;
    assert!(registry.borrow().resolve("NSE:INFY").is_err());
    let subscribed = |token: u32| {
        let wanted = format!("{token}:");
        env.upstream_subscriptions()
            .iter()
            .flatten()
            .any(|s| s.starts_with(&wanted))
    };
    assert!(
        wait_until(WAIT, || {
            let ok = subscribed(sbin);
            async move { ok }
        })
        .await
    );

    // After 08:30 the new dump is fetched (within the 10-minute refresh) and INFY joins.
    let mut updates = registry.clone();
    tokio::time::timeout(Duration::from_secs(20 * 60), updates.changed())
        .await
        .expect("the registry is refreshed")
        .expect("gateway running");
    let infy = registry
        .borrow()
        .resolve("NSE:INFY")
        .expect("INFY listed")
        .token;
    assert!(
        wait_until(WAIT, || {
            let ok = subscribed(infy);
            async move { ok }
        })
        .await,
        "the watchlist's INFY is streamed: {:?}",
        env.upstream_subscriptions()
    );
    env.shutdown().await;
}

// ----------------------------------------------------------------------------------------------
// Fyers: one request budget

#[tokio::test(start_paused = true)]
async fn a_burst_of_fyers_quote_calls_stays_within_the_rate_limit() {
    let env = EnvBuilder::new().broker(Broker::Fyers).start().await;
    let cfg = &env.config.fyers;
    let broker = FyersBroker::new(FyersSettings {
        app_id: &cfg.app_id,
        secret: cfg.secret_id.clone(),
        api_url: &cfg.api_url,
        data_api_url: &cfg.data_api_url,
        symbols_url: &cfg.symbols_url,
        login_url: &cfg.login_url,
        redirect_url: "http://127.0.0.1:8080/api/auth/callback".into(),
        data_dir: None,
    })
    .expect("broker");
    let sbin = env
        .gw()
        .registry
        .borrow()
        .resolve("NSE:SBIN")
        .expect("SBIN")
        .clone();
    let token = SecretString::from(env.mint_token());
    let (_, limited_before) = env.quote_requests();
    let t0 = Instant::now();
    // Thirty callers at once (fallback polls, snapshots, a dashboard…): Fyers allows ten a
    // second.
    let answers = futures_util::future::join_all(
        (0..30).map(|_| broker.quotes(token.clone(), vec![sbin.clone()], 0)),
    )
    .await;
    let failed: Vec<_> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(env.quote_requests().1, limited_before, "never rate limited");
    assert!(t0.elapsed() >= Duration::from_secs(2), "{:?}", t0.elapsed());
    env.shutdown().await;
}
