//! Gateway configuration (DESIGN.md §4): parsed and validated from a key → value map, so the
//! binary can layer a TOML file, the environment and flags, and tests can build one directly.
//! Every error names the variable, the bad value and what is expected.

mod cluster;
mod reader;
mod sections;

pub use cluster::{ClusterConfig, RedisUrl, Role};

use crate::model::peer::TrustedProxies;
pub use sections::valid_key_id;

use crate::model::scope::Scopes;
use reader::Reader;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Which broker the upstream speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broker {
    Kite,
    Fyers,
}

#[derive(Debug, Clone)]
pub struct KiteConfig {
    pub api_key: String,
    pub api_secret: SecretString,
    pub access_token: Option<SecretString>,
    pub api_url: String,
    pub ws_url: String,
    pub login_url: String,
}

#[derive(Debug, Clone)]
pub struct FyersConfig {
    pub app_id: String,
    pub secret_id: SecretString,
    pub access_token: Option<SecretString>,
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
    /// `FEED_BRIDGE_AFTER_MS`: the WebSocket delivering nothing this long while data is expected
    /// starts the REST bridge.
    pub bridge_after: Duration,
    /// `FEED_MAX_ATTEMPTS_PER_MINUTE`: the flap guard, per connection.
    pub attempts_per_minute: u32,
}

#[derive(Debug, Clone)]
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
    /// `FEEDGATE_KITE_REST_IDLE_S`: how long an instrument read over the Kite REST endpoints
    /// (`/quote`, …) stays subscribed upstream after its last read.
    pub kite_rest_idle: Duration,
    /// `FEEDGATE_BACKFILL`: fill today's candles from the broker's historical API after a start
    /// and for instruments subscribed later (`/api/candles` spans use it either way).
    pub backfill: bool,
    /// `FEEDGATE_RESUME_LINGER_S`: how long an instrument stays subscribed upstream after its
    /// last `/ws/market` client left, so that a client that reconnects resumes without a gap.
    pub resume_linger: Duration,
    /// `FEEDGATE_RESUME_BUFFER`: values kept per instrument for resuming clients.
    pub resume_buffer: usize,
    /// Connection caps, HTTP timeouts and trusted proxies (DESIGN.md §10, "Limits").
    pub server: ServerLimits,
    /// `FEEDGATE_AUTH`, `FEEDGATE_API_KEYS`, `FEEDGATE_ALLOWED_ORIGINS` (DESIGN.md §10).
    pub access: AccessConfig,
    /// `FEEDGATE_RECORD*` (DESIGN.md §12).
    pub record: RecordConfig,
    /// `FEEDGATE_ROLE`, `FEEDGATE_REDIS_URL`, `FEEDGATE_NODE`, `FEEDGATE_SECRET_KEY` (DESIGN.md §9).
    pub cluster: ClusterConfig,
}

/// Tick recording (DESIGN.md §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordConfig {
    /// `FEEDGATE_RECORD`.
    pub enabled: bool,
    /// `FEEDGATE_RECORD_RETENTION_DAYS`: days kept, today included.
    pub retention_days: u32,
    /// `FEEDGATE_RECORD_MAX_GB`, in bytes.
    pub max_bytes: u64,
}

impl Default for RecordConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            retention_days: 30,
            max_bytes: 20 << 30,
        }
    }
}

/// What the HTTP server protects itself with (DESIGN.md §10, "Limits").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// `FEEDGATE_MAX_CONNECTIONS`: open connections (HTTP and WebSocket alike); `None` (unset
    /// or 0) means 80 % of the open-file limit, worked out at start.
    pub max_connections: Option<usize>,
    /// `FEEDGATE_MAX_CONNECTIONS_PER_IP`: open connections per TCP peer address; 0 = no cap.
    /// Trusted proxies are exempt (they carry many clients).
    pub max_connections_per_ip: usize,
    /// `FEEDGATE_TRUSTED_PROXIES`: whose `X-Forwarded-For`/`X-Forwarded-Proto` are believed.
    pub trusted_proxies: TrustedProxies,
    /// A request head must arrive whole within this long of its first byte.
    pub header_timeout: Duration,
    /// A connection with no request in progress is closed after this long.
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers).
    pub max_header_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: None,
            max_connections_per_ip: 0,
            trusted_proxies: TrustedProxies::default(),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 16 * 1024,
        }
    }
}

/// `FEEDGATE_AUTH`: whether callers must present a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Everyone may do everything (the default on a loopback listen address).
    Off,
    /// Every route but the dashboard's files and the anonymous health probe needs a key.
    Keys,
}

/// One key given in `FEEDGATE_API_KEYS` (`id:secret:scope[+scope]`), for containers that cannot
/// run `feedgate keys add` against a volume.
#[derive(Debug, Clone)]
pub struct EnvKey {
    pub id: String,
    pub secret: SecretString,
    pub scopes: Scopes,
}

/// Access control settings.
#[derive(Debug, Clone)]
pub struct AccessConfig {
    pub mode: AuthMode,
    /// Whether `FEEDGATE_AUTH` was set, rather than derived from the listen address.
    pub mode_explicit: bool,
    pub env_keys: Vec<EnvKey>,
    /// `FEEDGATE_ALLOWED_ORIGINS`: browser origins (`scheme://host[:port]`) allowed besides the
    /// dashboard's own; `*` allows any.
    pub allowed_origins: Vec<String>,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            mode: AuthMode::Off,
            mode_explicit: false,
            env_keys: Vec::new(),
            allowed_origins: Vec::new(),
        }
    }
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
    "FEEDGATE_MAX_CONNECTIONS",
    "FEEDGATE_MAX_CONNECTIONS_PER_IP",
    "FEEDGATE_TRUSTED_PROXIES",
    "FEEDGATE_AUTH",
    "FEEDGATE_API_KEYS",
    "FEEDGATE_ALLOWED_ORIGINS",
    "FEEDGATE_KITE_REST_IDLE_S",
    "FEEDGATE_RESUME_LINGER_S",
    "FEEDGATE_RESUME_BUFFER",
    "FEEDGATE_RECORD",
    "FEEDGATE_RECORD_RETENTION_DAYS",
    "FEEDGATE_RECORD_MAX_GB",
    "FEEDGATE_ROLE",
    "FEEDGATE_REDIS_URL",
    "FEEDGATE_NODE",
    "FEEDGATE_SECRET_KEY",
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
    /// The configured broker's access token from the environment (`ZERODHA_ACCESS_TOKEN` or
    /// `FYERS_ACCESS_TOKEN`), if one was given.
    pub fn env_token(&self) -> Option<SecretString> {
        match self.broker {
            Broker::Kite => self.kite.access_token.clone(),
            Broker::Fyers => self.fyers.access_token.clone(),
        }
    }

    /// The gateway's own login page (`/api/login` under the public URL), where messages send
    /// people.
    pub fn login_page(&self) -> String {
        format!("{}/api/login", self.public_url.trim_end_matches('/'))
    }

    /// Parses and validates. Missing keys take their defaults; every invalid value is reported,
    /// in the order the sections are read.
    pub fn from_vars(vars: &BTreeMap<String, String>) -> Result<Self, ConfigErrors> {
        let mut r = Reader::new(vars);
        let listen = sections::listen(&mut r);
        let broker = sections::broker(&mut r);
        let data_dir = PathBuf::from(r.string("FEEDGATE_DATA_DIR", "./data"));
        let instruments = sections::watchlist(&r);
        let kite = sections::kite(&mut r);
        let fyers = sections::fyers(&mut r);
        let feed = sections::feed(&mut r);
        let tick_throttle =
            Duration::from_millis(r.number("TICK_THROTTLE_MS", 1000, 0, 60_000, "milliseconds"));
        let heartbeat_interval = r.secs("HEARTBEAT_INTERVAL", 30, 1, 3600);
        let enable_scheduler = r.bool("ENABLE_SCHEDULER", true);
        let dev_mode = r.bool("DEV_MODE", false);
        let schedule_times = sections::schedule_times(&mut r);
        let calendar = r.raw("FEEDGATE_CALENDAR").map(PathBuf::from);
        let public_url = sections::public_url(&mut r, listen);
        let max_symbols_per_client = r.number(
            "FEEDGATE_MAX_SYMBOLS_PER_CLIENT",
            3000,
            1,
            100_000,
            "symbols",
        ) as usize;
        let kite_rest_idle = r.secs("FEEDGATE_KITE_REST_IDLE_S", 300, 1, 86_400);
        let backfill = r.bool("FEEDGATE_BACKFILL", true);
        let resume_linger = r.secs("FEEDGATE_RESUME_LINGER_S", 60, 0, 3600);
        let resume_buffer = r.number(
            "FEEDGATE_RESUME_BUFFER",
            64,
            0,
            100_000,
            "ticks per instrument",
        ) as usize;
        let server = sections::server_limits(&mut r);
        let access = sections::access(&mut r, listen);
        let record = sections::record(&mut r);
        let cluster = cluster::cluster(&mut r);
        r.finish(Self {
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
            kite_rest_idle,
            backfill,
            resume_linger,
            resume_buffer,
            server,
            access,
            record,
            cluster,
        })
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
mod tests;
