//! Zerodha's own binary packets (`kiteconnect-mocks`) decode to their published JSON, field for
//! field (with the old field names and absolute `change` those files use, kite.md §6).

// Test helpers outside #[test] functions may unwrap too: a panic is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{Style, assert_json_eq, fixture, fixture_json, tick_json};
use feedgate_kite::{Message, Packet, decode_packet, encode_frame, encode_packet, parse_message};

fn packet_bytes(name: &str) -> Vec<u8> {
    STANDARD.decode(fixture(name).trim()).unwrap()
}

#[test]
fn official_packets_match_their_json() {
    let cases = [
        ("ticker_full.packet", "ticker_full.json", Packet::FULL_LEN),
        (
            "ticker_quote.packet",
            "ticker_quote.json",
            Packet::QUOTE_LEN,
        ),
    ];
    for (packet_file, json_file, len) in cases {
        let bytes = packet_bytes(packet_file);
        assert_eq!(bytes.len(), len, "{packet_file}");
        let packet = decode_packet(&bytes).unwrap();
        let mut expected = fixture_json(json_file);
        if json_file == "ticker_quote.json" {
            // `change` is not on the wire for tradable packets: clients compute it from last
            // price and close. The quote mock's value (5.9) is the full mock's (1573.7 − 1567.8)
            // copied over, not 1573.15 − 1567.8; check that and compare the computed value.
            assert_eq!(
                expected["change"],
                fixture_json("ticker_full.json")["change"]
            );
            expected["change"] = serde_json::Value::from(1573.15 - 1567.8);
        }
        assert_json_eq(tick_json(&packet, Style::Mocks), expected, json_file);
        let mut out = bytes::BytesMut::new();
        encode_packet(&packet, &mut out);
        assert_eq!(out.to_vec(), bytes, "{packet_file} re-encodes exactly");
    }
}

#[test]
fn ltp_mock_matches_an_ltp_packet() {
    // No binary LTP mock exists; the JSON's token and price must survive an encode/decode.
    let json = fixture_json("ticker_ltp.json");
    let packet = Packet::Ltp(feedgate_kite::LtpPacket {
        token: 408_065,
        last_price: 157_315,
    });
    let mut frame = bytes::BytesMut::new();
    encode_frame(&[packet], &mut frame);
    let Message::Packets(mut it) = parse_message(&frame).unwrap() else {
        panic!("frame expected");
    };
    let decoded = it.next().unwrap().unwrap();
    assert_json_eq(tick_json(&decoded, Style::Mocks), json, "ticker_ltp.json");
}
