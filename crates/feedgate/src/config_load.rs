//! Configuration sources, layered as DESIGN.md §4 says: a TOML file (`--config`, keys in lower
//! case) under the environment (a `.env` in the working directory was already merged into it)
//! under command-line flags. The result is validated by the gateway crate.

use anyhow::Context;
use feedgate_gateway::config::{GatewayConfig, KNOWN_KEYS};
use std::collections::BTreeMap;
use std::path::Path;

/// All settings as upper-case key → value.
pub fn collect(file: Option<&Path>) -> anyhow::Result<BTreeMap<String, String>> {
    let mut vars = BTreeMap::new();
    if let Some(path) = file {
        for (key, value) in read_file(path)? {
            if !KNOWN_KEYS.contains(&key.as_str()) {
                tracing::warn!(file = %path.display(), key = %key.to_ascii_lowercase(), "unknown setting in the config file (typo?)");
            }
            vars.insert(key, value);
        }
    }
    for (k, v) in std::env::vars() {
        vars.insert(k, v);
    }
    Ok(vars)
}

/// The settings in a TOML config file, keys upper-cased. Logs nothing (it also runs before
/// logging is set up).
pub fn read_file(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    let mut vars = BTreeMap::new();
    for (k, v) in table {
        let key = k.to_ascii_uppercase();
        let value = match v {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|i| match i {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            other => anyhow::bail!(
                "{}: `{k}` must be a string, number, boolean or list, not {}",
                path.display(),
                other.type_str()
            ),
        };
        vars.insert(key, value);
    }
    Ok(vars)
}

/// Validates, with every problem in one message, and warns about unknown `FEEDGATE_*` keys.
pub fn gateway_config(vars: &BTreeMap<String, String>) -> anyhow::Result<GatewayConfig> {
    for k in GatewayConfig::unknown_keys(vars) {
        tracing::warn!(key = %k, "unknown FEEDGATE_* variable (typo?); ignored");
    }
    GatewayConfig::from_vars(vars).map_err(|e| anyhow::anyhow!("{e}"))
}
