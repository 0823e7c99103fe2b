//! `Request::parse` and `TextMessage::parse` on arbitrary UTF-8: never panic, and whatever
//! parses survives `to_json` → `parse` unchanged.

#![no_main]

use feedgate_kite::{Request, TextMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(request) = Request::parse(text) {
        assert_eq!(Request::parse(&request.to_json()).ok(), Some(request));
    }
    if let Ok(message) = TextMessage::parse(text) {
        assert_eq!(TextMessage::parse(&message.to_json()).ok(), Some(message));
    }
});
