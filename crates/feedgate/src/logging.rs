//! Tracing subscriber set-up: `FEEDGATE_LOG` is the filter (default `info`),
//! `FEEDGATE_LOG_FORMAT` is `text` (default) or `json` (JSON lines). Both may come from the
//! environment (a `.env` included) or the `--config` file (`feedgate_log`,
//! `feedgate_log_format`); the environment wins. Invalid values are rejected before anything
//! runs, with the name, the bad value and what is expected (DESIGN.md §4): a typo here would
//! otherwise quietly change or silence the logs. Logs go to stderr so stdout stays
//! machine-readable (`feedgate session` prints JSON there; `feedgate sim` its address).

use std::collections::BTreeMap;
use std::path::Path;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// Validated logging settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// An `EnvFilter` directive string that parses.
    pub filter: String,
    pub json: bool,
}

/// Reads `FEEDGATE_LOG` and `FEEDGATE_LOG_FORMAT` from `env`, or else from the config file
/// (`file`: its path and its settings with upper-case keys). Every invalid value is one line of
/// the error.
pub fn settings(
    env: impl Fn(&str) -> Option<String>,
    file: Option<(&Path, &BTreeMap<String, String>)>,
) -> Result<Settings, Vec<String>> {
    // The value, and how to name it in an error: `KEY="value"` or `key="value" (in FILE)`.
    let get = |key: &str| -> Option<(String, String)> {
        if let Some(v) = env(key).filter(|v| !v.trim().is_empty()) {
            let named = format!("{key}={v:?}");
            return Some((v, named));
        }
        let (path, vars) = file?;
        let v = vars.get(key).filter(|v| !v.trim().is_empty())?;
        let named = format!("{}={v:?} (in {})", key.to_ascii_lowercase(), path.display());
        Some((v.clone(), named))
    };
    let mut errors = Vec::new();
    let filter = match get("FEEDGATE_LOG") {
        None => "info".to_string(),
        Some((v, named)) => match check_filter(&tidy(&v)) {
            Ok(()) => tidy(&v),
            Err(why) => {
                errors.push(format!("{named} is invalid: {why}"));
                String::new()
            }
        },
    };
    let json = match get("FEEDGATE_LOG_FORMAT") {
        None => false,
        Some((v, named)) => match v.trim().to_ascii_lowercase().as_str() {
            "text" => false,
            "json" => true,
            _ => {
                errors.push(format!("{named} is invalid: text or json"));
                false
            }
        },
    };
    if errors.is_empty() {
        Ok(Settings { filter, json })
    } else {
        Err(errors)
    }
}

/// The directives without the spaces people put after commas.
fn tidy(v: &str) -> String {
    v.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

/// A filter must parse, and a bare word must be a level: `EnvFilter` reads any other bare word
/// as a target name, so `inf` or `warning` would silently turn off every other log line.
fn check_filter(v: &str) -> Result<(), String> {
    for d in v.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let bare = !d.contains(['=', '[', '{']);
        if bare && d.parse::<LevelFilter>().is_err() {
            return Err(format!(
                "`{d}` is not a level (error, warn, info, debug, trace or off); to filter by target write `{d}=LEVEL`"
            ));
        }
    }
    EnvFilter::builder().parse(v).map(drop).map_err(|e| {
        format!("{e}; expected a level or directives such as `info,feedgate_gateway=debug`")
    })
}

pub fn init(settings: &Settings) {
    let mut filter = EnvFilter::builder().parse_lossy(&settings.filter);
    // Targets that would print an access token (even at `FEEDGATE_LOG=trace`) stay silent.
    for d in feedgate_gateway::model::secret::SECRET_LOG_DIRECTIVES {
        if let Ok(d) = d.parse() {
            filter = filter.add_directive(d);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    if settings.json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn file(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn valid_settings_and_defaults() {
        let ok = |pairs: &[(&str, &str)]| settings(env(pairs), None).unwrap();
        assert_eq!(
            ok(&[]),
            Settings {
                filter: "info".into(),
                json: false
            }
        );
        for f in [
            "debug",
            "WARN",
            "info,feedgate_gateway=debug",
            "feedgate_gateway::auth=trace",
            "off",
            " info , tower_http=warn ",
        ] {
            assert!(settings(env(&[("FEEDGATE_LOG", f)]), None).is_ok(), "{f}");
        }
        assert!(ok(&[("FEEDGATE_LOG_FORMAT", "JSON")]).json);
        assert!(!ok(&[("FEEDGATE_LOG_FORMAT", "text")]).json);
        assert_eq!(
            ok(&[("FEEDGATE_LOG", "")]).filter,
            "info",
            "empty means unset"
        );
    }

    #[test]
    fn invalid_values_are_rejected_with_their_name() {
        let cases = [
            ("FEEDGATE_LOG", "inf", "`inf` is not a level"),
            ("FEEDGATE_LOG", "info,warning", "`warning` is not a level"),
            (
                "FEEDGATE_LOG",
                "feedgate=loud",
                "FEEDGATE_LOG=\"feedgate=loud\" is invalid",
            ),
            (
                "FEEDGATE_LOG_FORMAT",
                "jsonl",
                "FEEDGATE_LOG_FORMAT=\"jsonl\" is invalid: text or json",
            ),
        ];
        for (key, value, want) in cases {
            let err = settings(env(&[(key, value)]), None).unwrap_err();
            assert_eq!(err.len(), 1, "{err:?}");
            assert!(err[0].contains(want), "{value}: {}", err[0]);
            assert!(err[0].starts_with(&format!("{key}=")), "{}", err[0]);
        }
        let both = settings(
            env(&[("FEEDGATE_LOG", "inf"), ("FEEDGATE_LOG_FORMAT", "xml")]),
            None,
        )
        .unwrap_err();
        assert_eq!(both.len(), 2, "every problem at once: {both:?}");
    }

    #[test]
    fn the_config_file_counts_and_the_environment_wins() {
        let path = Path::new("/etc/feedgate.toml");
        let vars = file(&[("FEEDGATE_LOG", "debug"), ("FEEDGATE_LOG_FORMAT", "json")]);
        let s = settings(env(&[]), Some((path, &vars))).unwrap();
        assert_eq!((s.filter.as_str(), s.json), ("debug", true));
        let s = settings(
            env(&[("FEEDGATE_LOG", "warn"), ("FEEDGATE_LOG_FORMAT", "text")]),
            Some((path, &vars)),
        )
        .unwrap();
        assert_eq!((s.filter.as_str(), s.json), ("warn", false));
        // A bad value in the file is named as the file's key, with the file.
        let bad = file(&[("FEEDGATE_LOG", "verbose")]);
        let err = settings(env(&[]), Some((path, &bad))).unwrap_err();
        assert!(
            err[0].starts_with("feedgate_log=\"verbose\" (in /etc/feedgate.toml) is invalid"),
            "{err:?}"
        );
        // ... but a valid environment value overrides it.
        assert!(settings(env(&[("FEEDGATE_LOG", "info")]), Some((path, &bad))).is_ok());
    }
}
