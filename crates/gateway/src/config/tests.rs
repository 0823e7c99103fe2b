//! Parsing, defaults and error reporting of the configuration.

use super::*;
use secrecy::ExposeSecret;

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_follow_the_design() {
    let c = GatewayConfig::from_vars(&BTreeMap::new()).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.broker, Broker::Kite);
    assert_eq!(
        c.instruments,
        ["NSE:NIFTY 50", "NSE:NIFTY BANK", "BSE:SENSEX"]
    );
    assert_eq!(c.feed.stale_threshold, Duration::from_secs(10));
    assert_eq!(c.feed.reconnect_delay, Duration::from_secs(5));
    assert_eq!(c.feed.max_reconnect_delay, Duration::from_secs(60));
    assert_eq!(c.feed.max_reconnects, 10);
    assert_eq!(c.feed.rest_poll_interval, Duration::from_secs(2));
    assert_eq!(c.tick_throttle, Duration::from_millis(1000));
    assert_eq!(c.heartbeat_interval, Duration::from_secs(30));
    assert_eq!(c.kite_rest_idle, Duration::from_secs(300));
    assert!(c.backfill);
    assert!(c.enable_scheduler && !c.dev_mode);
    assert_eq!(c.kite.api_url, "https://api.kite.trade");
    assert_eq!(c.kite.ws_url, "wss://ws.kite.trade");
    assert_eq!(c.public_url, "http://127.0.0.1:8080");
    assert!(c.kite.access_token.is_none());
    assert_eq!(c.fyers.api_url, "https://api-t1.fyers.in/api/v3");
    assert_eq!(c.fyers.data_api_url, "https://api-t1.fyers.in/data");
    assert_eq!(c.fyers.ws_url, "wss://socket.fyers.in/hsm/v1-5/prod");
    assert_eq!(c.fyers.symbols_url, "https://public.fyers.in/sym_details");
    assert!(c.fyers.token_file.is_none());
}

#[test]
fn schedule_times_are_configurable_and_checked() {
    let c = GatewayConfig::from_vars(&vars(&[])).unwrap();
    assert_eq!(c.schedule_times, ScheduleTimes::default());
    let c = GatewayConfig::from_vars(&vars(&[
        ("TOKEN_CHECK_LEAD_MINUTES", "30"),
        ("FEED_START_LEAD_MINUTES", "15"),
        ("FEED_STOP_LAG_MINUTES", "0"),
    ]))
    .unwrap();
    assert_eq!(
        c.schedule_times,
        ScheduleTimes {
            token_check_lead: Duration::from_secs(30 * 60),
            feed_start_lead: Duration::from_secs(15 * 60),
            feed_stop_lag: Duration::ZERO,
        }
    );
    let err = GatewayConfig::from_vars(&vars(&[
        ("TOKEN_CHECK_LEAD_MINUTES", "2"),
        ("FEED_STOP_LAG_MINUTES", "600"),
    ]))
    .unwrap_err();
    let keys: Vec<&str> = err.0.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["FEED_STOP_LAG_MINUTES", "TOKEN_CHECK_LEAD_MINUTES"]);
    assert!(
        err.to_string()
            .contains("at least FEED_START_LEAD_MINUTES (5)"),
        "{err}"
    );
}

#[test]
fn every_bad_value_is_reported_with_its_name() {
    let v = vars(&[
        ("FEEDGATE_LISTEN", "localhost"),
        ("FEEDGATE_BROKER", "upstox"),
        ("FEED_STALE_THRESHOLD", "soon"),
        ("TICK_THROTTLE_MS", "-5"),
        ("ENABLE_SCHEDULER", "maybe"),
        ("KITE_WS_URL", "http://x"),
        ("FEED_RECONNECT_DELAY", "30"),
        ("FEED_MAX_RECONNECT_DELAY", "10"),
    ]);
    let err = GatewayConfig::from_vars(&v).unwrap_err();
    let keys: Vec<&str> = err.0.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "FEEDGATE_LISTEN",
            "FEEDGATE_BROKER",
            "KITE_WS_URL",
            "FEED_MAX_RECONNECT_DELAY",
            "FEED_STALE_THRESHOLD",
            "TICK_THROTTLE_MS",
            "ENABLE_SCHEDULER"
        ]
    );
    let text = err.to_string();
    assert!(
        text.contains("FEEDGATE_BROKER=\"upstox\" is invalid: kite or fyers"),
        "{text}"
    );
}

#[test]
fn the_default_public_url_is_one_a_browser_can_use() {
    let public = |listen: &str| {
        GatewayConfig::from_vars(&vars(&[("FEEDGATE_LISTEN", listen)]))
            .unwrap()
            .public_url
    };
    assert_eq!(public("0.0.0.0:8080"), "http://127.0.0.1:8080");
    assert_eq!(public("[::]:9000"), "http://[::1]:9000");
    assert_eq!(public("192.168.1.20:8080"), "http://192.168.1.20:8080");
    assert_eq!(public("[::1]:8080"), "http://[::1]:8080");
    let set = GatewayConfig::from_vars(&vars(&[
        ("FEEDGATE_LISTEN", "0.0.0.0:8080"),
        ("FEEDGATE_PUBLIC_URL", "https://feeds.example.com/"),
    ]))
    .unwrap();
    assert_eq!(set.public_url, "https://feeds.example.com");
}

#[test]
fn the_backfill_can_be_turned_off() {
    let c = GatewayConfig::from_vars(&vars(&[("FEEDGATE_BACKFILL", "false")])).unwrap();
    assert!(!c.backfill);
    assert!(GatewayConfig::from_vars(&vars(&[("FEEDGATE_BACKFILL", "maybe")])).is_err());
}

#[test]
fn an_empty_watchlist_is_allowed() {
    let c = GatewayConfig::from_vars(&vars(&[("FEEDGATE_INSTRUMENTS", "")])).unwrap();
    assert!(c.instruments.is_empty());
    let c =
        GatewayConfig::from_vars(&vars(&[("FEEDGATE_INSTRUMENTS", " NSE:SBIN , ,NIFTY")])).unwrap();
    assert_eq!(c.instruments, ["NSE:SBIN", "NIFTY"]);
}

#[test]
fn secrets_never_print() {
    let v = vars(&[
        ("ZERODHA_API_SECRET", "s3cret"),
        ("ZERODHA_ACCESS_TOKEN", "tok123"),
        ("FYERS_SECRET_ID", "fy5ecret"),
        ("FYERS_ACCESS_TOKEN", "APP-100:fytok"),
    ]);
    let c = GatewayConfig::from_vars(&v).unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("s3cret") && !dbg.contains("tok123"), "{dbg}");
    assert!(!dbg.contains("fy5ecret") && !dbg.contains("fytok"), "{dbg}");
    assert_eq!(dbg.matches("[REDACTED]").count(), 4, "{dbg}");
    assert_eq!(c.kite.api_secret.expose_secret(), "s3cret");
}

#[test]
fn fyers_urls_follow_the_api_root() {
    let c =
        GatewayConfig::from_vars(&vars(&[("FYERS_API_URL", "http://127.0.0.1:9090/")])).unwrap();
    assert_eq!(c.fyers.api_url, "http://127.0.0.1:9090/api/v3");
    assert_eq!(c.fyers.data_api_url, "http://127.0.0.1:9090/data");
    assert_eq!(c.fyers.symbols_url, "http://127.0.0.1:9090/sym_details");
    let c = GatewayConfig::from_vars(&vars(&[
        ("FYERS_API_URL", "http://sim:1/api/v3"),
        ("FYERS_DATA_API_URL", "http://data:2/data"),
        ("FYERS_SYMBOLS_URL", "http://files:3/sym"),
        ("FYERS_TOKEN_FILE", "/tmp/fy.json"),
    ]))
    .unwrap();
    assert_eq!(c.fyers.api_url, "http://sim:1/api/v3");
    assert_eq!(c.fyers.data_api_url, "http://data:2/data");
    assert_eq!(c.fyers.symbols_url, "http://files:3/sym");
    assert_eq!(c.fyers.token_file, Some(PathBuf::from("/tmp/fy.json")));
    let err = GatewayConfig::from_vars(&vars(&[("FYERS_SYMBOLS_URL", "ftp://x")])).unwrap_err();
    assert_eq!(err.0[0].key, "FYERS_SYMBOLS_URL");
}

#[test]
fn unknown_feedgate_keys_are_listed() {
    let v = vars(&[
        ("FEEDGATE_LISTN", "x"),
        ("FEEDGATE_LISTEN", "127.0.0.1:1"),
        ("PATH", "/bin"),
    ]);
    assert_eq!(GatewayConfig::unknown_keys(&v), ["FEEDGATE_LISTN"]);
}

#[test]
fn server_limits_default_to_the_design_and_are_checked() {
    let c = GatewayConfig::from_vars(&vars(&[])).unwrap();
    assert_eq!(c.server, ServerLimits::default());
    assert_eq!(c.server.max_connections, None, "80 % of the fd limit");
    assert_eq!(c.server.max_connections_per_ip, 0);
    assert_eq!(c.server.header_timeout, Duration::from_secs(10));
    assert_eq!(c.server.idle_timeout, Duration::from_secs(60));
    assert_eq!(c.server.max_header_bytes, 16 * 1024);
    assert!(c.server.trusted_proxies.is_empty());

    let c = GatewayConfig::from_vars(&vars(&[
        ("FEEDGATE_MAX_CONNECTIONS", "500"),
        ("FEEDGATE_MAX_CONNECTIONS_PER_IP", "20"),
        ("FEEDGATE_TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
    ]))
    .unwrap();
    assert_eq!(c.server.max_connections, Some(500));
    assert_eq!(c.server.max_connections_per_ip, 20);
    assert!(
        c.server
            .trusted_proxies
            .contains("10.1.2.3".parse().unwrap())
    );

    let err = GatewayConfig::from_vars(&vars(&[
        ("FEEDGATE_MAX_CONNECTIONS", "-1"),
        ("FEEDGATE_TRUSTED_PROXIES", "10.0.0.1,proxy.local"),
    ]))
    .unwrap_err();
    let keys: Vec<&str> = err.0.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        ["FEEDGATE_MAX_CONNECTIONS", "FEEDGATE_TRUSTED_PROXIES"]
    );
    assert!(err.to_string().contains("proxy.local"), "{err}");
}

#[test]
fn recording_is_on_by_default_and_its_limits_are_checked() {
    let c = GatewayConfig::from_vars(&vars(&[])).unwrap();
    assert_eq!(c.record, RecordConfig::default());
    assert_eq!(
        (
            c.record.enabled,
            c.record.retention_days,
            c.record.max_bytes
        ),
        (true, 30, 20 << 30)
    );
    let c = GatewayConfig::from_vars(&vars(&[
        ("FEEDGATE_RECORD", "off"),
        ("FEEDGATE_RECORD_RETENTION_DAYS", "7"),
        ("FEEDGATE_RECORD_MAX_GB", "2"),
    ]))
    .unwrap();
    assert_eq!(
        (
            c.record.enabled,
            c.record.retention_days,
            c.record.max_bytes
        ),
        (false, 7, 2 << 30)
    );
    let e = GatewayConfig::from_vars(&vars(&[
        ("FEEDGATE_RECORD", "maybe"),
        ("FEEDGATE_RECORD_RETENTION_DAYS", "0"),
        ("FEEDGATE_RECORD_MAX_GB", "-1"),
    ]))
    .unwrap_err();
    let keys: Vec<&str> = e.0.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "FEEDGATE_RECORD",
            "FEEDGATE_RECORD_RETENTION_DAYS",
            "FEEDGATE_RECORD_MAX_GB"
        ]
    );
}
