//! Fuzzes the reading of a presented key (`Authorization: Bearer|token ID:SECRET`, the bare
//! `ID:SECRET` of the WebSocket's first message): any input is read or refused, never a panic,
//! and what is read has a non-empty id without a colon and a non-empty secret.
#![no_main]

use feedgate_gateway::access::Presented;
use libfuzzer_sys::fuzz_target;
use secrecy::ExposeSecret;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for p in [Presented::from_authorization(text), Presented::parse_pair(text)]
        .into_iter()
        .flatten()
    {
        assert!(!p.id.is_empty() && !p.id.contains(':'));
        assert!(!p.secret.expose_secret().is_empty());
    }
});
