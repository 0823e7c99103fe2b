//! One parser per section of the configuration. Each reads its variables through the
//! [`Reader`], which records invalid values; the order of reads is the order errors are listed.

use super::reader::Reader;
use super::{
    Broker, DEFAULT_INSTRUMENTS, FYERS_API_ROOT, FYERS_SYMBOLS_URL, FeedConfig, FyersConfig,
    KiteConfig, ScheduleTimes, ServerLimits, local_url,
};
use crate::model::peer::TrustedProxies;
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const HTTP: &[&str] = &["http", "https"];
const WS: &[&str] = &["ws", "wss"];

/// `FEEDGATE_LISTEN`.
pub(super) fn listen(r: &mut Reader<'_>) -> SocketAddr {
    let raw = r.string("FEEDGATE_LISTEN", "127.0.0.1:8080");
    match raw.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            r.fail(
                "FEEDGATE_LISTEN",
                &raw,
                "HOST:PORT with an IP address, e.g. 127.0.0.1:8080 or 0.0.0.0:8080",
            );
            SocketAddr::from(([127, 0, 0, 1], 8080))
        }
    }
}

/// `FEEDGATE_BROKER`.
pub(super) fn broker(r: &mut Reader<'_>) -> Broker {
    let raw = r.string("FEEDGATE_BROKER", "kite");
    match raw.to_ascii_lowercase().as_str() {
        "kite" | "zerodha" => Broker::Kite,
        "fyers" => Broker::Fyers,
        _ => {
            r.fail("FEEDGATE_BROKER", &raw, "kite or fyers");
            Broker::Kite
        }
    }
}

/// `FEEDGATE_INSTRUMENTS`. Set but empty means "no always-on watchlist" (only what clients
/// ask for).
pub(super) fn watchlist(r: &Reader<'_>) -> Vec<String> {
    r.verbatim("FEEDGATE_INSTRUMENTS")
        .unwrap_or(DEFAULT_INSTRUMENTS)
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `ZERODHA_*` and `KITE_*`.
pub(super) fn kite(r: &mut Reader<'_>) -> KiteConfig {
    KiteConfig {
        api_key: r.string("ZERODHA_API_KEY", ""),
        api_secret: SecretString::from(r.string("ZERODHA_API_SECRET", "")),
        access_token: r.raw("ZERODHA_ACCESS_TOKEN").map(SecretString::from),
        api_url: r.url("KITE_API_URL", "https://api.kite.trade", HTTP),
        ws_url: r.url("KITE_WS_URL", "wss://ws.kite.trade", WS),
        login_url: r.url(
            "KITE_LOGIN_URL",
            "https://kite.zerodha.com/connect/login",
            HTTP,
        ),
    }
}

/// `FYERS_*`. `FYERS_API_URL` may be the API root (`https://api-t1.fyers.in`, what the
/// simulator prints) or its `/api/v3` base; the data API and the symbol files default to their
/// places under the same root (the real symbol files live on public.fyers.in).
pub(super) fn fyers(r: &mut Reader<'_>) -> FyersConfig {
    let api = r.url("FYERS_API_URL", "https://api-t1.fyers.in/api/v3", HTTP);
    let root = api.strip_suffix("/api/v3").unwrap_or(&api).to_string();
    FyersConfig {
        app_id: r.string("FYERS_APP_ID", ""),
        secret_id: SecretString::from(r.string("FYERS_SECRET_ID", "")),
        access_token: r.raw("FYERS_ACCESS_TOKEN").map(SecretString::from),
        token_file: r.raw("FYERS_TOKEN_FILE").map(PathBuf::from),
        api_url: format!("{root}/api/v3"),
        data_api_url: r
            .url_if_set("FYERS_DATA_API_URL", HTTP)
            .unwrap_or_else(|| format!("{root}/data")),
        ws_url: r.url("FYERS_WS_URL", "wss://socket.fyers.in/hsm/v1-5/prod", WS),
        login_url: r.url(
            "FYERS_LOGIN_URL",
            "https://api-t1.fyers.in/api/v3/generate-authcode",
            HTTP,
        ),
        symbols_url: match r.url_if_set("FYERS_SYMBOLS_URL", HTTP) {
            Some(url) => url,
            None if root == FYERS_API_ROOT => FYERS_SYMBOLS_URL.to_string(),
            None => format!("{root}/sym_details"),
        },
    }
}

/// `FEED_*` (backoff, staleness) and `REST_POLL_INTERVAL`.
pub(super) fn feed(r: &mut Reader<'_>) -> FeedConfig {
    let reconnect_delay = r.secs("FEED_RECONNECT_DELAY", 5, 1, 3600);
    let mut max_reconnect_delay = r.secs("FEED_MAX_RECONNECT_DELAY", 60, 1, 3600);
    if max_reconnect_delay < reconnect_delay {
        let v = max_reconnect_delay.as_secs().to_string();
        r.fail(
            "FEED_MAX_RECONNECT_DELAY",
            &v,
            format!(
                "at least FEED_RECONNECT_DELAY ({} s)",
                reconnect_delay.as_secs()
            ),
        );
        max_reconnect_delay = reconnect_delay;
    }
    FeedConfig {
        stale_threshold: r.secs("FEED_STALE_THRESHOLD", 10, 2, 3600),
        reconnect_delay,
        max_reconnect_delay,
        max_reconnects: r.number("FEED_MAX_RECONNECTS", 10, 1, 1000, "attempts") as u32,
        rest_poll_interval: r.secs("REST_POLL_INTERVAL", 2, 1, 3600),
        liveness_timeout: Duration::from_secs(3),
        bridge_after: Duration::from_millis(r.number(
            "FEED_BRIDGE_AFTER_MS",
            1000,
            100,
            60_000,
            "milliseconds",
        )),
        attempts_per_minute: r.number("FEED_MAX_ATTEMPTS_PER_MINUTE", 12, 1, 600, "attempts")
            as u32,
    }
}

/// `TOKEN_CHECK_LEAD_MINUTES`, `FEED_START_LEAD_MINUTES`, `FEED_STOP_LAG_MINUTES`.
pub(super) fn schedule_times(r: &mut Reader<'_>) -> ScheduleTimes {
    let times = ScheduleTimes {
        token_check_lead: r.minutes("TOKEN_CHECK_LEAD_MINUTES", 10, 180),
        feed_start_lead: r.minutes("FEED_START_LEAD_MINUTES", 5, 180),
        feed_stop_lag: r.minutes("FEED_STOP_LAG_MINUTES", 5, 180),
    };
    // The check exists to find a dead token before the feed needs it.
    if times.token_check_lead < times.feed_start_lead {
        let v = (times.token_check_lead.as_secs() / 60).to_string();
        r.fail(
            "TOKEN_CHECK_LEAD_MINUTES",
            &v,
            format!(
                "at least FEED_START_LEAD_MINUTES ({}): the token is checked before the feed starts",
                times.feed_start_lead.as_secs() / 60
            ),
        );
    }
    times
}

/// `FEEDGATE_PUBLIC_URL`, else the listen address as a local browser reaches it.
pub(super) fn public_url(r: &mut Reader<'_>, listen: SocketAddr) -> String {
    if let Some(url) = r.url_if_set("FEEDGATE_PUBLIC_URL", HTTP) {
        return url;
    }
    if listen.ip().is_unspecified() {
        tracing::warn!(
            listen = %listen,
            "FEEDGATE_LISTEN accepts connections on every address, so login links use {}; set FEEDGATE_PUBLIC_URL to the address browsers use to reach feedgate (and, for Fyers, the app's redirect URL)",
            local_url(listen)
        );
    }
    local_url(listen)
}

/// `FEEDGATE_MAX_CONNECTIONS`, `FEEDGATE_MAX_CONNECTIONS_PER_IP`, `FEEDGATE_TRUSTED_PROXIES`.
pub(super) fn server_limits(r: &mut Reader<'_>) -> ServerLimits {
    let max = r.number(
        "FEEDGATE_MAX_CONNECTIONS",
        0,
        0,
        10_000_000,
        "connections; 0 = 80 % of the open-file limit",
    );
    let per_ip = r.number(
        "FEEDGATE_MAX_CONNECTIONS_PER_IP",
        0,
        0,
        10_000_000,
        "connections; 0 = no cap",
    );
    let raw = r.string("FEEDGATE_TRUSTED_PROXIES", "");
    let trusted_proxies = TrustedProxies::parse(&raw).unwrap_or_else(|e| {
        r.fail(
            "FEEDGATE_TRUSTED_PROXIES",
            &raw,
            format!("a comma list of IP addresses and CIDR blocks: {e}"),
        );
        TrustedProxies::default()
    });
    ServerLimits {
        max_connections: (max > 0).then_some(max as usize),
        max_connections_per_ip: per_ip as usize,
        trusted_proxies,
        ..ServerLimits::default()
    }
}
