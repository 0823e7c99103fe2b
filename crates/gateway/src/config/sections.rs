//! One parser per section of the configuration. Each reads its variables through the
//! [`Reader`], which records invalid values; the order of reads is the order errors are listed.

use super::reader::Reader;
use super::{
    AccessConfig, AuthMode, Broker, DEFAULT_INSTRUMENTS, EnvKey, FYERS_API_ROOT, FYERS_SYMBOLS_URL,
    FeedConfig, FyersConfig, KiteConfig, RecordConfig, ScheduleTimes, ServerLimits, local_url,
};
use crate::model::peer::TrustedProxies;
use crate::model::scope::Scopes;
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
/// `FEEDGATE_RECORD`, `FEEDGATE_RECORD_RETENTION_DAYS`, `FEEDGATE_RECORD_MAX_GB`.
pub(super) fn record(r: &mut Reader<'_>) -> RecordConfig {
    RecordConfig {
        enabled: r.bool("FEEDGATE_RECORD", true),
        retention_days: r.number("FEEDGATE_RECORD_RETENTION_DAYS", 30, 1, 36_500, "days") as u32,
        max_bytes: r.number(
            "FEEDGATE_RECORD_MAX_GB",
            20,
            1,
            1_000_000,
            "gigabytes (GiB)",
        ) << 30,
    }
}

/// `FEEDGATE_AUTH` (default: `off` on a loopback listen address, else `keys`),
/// `FEEDGATE_API_KEYS` and `FEEDGATE_ALLOWED_ORIGINS`.
pub(super) fn access(r: &mut Reader<'_>, listen: SocketAddr) -> AccessConfig {
    let default = if listen.ip().is_loopback() {
        AuthMode::Off
    } else {
        AuthMode::Keys
    };
    let mode = match r
        .raw("FEEDGATE_AUTH")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => default,
        Some("off") => AuthMode::Off,
        Some("keys") => AuthMode::Keys,
        Some(other) => {
            let v = other.to_string();
            r.fail("FEEDGATE_AUTH", &v, "off or keys");
            default
        }
    };
    AccessConfig {
        mode,
        mode_explicit: r.raw("FEEDGATE_AUTH").is_some(),
        env_keys: env_keys(r),
        allowed_origins: allowed_origins(r),
    }
}

/// Characters of a key id: what `feedgate keys add` generates, and what fits in a header, a
/// query string and a JSON string without escaping.
pub fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `FEEDGATE_API_KEYS=id:secret:scope[+scope],…`. A bad entry is reported by its id only: the
/// error message must not carry the secret.
fn env_keys(r: &mut Reader<'_>) -> Vec<EnvKey> {
    const KEY: &str = "FEEDGATE_API_KEYS";
    const EXPECTED: &str = "a comma list of id:secret:scope[+scope] (id of letters, digits, _ and -; secret of at least 16 characters; scopes read, admin, orders)";
    let Some(raw) = r.raw(KEY) else {
        return Vec::new();
    };
    let mut keys: Vec<EnvKey> = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let mut parts = entry.splitn(3, ':');
        let (id, secret, scopes) = (parts.next(), parts.next(), parts.next());
        let shown = format!("{}:…", id.unwrap_or_default());
        let parsed = match (id, secret, scopes) {
            (Some(id), Some(secret), Some(scopes))
                if valid_key_id(id) && secret.len() >= 16 && !secret.contains(':') =>
            {
                Scopes::parse_list(scopes)
                    .ok()
                    .filter(|s| !s.is_empty())
                    .map(|scopes| EnvKey {
                        id: id.to_string(),
                        secret: SecretString::from(secret.to_string()),
                        scopes,
                    })
            }
            _ => None,
        };
        match parsed {
            Some(k) if keys.iter().any(|o| o.id == k.id) => {
                r.fail(KEY, &shown, "each key id once");
            }
            Some(k) => keys.push(k),
            None => r.fail(KEY, &shown, EXPECTED),
        }
    }
    keys
}

/// `FEEDGATE_ALLOWED_ORIGINS`: `scheme://host[:port]` entries (a trailing `/` is dropped) or `*`.
fn allowed_origins(r: &mut Reader<'_>) -> Vec<String> {
    let Some(raw) = r.raw("FEEDGATE_ALLOWED_ORIGINS") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for o in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let o = o.trim_end_matches('/').to_ascii_lowercase();
        let ok = o == "*"
            || url::Url::parse(&o).is_ok_and(|u| {
                HTTP.contains(&u.scheme()) && u.host_str().is_some() && u.path() == "/"
            });
        if ok {
            out.push(o);
        } else {
            r.fail(
                "FEEDGATE_ALLOWED_ORIGINS",
                &o,
                "a comma list of origins like https://dash.example.com or http://10.0.0.5:8080, or *",
            );
        }
    }
    out
}
