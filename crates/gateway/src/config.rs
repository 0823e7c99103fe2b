//! Gateway configuration (DESIGN.md §4): parsed and validated from a key → value map, so the
//! binary can layer a TOML file, the environment and flags, and tests can build one directly.
//! Every error names the variable, the bad value and what is expected.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use crate::model::secret::Secret;

/// Which broker the upstream speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broker {
    Kite,
    Fyers,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KiteConfig {
    pub api_key: String,
    pub api_secret: Secret,
    pub access_token: Option<Secret>,
    pub api_url: String,
    pub ws_url: String,
    pub login_url: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FyersConfig {
    pub app_id: String,
    pub secret_id: Secret,
    pub access_token: Option<Secret>,
    /// `FYERS_TOKEN_FILE`: overrides `<data dir>/fyers_token.json`.
    pub token_file: Option<PathBuf>,
    /// The `/api/v3` base (profile, login exchange), from `FYERS_API_URL`.
    pub api_url: String,
    /// `FYERS_DATA_API_URL` (quotes, symbol-token); defaults to `<API root>/data`.
    pub data_api_url: String,
    pub ws_url: String,
    pub login_url: String,
    /// `FYERS_SYMBOLS_URL`: where the symbol master (`<SEGMENT>.csv`) and the index-name
    /// mapping (`index_hsm_mapping.json`) are served; defaults to Fyers' public host for the
    /// real API and to `<API root>/sym_details` for any other (the simulator).
    pub symbols_url: String,
}

/// Upstream feed tuning.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedConfig {
    /// `FEED_STALE_THRESHOLD`: no data this long while the market should be producing it → stale.
    pub stale_threshold: Duration,
    /// `FEED_RECONNECT_DELAY`: first backoff delay after a failed attempt.
    pub reconnect_delay: Duration,
    /// `FEED_MAX_RECONNECT_DELAY`: backoff cap.
    pub max_reconnect_delay: Duration,
    /// `FEED_MAX_RECONNECTS`: consecutive failed attempts before REST fallback takes over.
    pub max_reconnects: u32,
    /// `REST_POLL_INTERVAL`.
    pub rest_poll_interval: Duration,
    /// No frame at all (heartbeats included) this long → the socket is dead. Kite heartbeats
    /// every second when idle.
    pub liveness_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    pub broker: Broker,
    pub data_dir: PathBuf,
    /// `FEEDGATE_INSTRUMENTS`, the always-subscribed watchlist.
    pub instruments: Vec<String>,
    pub kite: KiteConfig,
    pub fyers: FyersConfig,
    pub feed: FeedConfig,
    /// `TICK_THROTTLE_MS`.
    pub tick_throttle: Duration,
    /// `HEARTBEAT_INTERVAL`.
    pub heartbeat_interval: Duration,
    /// `ENABLE_SCHEDULER`.
    pub enable_scheduler: bool,
    /// `TOKEN_CHECK_LEAD_MINUTES`, `FEED_START_LEAD_MINUTES`, `FEED_STOP_LAG_MINUTES`.
    pub schedule_times: ScheduleTimes,
    /// `DEV_MODE`.
    pub dev_mode: bool,
    /// `FEEDGATE_CALENDAR`.
    pub calendar: Option<PathBuf>,
    /// `FEEDGATE_PUBLIC_URL`: how users reach this gateway (login links, the Fyers
    /// `redirect_uri`); defaults to [`local_url`] of the listen address.
    pub public_url: String,
    /// `FEEDGATE_MAX_SYMBOLS_PER_CLIENT`.
    pub max_symbols_per_client: usize,
}

/// When the scheduler acts, relative to a trading day's first and last phase (defaults: token
/// check 10 min and feed start 5 min before 09:00, i.e. 08:50 and 08:55 IST; feed stop 5 min
/// after the post-close session, i.e. 16:05 IST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleTimes {
    pub token_check_lead: Duration,
    pub feed_start_lead: Duration,
    pub feed_stop_lag: Duration,
}

impl Default for ScheduleTimes {
    fn default() -> Self {
        Self {
            token_check_lead: Duration::from_secs(10 * 60),
            feed_start_lead: Duration::from_secs(5 * 60),
            feed_stop_lag: Duration::from_secs(5 * 60),
        }
    }
}

/// One invalid setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}={value:?} is invalid: {expected}")]
pub struct ConfigError {
    pub key: String,
    pub value: String,
    pub expected: String,
}

/// All invalid settings at once, so a user fixes them in one go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// Every key feedgate reads (for the unknown-variable warning and the docs).
pub const KNOWN_KEYS: &[&str] = &[
    "FEEDGATE_LISTEN",
    "FEEDGATE_BROKER",
    "FEEDGATE_DATA_DIR",
    "FEEDGATE_INSTRUMENTS",
    "FEEDGATE_CALENDAR",
    "FEEDGATE_LOG",
    "FEEDGATE_LOG_FORMAT",
    "FEEDGATE_PUBLIC_URL",
    "FEEDGATE_MAX_SYMBOLS_PER_CLIENT",
    "ZERODHA_API_KEY",
    "ZERODHA_API_SECRET",
    "ZERODHA_ACCESS_TOKEN",
    "KITE_API_URL",
    "KITE_WS_URL",
    "KITE_LOGIN_URL",
    "FYERS_APP_ID",
    "FYERS_SECRET_ID",
    "FYERS_ACCESS_TOKEN",
    "FYERS_TOKEN_FILE",
    "FYERS_API_URL",
    "FYERS_DATA_API_URL",
    "FYERS_WS_URL",
    "FYERS_LOGIN_URL",
    "FYERS_SYMBOLS_URL",
    "FEED_STALE_THRESHOLD",
    "FEED_RECONNECT_DELAY",
    "FEED_MAX_RECONNECT_DELAY",
    "FEED_MAX_RECONNECTS",
    "REST_POLL_INTERVAL",
    "TICK_THROTTLE_MS",
    "HEARTBEAT_INTERVAL",
    "ENABLE_SCHEDULER",
    "TOKEN_CHECK_LEAD_MINUTES",
    "FEED_START_LEAD_MINUTES",
    "FEED_STOP_LAG_MINUTES",
    "DEV_MODE",
];

pub const DEFAULT_INSTRUMENTS: &str = "NSE:NIFTY 50,NSE:NIFTY BANK,BSE:SENSEX";

/// The real Fyers API root.
pub const FYERS_API_ROOT: &str = "https://api-t1.fyers.in";
/// Where Fyers publishes its symbol master and index-name mapping.
pub const FYERS_SYMBOLS_URL: &str = "https://public.fyers.in/sym_details";

/// Reads settings from `vars` (upper-case keys), collecting every error.
#[derive(Debug)]
struct Reader<'a> {
    vars: &'a BTreeMap<String, String>,
    errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    fn new(vars: &'a BTreeMap<String, String>) -> Self {
        Self {
            vars,
            errors: Vec::new(),
        }
    }

    fn raw(&self, key: &str) -> Option<&'a str> {
        self.vars
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn string(&self, key: &str, default: &str) -> String {
        self.raw(key).unwrap_or(default).to_string()
    }

    fn fail(&mut self, key: &str, value: &str, expected: impl Into<String>) {
        self.errors.push(ConfigError {
            key: key.into(),
            value: value.into(),
            expected: expected.into(),
        });
    }

    fn bool(&mut self, key: &str, default: bool) -> bool {
        match self.raw(key) {
            None => default,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    self.fail(key, v, "true or false");
                    default
                }
            },
        }
    }

    fn number(&mut self, key: &str, default: u64, min: u64, max: u64, unit: &str) -> u64 {
        match self.raw(key) {
            None => default,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => n,
                _ => {
                    self.fail(key, v, format!("an integer from {min} to {max} ({unit})"));
                    default
                }
            },
        }
    }

    fn secs(&mut self, key: &str, default: u64, min: u64, max: u64) -> Duration {
        Duration::from_secs(self.number(key, default, min, max, "seconds"))
    }

    fn url(&mut self, key: &str, default: &str, schemes: &[&str]) -> String {
        let v = self.string(key, default);
        let ok = schemes.iter().any(|s| {
            v.strip_prefix(s)
                .is_some_and(|rest| rest.starts_with("://") && rest.len() > 3)
        });
        if !ok {
            self.fail(
                key,
                &v,
                format!("a URL starting with {}", schemes.join(":// or ") + "://"),
            );
        }
        v.trim_end_matches('/').to_string()
    }
}

/// `http://<addr>` as a browser on this machine reaches it: an unspecified listen address
/// (`0.0.0.0`, `[::]`) is no address to send a browser to (nor a valid redirect URL), so the
/// loopback address of the same family stands in for it.
pub fn local_url(listen: SocketAddr) -> String {
    let mut addr = listen;
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => addr.set_ip(Ipv4Addr::LOCALHOST.into()),
        IpAddr::V6(ip) if ip.is_unspecified() => addr.set_ip(Ipv6Addr::LOCALHOST.into()),
        _ => {}
    }
    format!("http://{addr}")
}

impl GatewayConfig {
    /// Parses and validates. Missing keys take their defaults.
    pub fn from_vars(vars: &BTreeMap<String, String>) -> Result<Self, ConfigErrors> {
        let mut r = Reader::new(vars);
        let listen_raw = r.string("FEEDGATE_LISTEN", "127.0.0.1:8080");
        let listen = match listen_raw.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                r.fail(
                    "FEEDGATE_LISTEN",
                    &listen_raw,
                    "HOST:PORT with an IP address, e.g. 127.0.0.1:8080 or 0.0.0.0:8080",
                );
                SocketAddr::from(([127, 0, 0, 1], 8080))
            }
        };
        let broker_raw = r.string("FEEDGATE_BROKER", "kite");
        let broker = match broker_raw.to_ascii_lowercase().as_str() {
            "kite" | "zerodha" => Broker::Kite,
            "fyers" => Broker::Fyers,
            _ => {
                r.fail("FEEDGATE_BROKER", &broker_raw, "kite or fyers");
                Broker::Kite
            }
        };
        let data_dir = PathBuf::from(r.string("FEEDGATE_DATA_DIR", "./data"));
        // Set but empty means "no always-on watchlist" (only what clients ask for).
        let instruments: Vec<String> = vars
            .get("FEEDGATE_INSTRUMENTS")
            .map_or(DEFAULT_INSTRUMENTS, String::as_str)
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let kite = KiteConfig {
            api_key: r.string("ZERODHA_API_KEY", ""),
            api_secret: Secret::new(r.string("ZERODHA_API_SECRET", "")),
            access_token: r.raw("ZERODHA_ACCESS_TOKEN").map(Secret::new),
            api_url: r.url("KITE_API_URL", "https://api.kite.trade", &["http", "https"]),
            ws_url: r.url("KITE_WS_URL", "wss://ws.kite.trade", &["ws", "wss"]),
            login_url: r.url(
                "KITE_LOGIN_URL",
                "https://kite.zerodha.com/connect/login",
                &["http", "https"],
            ),
        };
        // FYERS_API_URL may be the API root (`https://api-t1.fyers.in`, what the simulator
        // prints) or its `/api/v3` base; the data API and the symbol files default to their
        // places under the same root (the real symbol files live on public.fyers.in).
        let fyers_api = r.url(
            "FYERS_API_URL",
            "https://api-t1.fyers.in/api/v3",
            &["http", "https"],
        );
        let fyers_root = fyers_api
            .strip_suffix("/api/v3")
            .unwrap_or(&fyers_api)
            .to_string();
        let fyers = FyersConfig {
            app_id: r.string("FYERS_APP_ID", ""),
            secret_id: Secret::new(r.string("FYERS_SECRET_ID", "")),
            access_token: r.raw("FYERS_ACCESS_TOKEN").map(Secret::new),
            token_file: r.raw("FYERS_TOKEN_FILE").map(PathBuf::from),
            api_url: format!("{fyers_root}/api/v3"),
            data_api_url: match r.raw("FYERS_DATA_API_URL") {
                Some(_) => r.url("FYERS_DATA_API_URL", "", &["http", "https"]),
                None => format!("{fyers_root}/data"),
            },
            ws_url: r.url(
                "FYERS_WS_URL",
                "wss://socket.fyers.in/hsm/v1-5/prod",
                &["ws", "wss"],
            ),
            login_url: r.url(
                "FYERS_LOGIN_URL",
                "https://api-t1.fyers.in/api/v3/generate-authcode",
                &["http", "https"],
            ),
            symbols_url: match r.raw("FYERS_SYMBOLS_URL") {
                Some(_) => r.url("FYERS_SYMBOLS_URL", "", &["http", "https"]),
                None if fyers_root == FYERS_API_ROOT => FYERS_SYMBOLS_URL.to_string(),
                None => format!("{fyers_root}/sym_details"),
            },
        };
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
        let feed = FeedConfig {
            stale_threshold: r.secs("FEED_STALE_THRESHOLD", 10, 2, 3600),
            reconnect_delay,
            max_reconnect_delay,
            max_reconnects: r.number("FEED_MAX_RECONNECTS", 10, 1, 1000, "attempts") as u32,
            rest_poll_interval: r.secs("REST_POLL_INTERVAL", 2, 1, 3600),
            liveness_timeout: Duration::from_secs(3),
        };
        let tick_throttle =
            Duration::from_millis(r.number("TICK_THROTTLE_MS", 1000, 0, 60_000, "milliseconds"));
        let heartbeat_interval = r.secs("HEARTBEAT_INTERVAL", 30, 1, 3600);
        let enable_scheduler = r.bool("ENABLE_SCHEDULER", true);
        let dev_mode = r.bool("DEV_MODE", false);
        let minutes = |r: &mut Reader<'_>, key: &str, default: u64| {
            Duration::from_secs(60 * r.number(key, default, 0, 180, "minutes"))
        };
        let schedule_times = ScheduleTimes {
            token_check_lead: minutes(&mut r, "TOKEN_CHECK_LEAD_MINUTES", 10),
            feed_start_lead: minutes(&mut r, "FEED_START_LEAD_MINUTES", 5),
            feed_stop_lag: minutes(&mut r, "FEED_STOP_LAG_MINUTES", 5),
        };
        // The check exists to find a dead token before the feed needs it.
        if schedule_times.token_check_lead < schedule_times.feed_start_lead {
            let v = (schedule_times.token_check_lead.as_secs() / 60).to_string();
            r.fail(
                "TOKEN_CHECK_LEAD_MINUTES",
                &v,
                format!(
                    "at least FEED_START_LEAD_MINUTES ({}): the token is checked before the feed starts",
                    schedule_times.feed_start_lead.as_secs() / 60
                ),
            );
        }
        let calendar = r.raw("FEEDGATE_CALENDAR").map(PathBuf::from);
        let public_url = match r.raw("FEEDGATE_PUBLIC_URL") {
            Some(_) => r.url("FEEDGATE_PUBLIC_URL", "", &["http", "https"]),
            None => {
                if listen.ip().is_unspecified() {
                    tracing::warn!(
                        listen = %listen,
                        "FEEDGATE_LISTEN accepts connections on every address, so login links use {}; set FEEDGATE_PUBLIC_URL to the address browsers use to reach feedgate (and, for Fyers, the app's redirect URL)",
                        local_url(listen)
                    );
                }
                local_url(listen)
            }
        };
        let max_symbols_per_client = r.number(
            "FEEDGATE_MAX_SYMBOLS_PER_CLIENT",
            3000,
            1,
            100_000,
            "symbols",
        ) as usize;
        if r.errors.is_empty() {
            Ok(Self {
                listen,
                broker,
                data_dir,
                instruments,
                kite,
                fyers,
                feed,
                tick_throttle,
                heartbeat_interval,
                enable_scheduler,
                schedule_times,
                dev_mode,
                calendar,
                public_url,
                max_symbols_per_client,
            })
        } else {
            Err(ConfigErrors(r.errors))
        }
    }

    /// `FEEDGATE_*` keys that feedgate does not know (likely typos), for a warning.
    pub fn unknown_keys(vars: &BTreeMap<String, String>) -> Vec<String> {
        vars.keys()
            .filter(|k| k.starts_with("FEEDGATE_") && !KNOWN_KEYS.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn an_empty_watchlist_is_allowed() {
        let c = GatewayConfig::from_vars(&vars(&[("FEEDGATE_INSTRUMENTS", "")])).unwrap();
        assert!(c.instruments.is_empty());
        let c = GatewayConfig::from_vars(&vars(&[("FEEDGATE_INSTRUMENTS", " NSE:SBIN , ,NIFTY")]))
            .unwrap();
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
        assert_eq!(c.kite.api_secret.expose(), "s3cret");
    }

    #[test]
    fn fyers_urls_follow_the_api_root() {
        let c = GatewayConfig::from_vars(&vars(&[("FYERS_API_URL", "http://127.0.0.1:9090/")]))
            .unwrap();
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
}
