//! Credentials (API secret, access tokens) are [`secrecy::SecretString`]s everywhere: its
//! `Debug` is redacted and it has no `Display`, so a secret cannot leak through a log line or
//! an error message by accident; it is zeroed on drop; reading it takes an explicit
//! `expose_secret()`, called only where the broker needs the value. This module holds what the
//! gateway adds around that type: the log targets that must never print credentials, the token
//! currently in use, and [`same_secret`]. It is not a second secret type.

use secrecy::{ExposeSecret, SecretString};

/// Log targets that print credentials at some level and must always be filtered out,
/// whatever `FEEDGATE_LOG` says, as `EnvFilter` directives. Kite's ticker takes the access
/// token in the URL's query, and tungstenite logs the whole upgrade request at TRACE; it also
/// logs every frame's payload at TRACE, and Fyers' login frame carries the `hsm_key`.
pub const SECRET_LOG_DIRECTIVES: &[&str] = &[
    "tungstenite::handshake::client=off",
    // Frame payloads are logged at TRACE (Fyers' auth frame carries the hsm_key); `off` rather
    // than `debug` so this directive never raises the target above the user's own filter.
    "tungstenite::protocol=off",
];

/// Whether two secrets hold the same value ("is the file's token the environment's?"). Not an
/// authentication check, so not constant-time.
pub fn same_secret(a: &SecretString, b: &SecretString) -> bool {
    a.expose_secret() == b.expose_secret()
}

/// The access token currently in use, with an epoch that changes whenever the token does, so
/// watchers can tell "a new token arrived" from "the same token was re-published".
#[derive(Debug, Clone)]
pub struct CurrentToken {
    pub epoch: u64,
    pub token: SecretString,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints() {
        let s = SecretString::from("abc123");
        let t = CurrentToken {
            epoch: 1,
            token: s.clone(),
        };
        let shown = format!("{s:?} {t:?}");
        assert!(!shown.contains("abc123"), "{shown}");
        assert_eq!(shown.matches("[REDACTED]").count(), 2, "{shown}");
        assert_eq!(s.expose_secret(), "abc123");
    }

    #[test]
    fn same_secret_compares_values() {
        let a = SecretString::from("tok");
        assert!(same_secret(&a, &SecretString::from("tok")));
        assert!(!same_secret(&a, &SecretString::from("tok2")));
    }
}
