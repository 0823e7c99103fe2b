//! The body of the `client_request` fuzz target (`fuzz/fuzz_targets/client_request.rs`), kept
//! here so a plain `cargo test` runs it too: cargo-fuzz needs a nightly toolchain, which CI
//! and most machines do not have, while this function, driven by proptest below, runs on
//! stable in every test run. With nightly, `cargo +nightly fuzz run client_request` drives the
//! same checks with coverage guidance.

use super::request::{Request, parse};

/// What must hold for any text a client sends: the parser never panics, a refusal always says
/// what was wrong, and an accepted subscribe or unsubscribe names at least one symbol.
pub fn check_client_request(text: &str) {
    match parse(text) {
        Ok(Request::Subscribe { symbols, .. } | Request::Unsubscribe { symbols, .. }) => {
            assert!(!symbols.is_empty(), "accepted without symbols: {text:?}");
        }
        Ok(Request::Resume { seq, .. }) => {
            assert!(!seq.is_empty(), "a resume without symbols: {text:?}");
        }
        Ok(Request::Options { .. } | Request::Ping { .. }) => {}
        Err(e) => assert!(
            !e.message.is_empty(),
            "a refusal without a reason: {text:?}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// JSON-shaped requests: the actions, keys and values the parser looks at, mixed.
    fn request_like() -> impl Strategy<Value = String> {
        let value = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| format!("{f:?}")),
            "[a-zA-Z: 0-9-]{0,12}".prop_map(|s| format!("{s:?}")),
            prop::collection::vec("[A-Z]{1,4}:[A-Z0-9 -]{0,10}", 0..4)
                .prop_map(|v| format!("{v:?}")),
            Just("[1, null, {}]".to_string()),
        ];
        let key = prop_oneof![
            Just("action"),
            Just("symbols"),
            Just("mode"),
            Just("candles"),
            Just("throttle_ms"),
            Just("id"),
            Just("other"),
        ];
        let action = prop_oneof![
            Just("subscribe"),
            Just("unsubscribe"),
            Just("options"),
            Just("ping"),
            Just("auth"),
            Just(""),
        ];
        (action, prop::collection::vec((key, value), 0..6)).prop_map(|(action, fields)| {
            let mut s = format!("{{\"action\":{action:?}");
            for (k, v) in fields {
                s.push_str(&format!(",{k:?}:{v}"));
            }
            s.push('}');
            s
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn request_shaped_input(text in request_like()) {
            check_client_request(&text);
        }

        #[test]
        fn arbitrary_text(text in ".{0,300}") {
            check_client_request(&text);
        }

        #[test]
        fn truncated_requests(text in request_like(), cut in 0usize..200) {
            let cut = text.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(text.len());
            check_client_request(&text[..cut]);
        }
    }
}
