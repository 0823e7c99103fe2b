//! Secrets (API secret, access tokens) in a type that never prints them: `Debug` and
//! `Display` are redacted, so a secret cannot leak through a log line or an error message by
//! accident. Call [`Secret::expose`] only where the broker needs the value.

/// A secret string.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("Secret(<empty>)")
        } else {
            f.write_str("Secret(<redacted>)")
        }
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

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

/// The access token currently in use, with an epoch that changes whenever the token does, so
/// watchers can tell "a new token arrived" from "the same token was re-published".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentToken {
    pub epoch: u64,
    pub token: Secret,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints() {
        let s = Secret::new("abc123");
        assert_eq!(format!("{s:?} {s}"), "Secret(<redacted>) <redacted>");
        let t = CurrentToken {
            epoch: 1,
            token: s.clone(),
        };
        assert!(!format!("{t:?}").contains("abc123"));
        assert_eq!(s.expose(), "abc123");
    }
}
