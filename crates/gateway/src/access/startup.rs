//! The start-up decision of access control (DESIGN.md §10, "secure by default"): refuse to
//! serve a non-loopback address with keys required and none to accept, and say what is risky.

use crate::config::{AuthMode, GatewayConfig};

/// What to say (or whether to refuse) before serving with `cfg` when `keys` keys are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartCheck {
    Ready,
    /// Start, but log this warning.
    Warn(String),
    /// Do not start; the message says how to fix it.
    Refuse(String),
}

pub fn start_check(cfg: &GatewayConfig, keys: usize) -> StartCheck {
    let public = !cfg.listen.ip().is_loopback();
    let file = cfg.data_dir.join(crate::access::keys::FILE_NAME);
    match cfg.access.mode {
        AuthMode::Keys if keys == 0 && public => StartCheck::Refuse(format!(
            "feedgate would listen on {listen}, which other machines can reach, with FEEDGATE_AUTH=keys but no key, so every request would be refused. \
Add a key with `feedgate keys add NAME --scope admin` (it prints KEY_ID and SECRET once and stores a hash in {file}; present it as `Authorization: Bearer KEY_ID:SECRET`), \
or pass FEEDGATE_API_KEYS=id:secret:admin, or set FEEDGATE_AUTH=off to serve without access control (anyone who can reach {listen} could then use it).",
            listen = cfg.listen,
            file = file.display(),
        )),
        AuthMode::Keys if keys == 0 => StartCheck::Warn(format!(
            "FEEDGATE_AUTH=keys but no key is configured: every API request will be refused until one is added with `feedgate keys add NAME --scope admin` (stored in {})",
            file.display()
        )),
        AuthMode::Off if public => StartCheck::Warn(format!(
            "FEEDGATE_AUTH=off on {}, which other machines can reach: anyone who reaches it can read the feed and start the broker login; add keys with `feedgate keys add` and unset FEEDGATE_AUTH",
            cfg.listen
        )),
        AuthMode::Keys | AuthMode::Off => StartCheck::Ready,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cfg(pairs: &[(&str, &str)]) -> GatewayConfig {
        let vars: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        GatewayConfig::from_vars(&vars).unwrap()
    }

    #[test]
    fn public_address_without_keys_is_refused_with_the_fix() {
        let c = cfg(&[("FEEDGATE_LISTEN", "0.0.0.0:8080")]);
        assert_eq!(
            c.access.mode,
            AuthMode::Keys,
            "keys by default off loopback"
        );
        let StartCheck::Refuse(msg) = start_check(&c, 0) else {
            panic!("must refuse");
        };
        assert!(msg.contains("feedgate keys add NAME"), "{msg}");
        assert!(msg.contains("FEEDGATE_AUTH=off"), "{msg}");
        assert_eq!(start_check(&c, 1), StartCheck::Ready);
    }

    #[test]
    fn loopback_defaults_to_off_and_public_off_warns() {
        let c = cfg(&[]);
        assert_eq!(c.access.mode, AuthMode::Off);
        assert_eq!(start_check(&c, 0), StartCheck::Ready);
        let c = cfg(&[
            ("FEEDGATE_LISTEN", "0.0.0.0:8080"),
            ("FEEDGATE_AUTH", "off"),
        ]);
        assert!(
            matches!(start_check(&c, 0), StartCheck::Warn(m) if m.contains("FEEDGATE_AUTH=off"))
        );
        let c = cfg(&[("FEEDGATE_AUTH", "keys")]);
        assert!(matches!(start_check(&c, 0), StartCheck::Warn(_)));
    }

    #[test]
    fn env_keys_and_origins_are_validated_without_echoing_secrets() {
        let c = cfg(&[
            (
                "FEEDGATE_API_KEYS",
                "desk:0123456789abcdef:read+admin, bot:fedcba9876543210xx:read",
            ),
            (
                "FEEDGATE_ALLOWED_ORIGINS",
                "https://dash.example.com/, http://10.0.0.5:8080",
            ),
        ]);
        assert_eq!(c.access.env_keys.len(), 2);
        assert_eq!(c.access.env_keys[0].scopes.to_string(), "read+admin");
        assert_eq!(
            c.access.allowed_origins,
            ["https://dash.example.com", "http://10.0.0.5:8080"]
        );
        let vars: BTreeMap<String, String> = [
            (
                "FEEDGATE_API_KEYS".to_string(),
                "desk:tooshortsecret1:root".to_string(),
            ),
            ("FEEDGATE_AUTH".to_string(), "maybe".to_string()),
            (
                "FEEDGATE_ALLOWED_ORIGINS".to_string(),
                "evil.com/path".to_string(),
            ),
        ]
        .into_iter()
        .collect();
        let e = GatewayConfig::from_vars(&vars).unwrap_err().to_string();
        assert!(!e.contains("tooshortsecret1"), "{e}");
        assert!(
            e.contains("FEEDGATE_API_KEYS") && e.contains("FEEDGATE_AUTH"),
            "{e}"
        );
        assert!(e.contains("FEEDGATE_ALLOWED_ORIGINS"), "{e}");
    }
}
