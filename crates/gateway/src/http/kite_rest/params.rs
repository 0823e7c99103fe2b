//! The `i` parameters of Kite's quote endpoints (kite.md §8.4): repeated, percent- and
//! `+`-decoded, `EXCHANGE:TRADINGSYMBOL` or a numeric instrument token, at most Kite's cap per
//! endpoint. Pure.

use crate::http::kite_rest::envelope::KiteFail;
use crate::model::instruments::{Instrument, Registry};
use std::collections::HashSet;
use std::sync::Arc;

/// Longest `i` value read (symbols are at most 64 characters; a token is 10 digits).
const MAX_KEY_LEN: usize = 100;

/// The requested keys in order, duplicates dropped (the answer is a map keyed by them).
/// Refused with a 400 `InputException`: no `i`, more than `cap`, an empty or malformed one.
pub fn requested(query: Option<&str>, cap: usize) -> Result<Vec<String>, KiteFail> {
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    let mut count = 0usize;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if name != "i" {
            continue;
        }
        count += 1;
        if count > cap {
            continue;
        }
        if !well_formed(&value) {
            return Err(KiteFail::input(format!(
                "Invalid instrument `{}`: give i=EXCHANGE:TRADINGSYMBOL (e.g. i=NSE:INFY) or an instrument token.",
                printable(&value)
            )));
        }
        if seen.insert(value.to_string()) {
            keys.push(value.into_owned());
        }
    }
    if count > cap {
        return Err(KiteFail::input(format!(
            "Too many instruments requested ({count}). Max permitted is {cap}."
        )));
    }
    if keys.is_empty() {
        return Err(KiteFail::input(
            "No instruments given: add i=EXCHANGE:TRADINGSYMBOL (repeated, e.g. ?i=NSE:INFY&i=NSE:SBIN).",
        ));
    }
    Ok(keys)
}

fn well_formed(v: &str) -> bool {
    if v.is_empty() || v.len() > MAX_KEY_LEN || v.chars().any(char::is_control) {
        return false;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<u32>().is_ok();
    }
    matches!(v.split_once(':'), Some((e, s)) if !e.trim().is_empty() && !s.trim().is_empty())
}

/// The value as it may appear in a message: bounded, no control characters.
fn printable(v: &str) -> String {
    v.chars()
        .filter(|c| !c.is_control())
        .take(MAX_KEY_LEN)
        .collect()
}

/// The instrument a key names, if feedgate knows it (unknown ones are left out of the answer,
/// as Kite does).
pub fn resolve(registry: &Registry, key: &str) -> Option<Arc<Instrument>> {
    if key.bytes().all(|b| b.is_ascii_digit()) {
        return key.parse().ok().and_then(|t| registry.by_token(t)).cloned();
    }
    registry.resolve(key).ok().cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::instruments::InstrumentSpec;

    #[test]
    fn keys_are_decoded_in_order_without_duplicates() {
        let got = requested(
            Some("i=NSE%3AINFY&i=BSE%3ASENSEX&x=1&i=NSE%3ANIFTY+50&i=NSE:INFY&i=408065"),
            500,
        );
        assert_eq!(
            got.unwrap(),
            ["NSE:INFY", "BSE:SENSEX", "NSE:NIFTY 50", "408065"]
        );
    }

    #[test]
    fn bad_requests_are_input_exceptions() {
        let too_many: String = (0..501).map(|n| format!("i=NSE:S{n}&")).collect();
        for (query, cap, needle) in [
            (None, 500, "No instruments"),
            (Some("x=1"), 500, "No instruments"),
            (Some(too_many.as_str()), 500, "Max permitted is 500"),
            (Some("i="), 500, "Invalid instrument"),
            (Some("i=INFY"), 500, "Invalid instrument `INFY`"),
            (Some("i=NSE:"), 500, "Invalid instrument"),
            (Some("i=99999999999"), 500, "Invalid instrument"),
        ] {
            let e = requested(query, cap).unwrap_err();
            assert_eq!(e.error_type, feedgate_kite::ErrorType::InputException);
            assert!(e.message.contains(needle), "{query:?}: {}", e.message);
        }
        assert!(requested(Some(&too_many), 1000).is_ok());
    }

    #[test]
    fn keys_resolve_by_symbol_or_token() {
        let reg = Registry::new([InstrumentSpec::nse_equity(408_065, "INFY", "INFOSYS")]);
        assert_eq!(resolve(&reg, "NSE:INFY").map(|i| i.token), Some(408_065));
        assert_eq!(resolve(&reg, "408065").map(|i| i.token), Some(408_065));
        assert!(resolve(&reg, "NSE:NOPE").is_none());
        assert!(resolve(&reg, "1").is_none());
    }
}
