//! Reads typed settings from the key → value map, recording every invalid value instead of
//! stopping at the first (so all of them are reported together).

use super::{ConfigError, ConfigErrors};
use std::collections::BTreeMap;
use std::time::Duration;

/// Reads settings from `vars` (upper-case keys), collecting every error.
#[derive(Debug)]
pub(super) struct Reader<'a> {
    vars: &'a BTreeMap<String, String>,
    errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(vars: &'a BTreeMap<String, String>) -> Self {
        Self {
            vars,
            errors: Vec::new(),
        }
    }

    /// `value` when no setting was invalid, else every error in the order they were found.
    pub(super) fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ConfigErrors(self.errors))
        }
    }

    /// The variable exactly as set (empty when unset), for lists where empty means "none".
    pub(super) fn verbatim(&self, key: &str) -> Option<&'a str> {
        self.vars.get(key).map(String::as_str)
    }

    /// The trimmed value; `None` when unset or blank.
    pub(super) fn raw(&self, key: &str) -> Option<&'a str> {
        self.vars
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn string(&self, key: &str, default: &str) -> String {
        self.raw(key).unwrap_or(default).to_string()
    }

    pub(super) fn fail(&mut self, key: &str, value: &str, expected: impl Into<String>) {
        self.errors.push(ConfigError {
            key: key.into(),
            value: value.into(),
            expected: expected.into(),
        });
    }

    pub(super) fn bool(&mut self, key: &str, default: bool) -> bool {
        match self.raw(key) {
            None => default,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    self.fail(key, v, "true or false");
                    default
                }
            },
        }
    }

    pub(super) fn number(
        &mut self,
        key: &str,
        default: u64,
        min: u64,
        max: u64,
        unit: &str,
    ) -> u64 {
        match self.raw(key) {
            None => default,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => n,
                _ => {
                    self.fail(key, v, format!("an integer from {min} to {max} ({unit})"));
                    default
                }
            },
        }
    }

    pub(super) fn secs(&mut self, key: &str, default: u64, min: u64, max: u64) -> Duration {
        Duration::from_secs(self.number(key, default, min, max, "seconds"))
    }

    pub(super) fn minutes(&mut self, key: &str, default: u64, max: u64) -> Duration {
        Duration::from_secs(60 * self.number(key, default, 0, max, "minutes"))
    }

    /// A URL with one of `schemes`, without a trailing `/`.
    pub(super) fn url(&mut self, key: &str, default: &str, schemes: &[&str]) -> String {
        let v = self.string(key, default);
        let ok = schemes.iter().any(|s| {
            v.strip_prefix(s)
                .is_some_and(|rest| rest.starts_with("://") && rest.len() > 3)
        });
        if !ok {
            self.fail(
                key,
                &v,
                format!("a URL starting with {}", schemes.join(":// or ") + "://"),
            );
        }
        v.trim_end_matches('/').to_string()
    }

    /// An optional URL: `None` when unset, so the caller derives the default.
    pub(super) fn url_if_set(&mut self, key: &str, schemes: &[&str]) -> Option<String> {
        self.raw(key)?;
        Some(self.url(key, "", schemes))
    }
}
