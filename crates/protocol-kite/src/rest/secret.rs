//! Redacting newtypes for credentials. `Debug` and `Display` never show the value, so a secret
//! cannot leak through logs, error messages or `{:?}` of a struct that holds one; the value is
//! reachable only through an explicit [`AccessToken::expose`] (and friends).
//!
//! `Serialize` does write the value, because the simulator must put tokens into the
//! `/session/token` response; serialise a secret only into the one response that carries it.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! secret {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Default, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret itself, for the few places that must send it.
            pub fn expose(&self) -> &str {
                &self.0
            }

            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        /// Compares in time independent of where the values differ, so a server checking a
        /// presented token does not leak how much of it was right.
        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
            }
        }

        // Consistent with `eq`: equal values have equal strings.
        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.0.hash(state);
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[redacted]")
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
    fn debug_and_display_redact() {
        let token = AccessToken::new("s3cr3t-token");
        let secret = ApiSecret::from("api-s3cr3t");
        let request = RequestToken::from("req-s3cr3t".to_owned());
        let other = Redacted::new("enc-s3cr3t");
        let shown = format!(
            "{token:?} {token} {secret:?} {secret} {request:?} {request} {other:?} {other}"
        );
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert_eq!(format!("{token:?}"), "AccessToken([redacted])");
        assert_eq!(token.to_string(), "[redacted]");
        assert_eq!(token.expose(), "s3cr3t-token");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            token: AccessToken,
        }
        assert!(!format!("{:?}", Holder { token }).contains("s3cr3t"));
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
