//! A client's `/ws/market` text frame: the request parser never panics, every refusal says
//! why, an accepted subscribe names symbols. The check itself is
//! `feedgate_gateway::json::fuzz::check_client_request`, which `cargo test` also runs on
//! stable with proptest inputs.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    feedgate_gateway::json::fuzz::check_client_request(text);
});
