//! A redacting wrapper for credentials (API secret, auth code, access and refresh tokens, the
//! socket's `hsm_key`). It has no `Display`, and its `Debug` never shows the value, so a secret
//! cannot reach a log line, an error message or a `{:?}` by accident; reading it takes an
//! explicit [`Secret::expose`]. It does not zero memory on drop (no such dependency here).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A credential whose value is hidden from `Debug` output.
///
/// `Serialize` writes the real value because wire bodies (the simulator's token response, the
/// `validate-authcode` request) need it; never serialise a `Secret` into anything that is logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value. Call this only where the credential goes onto the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the credential is the empty string (a missing value, usually).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Length in bytes; safe to log, useful in diagnostics.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("hunter2-super-secret");
        let shown = format!("{secret:?} {:?}", Some(&secret));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(secret.expose(), "hunter2-super-secret");
        assert_eq!(secret.len(), 20);
    }

    #[test]
    fn serde_round_trips_the_real_value() {
        let secret: Secret = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(secret.expose(), "abc");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"abc\"");
    }
}
