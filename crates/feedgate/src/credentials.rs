//! What the configured broker credentials lack, as findings: `serve` refuses to start on a
//! failure and logs the warnings; `check` lists every finding in its report (one list, so a
//! user fixes everything in one go rather than one error per run).

use feedgate_gateway::config::{Broker, GatewayConfig};
use secrecy::ExposeSecret;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// feedgate cannot work without it.
    Fail,
    /// feedgate works, but something will need a human (e.g. the daily login cannot complete).
    Warn,
}

/// One problem with the credentials, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
}

impl Finding {
    fn fail(message: &str) -> Self {
        Self {
            severity: Severity::Fail,
            message: message.to_string(),
        }
    }

    fn warn(message: String) -> Self {
        Self {
            severity: Severity::Warn,
            message,
        }
    }
}

/// Every finding about the configured broker's credentials, failures first.
pub fn findings(cfg: &GatewayConfig) -> Vec<Finding> {
    let mut out = match cfg.broker {
        Broker::Kite => kite(cfg),
        Broker::Fyers => fyers(cfg),
    };
    out.sort_by_key(|f| f.severity != Severity::Fail);
    out
}

fn kite(cfg: &GatewayConfig) -> Vec<Finding> {
    let mut out = Vec::new();
    if cfg.kite.api_key.is_empty() {
        out.push(Finding::fail(
            "ZERODHA_API_KEY is not set: put your Kite Connect app's API key in the environment, a .env file or the --config file",
        ));
    }
    if cfg.kite.api_secret.expose_secret().is_empty() {
        // A token from elsewhere still works without the secret: a warning, not a refusal.
        out.push(Finding::warn(
            "ZERODHA_API_SECRET is not set: the daily login at /api/login cannot complete; set it, or supply ZERODHA_ACCESS_TOKEN (or the token file) yourself every day".to_string(),
        ));
    }
    out
}

fn fyers(cfg: &GatewayConfig) -> Vec<Finding> {
    let mut out = Vec::new();
    let app_id = &cfg.fyers.app_id;
    if app_id.is_empty() {
        out.push(Finding::fail(
            "FYERS_APP_ID is not set: put your Fyers API app's App ID (with its -100 suffix, e.g. XC4EOD67IM-100) in the environment, a .env file or the --config file",
        ));
    } else if !app_id.contains('-') {
        out.push(Finding::warn(format!(
            "FYERS_APP_ID={app_id} has no app-type suffix; Fyers app ids look like XC4EOD67IM-100"
        )));
    }
    if cfg.fyers.secret_id.expose_secret().is_empty() {
        out.push(Finding::warn(
            "FYERS_SECRET_ID is not set: the daily login at /api/login cannot complete; set it, or supply FYERS_ACCESS_TOKEN (or the token file) yourself every day".to_string(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn config(pairs: &[(&str, &str)]) -> GatewayConfig {
        let vars: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        GatewayConfig::from_vars(&vars).unwrap()
    }

    #[test]
    fn kite_without_anything_lists_the_key_and_the_secret() {
        let f = findings(&config(&[]));
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(f[0].severity, Severity::Fail);
        assert!(f[0].message.starts_with("ZERODHA_API_KEY is not set"));
        assert_eq!(f[1].severity, Severity::Warn);
        assert!(f[1].message.starts_with("ZERODHA_API_SECRET is not set"));
    }

    #[test]
    fn complete_credentials_have_no_findings() {
        let kite = config(&[("ZERODHA_API_KEY", "k"), ("ZERODHA_API_SECRET", "s")]);
        assert!(findings(&kite).is_empty());
        let fyers = config(&[
            ("FEEDGATE_BROKER", "fyers"),
            ("FYERS_APP_ID", "XC4EOD67IM-100"),
            ("FYERS_SECRET_ID", "s"),
        ]);
        assert!(findings(&fyers).is_empty());
    }

    #[test]
    fn a_fyers_app_id_without_suffix_is_a_warning_naming_it() {
        let f = findings(&config(&[
            ("FEEDGATE_BROKER", "fyers"),
            ("FYERS_APP_ID", "XC4EOD67IM"),
            ("FYERS_SECRET_ID", "s"),
        ]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warn);
        assert!(f[0].message.contains("FYERS_APP_ID=XC4EOD67IM"));
    }
}
