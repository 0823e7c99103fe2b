//! Typed credentials (access token, API secret, request token, other tokens), each a
//! [`secrecy::SecretString`] inside: secrecy redacts `Debug`, gives no `Display`, and zeroes
//! the value on drop, so a secret cannot leak through logs, error messages or `{:?}` of a
//! struct that holds one. This module only adds the typed API on top: the value is reachable
//! through an explicit [`AccessToken::expose`] (and friends), and equality is constant-time.
//!
//! `Serialize` does write the value, because the simulator must put tokens into the
//! `/session/token` response; serialise a secret only into the one response that carries it.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

macro_rules! secret {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, Deserialize)]
        #[serde(transparent)]
        pub struct $name(SecretString);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(SecretString::from(value.into()))
            }

            /// The secret itself, for the few places that must send it.
            pub fn expose(&self) -> &str {
                self.0.expose_secret()
            }

            pub fn is_empty(&self) -> bool {
                self.expose().is_empty()
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self::new(value)
            }
        }

        /// Compares in time independent of where the values differ, so a server checking a
        /// presented token does not leak how much of it was right.
        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                constant_time_eq(self.expose().as_bytes(), other.expose().as_bytes())
            }
        }

        impl Eq for $name {}

        /// Writes the real value: see the module docs for the one place that may.
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.expose())
            }
        }
    };
}

secret!(
    /// A Kite access token (valid until about 06:00 IST the next day, kite.md §8.2).
    AccessToken
);
secret!(
    /// The app's API secret, used only to compute the login checksum.
    ApiSecret
);
secret!(
    /// The single-use request token the login redirect carries.
    RequestToken
);
secret!(
    /// Any other credential-like string from Kite (`public_token`, `enctoken`,
    /// `refresh_token`): kept but never shown.
    Redacted
);

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // The length is not secret (tokens have a fixed format); the contents are.
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let token = AccessToken::new("s3cr3t-token");
        let secret = ApiSecret::from("api-s3cr3t");
        let request = RequestToken::from("req-s3cr3t".to_owned());
        let other = Redacted::new("enc-s3cr3t");
        let shown = format!("{token:?} {secret:?} {request:?} {other:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert_eq!(shown.matches("[REDACTED]").count(), 4, "{shown}");
        assert!(format!("{token:?}").starts_with("AccessToken("));
        assert_eq!(token.expose(), "s3cr3t-token");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            token: AccessToken,
        }
        let held = format!("{:?}", Holder { token });
        assert!(
            !held.contains("s3cr3t") && held.contains("[REDACTED]"),
            "{held}"
        );
    }

    #[test]
    fn serde_is_transparent() {
        let token: AccessToken = serde_json::from_str(r#""abc""#).unwrap();
        assert_eq!(token.expose(), "abc");
        assert_eq!(serde_json::to_string(&token).unwrap(), r#""abc""#);
    }

    #[test]
    fn equality() {
        let cases = [
            ("abc", "abc", true),
            ("abc", "abd", false),
            ("abc", "ab", false),
            ("", "", true),
        ];
        for (a, b, equal) in cases {
            assert_eq!(
                AccessToken::from(a) == AccessToken::from(b),
                equal,
                "{a} {b}"
            );
        }
        assert!(AccessToken::default().is_empty());
    }
}
