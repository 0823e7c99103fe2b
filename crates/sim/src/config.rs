//! The simulator's configuration ([`SimConfig`]) with DESIGN.md §7 defaults, and its
//! validation. The API secret is redacted from `Debug`.

use crate::error::SimError;
use crate::observer::SendObserver;
use std::fmt;
use std::time::Duration;

/// Highest aggregate tick rate accepted (ticks per second, after `speed`).
pub const MAX_RATE: f64 = 10_000_000.0;
/// Highest market speed multiplier accepted.
pub const MAX_SPEED: f64 = 1_000.0;
/// Most synthetic instruments accepted: Kite's whole per-api_key capacity (3 × 3000).
pub const MAX_EXTRA_INSTRUMENTS: usize = 9_000;

/// Simulator settings. `Default` gives DESIGN.md §7's values.
#[derive(Clone, PartialEq)]
pub struct SimConfig {
    /// The app's api_key (`feedgate-sim`).
    pub api_key: String,
    /// The app's API secret, used to check `/session/token` checksums (`feedgate-sim-secret`).
    pub api_secret: String,
    /// Where the login page redirects after a successful login.
    pub redirect_url: String,
    /// The simulated user's id, pre-filled on the login page.
    pub user_id: String,
    /// Seed of the market's random walk: same seed, same market.
    pub seed: u64,
    /// Aggregate ticks per second across all instruments; `None` = about one update per second
    /// per instrument (jittered).
    pub rate: Option<f64>,
    /// 1.0 = real time; multiplies the update rate.
    pub speed: f64,
    /// Heartbeat period on idle ticker connections.
    pub heartbeat_interval: Duration,
    /// Synthetic NSE stocks (`NSE:SYN0001`, `NSE:SYN0002`, …) added after the real catalogue,
    /// for tests that need thousands of instruments (more than one ticker connection's 3000).
    /// They are served everywhere the catalogue is (`/instruments`, quotes, the ticker) but
    /// update only about once every [`crate::universe::SYNTHETIC_UPDATE_INTERVAL`] each, so
    /// thousands stay cheap (with `rate` set, the aggregate rate is spread over every
    /// instrument, synthetic ones included). 0 (the default) leaves the universe as it is.
    pub extra_instruments: usize,
    /// Sees every market-data frame just before a ticker connection writes it (benchmarks:
    /// send instants for end-to-end latency). `None` (the default) costs nothing.
    pub send_observer: Option<SendObserver>,
    /// With `rate` set: how often the market produces a batch (one frame per connection);
    /// `None` = every [`crate::market::TICK_PERIOD`] (50 ms). A shorter period keeps the
    /// aggregate rate in smaller, more frequent batches (latency benchmarks: 10k ticks/s as
    /// ten ticks per millisecond instead of 500 every 50 ms). Rejected without `rate`.
    pub batch_period: Option<Duration>,
    /// The Fyers app id (`client_id`, with its `-100` app-type suffix) the simulator accepts in
    /// the login flow, REST `Authorization` headers and minted `APPID:JWT` tokens.
    pub fyers_app_id: String,
    /// The Fyers app secret: `validate-authcode` checks `appIdHash = sha256(app_id:secret)`.
    pub fyers_secret: String,
    /// The Fyers app's registered redirect URL: the login page accepts only this
    /// `redirect_uri` and redirects there with `auth_code` and `state`.
    pub fyers_redirect_url: String,
    /// Lifetime of issued Fyers access tokens (the JWT's `exp` = issue time + this).
    pub fyers_token_ttl: Duration,
    /// The data socket's `ack_count` (auth reply field 2): clients acknowledge every n-th data
    /// frame; 0 disables acknowledgements.
    pub fyers_ack_count: u32,
    /// With `fyers_ack_count` > 0: close a data socket whose client falls more than two ack
    /// periods behind (after a type-51 notice). Off by default (the real server's reaction to
    /// missing acks is unknown).
    pub fyers_enforce_acks: bool,
    /// The wall time the simulator's clock starts at (it then advances with `tokio::time`);
    /// `None` = now. Tests that inject the gateway's wall clock give the simulator the same
    /// start, so exchange timestamps (REST quotes, full-mode ticks) agree with it.
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            api_key: "feedgate-sim".to_owned(),
            api_secret: "feedgate-sim-secret".to_owned(),
            redirect_url: "http://127.0.0.1:8080/api/auth/callback".to_owned(),
            user_id: "FG0001".to_owned(),
            seed: 1,
            rate: None,
            speed: 1.0,
            heartbeat_interval: Duration::from_secs(1),
            extra_instruments: 0,
            send_observer: None,
            batch_period: None,
            fyers_app_id: "FEEDGATESIM-100".to_owned(),
            fyers_secret: "feedgate-sim-fyers-secret".to_owned(),
            fyers_redirect_url: "http://127.0.0.1:8080/api/auth/callback".to_owned(),
            fyers_token_ttl: Duration::from_secs(24 * 3600),
            fyers_ack_count: 10,
            fyers_enforce_acks: false,
            start_at: None,
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("api_key", &self.api_key)
            .field("api_secret", &"<redacted>")
            .field("redirect_url", &self.redirect_url)
            .field("user_id", &self.user_id)
            .field("seed", &self.seed)
            .field("rate", &self.rate)
            .field("speed", &self.speed)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("extra_instruments", &self.extra_instruments)
            .field("send_observer", &self.send_observer)
            .field("batch_period", &self.batch_period)
            .field("fyers_app_id", &self.fyers_app_id)
            .field("fyers_secret", &"<redacted>")
            .field("fyers_redirect_url", &self.fyers_redirect_url)
            .field("fyers_token_ttl", &self.fyers_token_ttl)
            .field("fyers_ack_count", &self.fyers_ack_count)
            .field("fyers_enforce_acks", &self.fyers_enforce_acks)
            .finish()
    }
}

/// Longest Fyers token lifetime accepted (one year).
pub const MAX_FYERS_TOKEN_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Shortest and longest `batch_period` accepted.
pub const BATCH_PERIOD_RANGE: (Duration, Duration) =
    (Duration::from_millis(1), Duration::from_secs(1));

impl SimConfig {
    /// The market's timer period in effect (see [`Self::batch_period`]).
    pub fn effective_batch_period(&self) -> Duration {
        self.batch_period
            .filter(|_| self.rate.is_some())
            .unwrap_or(crate::market::TICK_PERIOD)
    }

    /// Checks every field, naming the bad value and what is expected.
    pub fn validate(&self) -> Result<(), SimError> {
        self.check_kite_app()?;
        self.check_redirect_urls()?;
        self.check_fyers_app()?;
        self.check_pace()?;
        if self.extra_instruments > MAX_EXTRA_INSTRUMENTS {
            return invalid(format!(
                "extra_instruments {} must be at most {MAX_EXTRA_INSTRUMENTS}",
                self.extra_instruments
            ));
        }
        Ok(())
    }

    fn check_kite_app(&self) -> Result<(), SimError> {
        if self.api_key.trim().is_empty() {
            return invalid("api_key must not be empty".to_owned());
        }
        if self.api_secret.is_empty() {
            return invalid("api_secret must not be empty".to_owned());
        }
        if self.user_id.trim().is_empty() {
            return invalid("user_id must not be empty".to_owned());
        }
        Ok(())
    }

    fn check_redirect_urls(&self) -> Result<(), SimError> {
        for (name, value) in [
            ("redirect_url", &self.redirect_url),
            ("fyers_redirect_url", &self.fyers_redirect_url),
        ] {
            match url::Url::parse(value) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                _ => {
                    return invalid(format!("{name} {value:?} is not an absolute http(s) URL"));
                }
            }
        }
        Ok(())
    }

    fn check_fyers_app(&self) -> Result<(), SimError> {
        let app_id = &self.fyers_app_id;
        // The app id is the part before ':' in `APPID:JWT` tokens.
        if app_id.is_empty() || !app_id.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return invalid(format!(
                "fyers_app_id {app_id:?} must be non-empty printable ASCII without ':' (e.g. FEEDGATESIM-100)"
            ));
        }
        if self.fyers_secret.is_empty() {
            return invalid("fyers_secret must not be empty".to_owned());
        }
        if self.fyers_token_ttl.is_zero() || self.fyers_token_ttl > MAX_FYERS_TOKEN_TTL {
            return invalid(format!(
                "fyers_token_ttl {:?} must be positive and at most {MAX_FYERS_TOKEN_TTL:?}",
                self.fyers_token_ttl
            ));
        }
        Ok(())
    }

    /// How fast the market runs and the ticker talks: speed, rate, heartbeat and batch period.
    fn check_pace(&self) -> Result<(), SimError> {
        if !(self.speed.is_finite() && self.speed > 0.0 && self.speed <= MAX_SPEED) {
            return invalid(format!(
                "speed {} must be a number in (0, {MAX_SPEED}]",
                self.speed
            ));
        }
        if let Some(rate) = self.rate {
            let effective = rate * self.speed;
            if !(rate.is_finite() && rate > 0.0 && effective <= MAX_RATE) {
                return invalid(format!(
                    "rate {rate} ticks/s (× speed {}) must be positive and at most {MAX_RATE}",
                    self.speed
                ));
            }
        }
        if self.heartbeat_interval.is_zero() {
            return invalid("heartbeat_interval must be positive".to_owned());
        }
        let Some(period) = self.batch_period else {
            return Ok(());
        };
        let (min, max) = BATCH_PERIOD_RANGE;
        if self.rate.is_none() {
            return invalid(format!(
                "batch_period {period:?} needs an aggregate rate (the default pace is tied to 50 ms)"
            ));
        }
        if !(min..=max).contains(&period) {
            return invalid(format!(
                "batch_period {period:?} must be between {min:?} and {max:?}"
            ));
        }
        Ok(())
    }
}

fn invalid(msg: String) -> Result<(), SimError> {
    Err(SimError::InvalidConfig(msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_design() {
        let cfg = SimConfig::default();
        cfg.validate().unwrap();
        assert_eq!(cfg.api_key, "feedgate-sim");
        assert_eq!(cfg.api_secret, "feedgate-sim-secret");
        assert_eq!(cfg.redirect_url, "http://127.0.0.1:8080/api/auth/callback");
        assert_eq!(cfg.heartbeat_interval, Duration::from_secs(1));
        assert_eq!(cfg.fyers_app_id, "FEEDGATESIM-100");
        assert_eq!(cfg.fyers_secret, "feedgate-sim-fyers-secret");
        assert_eq!(
            cfg.fyers_redirect_url,
            "http://127.0.0.1:8080/api/auth/callback"
        );
    }

    #[test]
    fn debug_redacts_the_secret() {
        let text = format!("{:?}", SimConfig::default());
        assert!(!text.contains("feedgate-sim-secret"), "{text}");
        assert!(!text.contains("feedgate-sim-fyers-secret"), "{text}");
    }

    #[test]
    fn rejects_bad_values() {
        type Mutation = Box<dyn Fn(&mut SimConfig)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("api_key", Box::new(|c| c.api_key = " ".into())),
            ("api_secret", Box::new(|c| c.api_secret = String::new())),
            ("user_id", Box::new(|c| c.user_id = String::new())),
            (
                "redirect_url",
                Box::new(|c| c.redirect_url = "not a url".into()),
            ),
            (
                "redirect_url",
                Box::new(|c| c.redirect_url = "ftp://x/".into()),
            ),
            ("speed", Box::new(|c| c.speed = 0.0)),
            ("speed", Box::new(|c| c.speed = f64::NAN)),
            ("speed", Box::new(|c| c.speed = 1e6)),
            ("rate", Box::new(|c| c.rate = Some(-1.0))),
            ("rate", Box::new(|c| c.rate = Some(f64::INFINITY))),
            ("rate", Box::new(|c| c.rate = Some(MAX_RATE * 2.0))),
            (
                "heartbeat_interval",
                Box::new(|c| c.heartbeat_interval = Duration::ZERO),
            ),
            (
                "extra_instruments",
                Box::new(|c| c.extra_instruments = MAX_EXTRA_INSTRUMENTS + 1),
            ),
            (
                "fyers_redirect_url",
                Box::new(|c| c.fyers_redirect_url = "nope".into()),
            ),
            ("fyers_app_id", Box::new(|c| c.fyers_app_id = "A:B".into())),
            ("fyers_app_id", Box::new(|c| c.fyers_app_id = String::new())),
            ("fyers_secret", Box::new(|c| c.fyers_secret = String::new())),
            (
                "fyers_token_ttl",
                Box::new(|c| c.fyers_token_ttl = Duration::ZERO),
            ),
            (
                "batch_period",
                Box::new(|c| c.batch_period = Some(Duration::from_millis(5))),
            ),
            (
                "batch_period",
                Box::new(|c| {
                    c.rate = Some(1000.0);
                    c.batch_period = Some(Duration::from_micros(10));
                }),
            ),
        ];
        for (field, mutate) in cases {
            let mut cfg = SimConfig::default();
            mutate(&mut cfg);
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
