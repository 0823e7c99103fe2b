//! The simulator's configuration ([`SimConfig`]) with DESIGN.md §7 defaults, and its
//! validation. The API secret is redacted from `Debug`.

use crate::error::SimError;
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
            .finish()
    }
}

impl SimConfig {
    /// Checks every field, naming the bad value and what is expected.
    pub fn validate(&self) -> Result<(), SimError> {
        let invalid = |msg: String| Err(SimError::InvalidConfig(msg));
        if self.api_key.trim().is_empty() {
            return invalid("api_key must not be empty".to_owned());
        }
        if self.api_secret.is_empty() {
            return invalid("api_secret must not be empty".to_owned());
        }
        if self.user_id.trim().is_empty() {
            return invalid("user_id must not be empty".to_owned());
        }
        match url::Url::parse(&self.redirect_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => {
                return invalid(format!(
                    "redirect_url {:?} is not an absolute http(s) URL",
                    self.redirect_url
                ));
            }
        }
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
        if self.extra_instruments > MAX_EXTRA_INSTRUMENTS {
            return invalid(format!(
                "extra_instruments {} must be at most {MAX_EXTRA_INSTRUMENTS}",
                self.extra_instruments
            ));
        }
        Ok(())
    }
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
    }

    #[test]
    fn debug_redacts_the_secret() {
        let text = format!("{:?}", SimConfig::default());
        assert!(!text.contains("feedgate-sim-secret"), "{text}");
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
        ];
        for (field, mutate) in cases {
            let mut cfg = SimConfig::default();
            mutate(&mut cfg);
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
