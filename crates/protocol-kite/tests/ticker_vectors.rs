//! The verified vectors of kite.md §7: frames A, B and C decode to what the official parser
//! produced and re-encode to the exact bytes; plus the §7.4 edge cases.

// Test helpers outside #[test] functions may unwrap too: a panic is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Style, assert_json_eq, tick_json, unhex};
use feedgate_kite::{Message, Packet, Segment, encode_frame, parse_message};
use serde_json::Value;

const FRAME_A: &str = "
0005000800063a01000266ba002c000d80010000753f000000190000752300bc
614e0003d0900004baf0000074cc000075f80000749a0000746800b800343802
00181bf90000003200181802000f12020001e2080001818c0017f8b800182b80
0017f0e80017f4d060e2947d0012d6440013d62000124f8060e2947f00000064
00181be0000100000000006500181bdb000200000000006600181bd600030000
0000006700181bd1000400000000006800181bcc00050000000000c800181bfe
000a0000000000c900181c03000b0000000000ca00181c08000c0000000000cb
00181c0d000d0000000000cc00181c12000e0000001c0003e90900181c170018
42f00017f4d00018085800180c40ffffffdc002000000109005061b200509100
00501bd0005042e000502f580000325a60e2947f";

/// The official parser's output for frame A (kite.md §7.1), one dict per line.
const FRAME_A_PYTHON: &str = r#"
{"tradable": true, "mode": "ltp", "instrument_token": 408065, "last_price": 1573.7}
{"tradable": true, "mode": "quote", "instrument_token": 884737, "last_price": 300.15, "last_traded_quantity": 25, "average_traded_price": 299.87, "volume_traded": 12345678, "total_buy_quantity": 250000, "total_sell_quantity": 310000, "ohlc": {"open": 299.0, "high": 302.0, "low": 298.5, "close": 298.0}, "change": 0.7214765100671064}
{"tradable": true, "mode": "full", "instrument_token": 3422210, "last_price": 15800.25, "last_traded_quantity": 50, "average_traded_price": 15790.1, "volume_traded": 987650, "total_buy_quantity": 123400, "total_sell_quantity": 98700, "ohlc": {"open": 15710.0, "high": 15840.0, "low": 15690.0, "close": 15700.0}, "change": 0.6385350318471338, "last_trade_time": "2021-07-05 10:41:25", "oi": 1234500, "oi_day_high": 1300000, "oi_day_low": 1200000, "exchange_timestamp": "2021-07-05 10:41:27", "depth": {"buy": [{"quantity": 100, "price": 15800.0, "orders": 1}, {"quantity": 101, "price": 15799.95, "orders": 2}, {"quantity": 102, "price": 15799.9, "orders": 3}, {"quantity": 103, "price": 15799.85, "orders": 4}, {"quantity": 104, "price": 15799.8, "orders": 5}], "sell": [{"quantity": 200, "price": 15800.3, "orders": 10}, {"quantity": 201, "price": 15800.35, "orders": 11}, {"quantity": 202, "price": 15800.4, "orders": 12}, {"quantity": 203, "price": 15800.45, "orders": 13}, {"quantity": 204, "price": 15800.5, "orders": 14}]}}
{"tradable": false, "mode": "quote", "instrument_token": 256265, "last_price": 15800.55, "ohlc": {"high": 15900.0, "low": 15700.0, "open": 15750.0, "close": 15760.0}, "change": 0.2572969543147162}
{"tradable": false, "mode": "full", "instrument_token": 265, "last_price": 52678.9, "ohlc": {"high": 52800.0, "low": 52500.0, "open": 52600.0, "close": 52550.0}, "change": 0.24529019980970782, "exchange_timestamp": "2021-07-05 10:41:27"}
"#;

const FRAME_B: &str = "
000a00080003e80100bc614e00080003e80200bc614e00080003e80300bc614e
00080003e80400bc614e00080003e80500bc614e00080003e80600bc614e0008
0003e80700bc614e00080003e80800bc614e00080003e80900bc614e00080003
e80c00bc614e";

pub const FRAME_C: &str = "
000200b800063a01000266ba000000070002656d001232170003e9bb00058a01
000264f30002673c000261c90002646c60e2947f000000000000000000000000
60e2947f000000050002669c000100000000008c000266740002000000000002
0002666f00010000000000db0002666a00070000000000320002666500010000
000000ac000266ba000300000000002c000266bf000300000000012e000266c9
000300000000008d000266ce00020000000002d4000266d300050000002c0006
3a010002668300000001000265690011f1b20003e9ff00058037000264f30002
673c000261c90002646c";

fn decode(bytes: &[u8]) -> Vec<Packet> {
    match parse_message(bytes).unwrap() {
        Message::Packets(packets) => packets.collect::<Result<_, _>>().unwrap(),
        Message::Heartbeat => panic!("not a frame"),
    }
}

fn reencode(packets: &[Packet]) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    encode_frame(packets, &mut out);
    out.to_vec()
}

#[test]
fn frame_a_matches_the_official_parser_and_round_trips() {
    let bytes = unhex(FRAME_A);
    assert_eq!(bytes.len(), 308);
    let packets = decode(&bytes);
    let expected: Vec<Value> = FRAME_A_PYTHON
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(packets.len(), expected.len());
    for (i, (packet, expected)) in packets.iter().zip(expected).enumerate() {
        assert_json_eq(
            tick_json(packet, Style::Python),
            expected,
            &format!("packet {i}"),
        );
    }
    let Packet::IndexQuote(index) = packets[3] else {
        panic!("packet 3 is an index quote");
    };
    assert_eq!(index.change, -36, "signed index change");
    assert_eq!(reencode(&packets), bytes);
}

#[test]
fn frame_b_applies_the_divisor_per_segment() {
    let bytes = unhex(FRAME_B);
    let packets = decode(&bytes);
    // (segment id, divisor, decoded price, tradable)
    let table = [
        (1, 100, 123_456.78, true),
        (2, 100, 123_456.78, true),
        (3, 10_000_000, 1.234_567_8, true),
        (4, 100, 123_456.78, true),
        (5, 100, 123_456.78, true),
        (6, 10_000, 1_234.567_8, true),
        (7, 100, 123_456.78, true),
        (8, 100, 123_456.78, true),
        (9, 100, 123_456.78, false),
        (12, 10_000, 1_234.567_8, true),
    ];
    assert_eq!(packets.len(), table.len());
    for (packet, (segment, divisor, price, tradable)) in packets.iter().zip(table) {
        assert_eq!(packet.token(), (1000 << 8) | segment);
        assert_eq!(packet.last_price(), 12_345_678);
        let seg = Segment::of_token(packet.token());
        assert_eq!(seg.price_divisor(), divisor, "segment {segment}");
        let tick = tick_json(packet, Style::Python);
        assert_eq!(tick["last_price"], Value::from(price), "segment {segment}");
        assert_eq!(tick["tradable"], Value::from(tradable), "segment {segment}");
    }
    assert_eq!(reencode(&packets), bytes);
}

#[test]
fn frame_c_wraps_zerodhas_packets() {
    let bytes = unhex(FRAME_C);
    let packets = decode(&bytes);
    assert_eq!(packets.len(), 2);
    assert!(matches!(packets[0], Packet::Full(_)));
    assert!(matches!(packets[1], Packet::Quote(_)));
    assert_eq!(reencode(&packets), bytes);
}

#[test]
fn edge_cases_of_section_7_4() {
    assert!(matches!(parse_message(&[0]), Ok(Message::Heartbeat)));
    assert!(decode(&[0, 0]).is_empty());
    // an unknown 12-byte packet between two LTP packets is dropped
    let frame =
        unhex("0003 0008 00063a01000266ba 000c 000000000000000000000000 0008 00063a01000266ba");
    let Message::Packets(mut it) = parse_message(&frame).unwrap() else {
        panic!("frame expected");
    };
    assert_eq!(it.by_ref().filter(Result::is_ok).count(), 2);
    assert_eq!(it.skipped(), 1);
    // exchange_timestamp 0 is the epoch, rendered 05:30 in IST
    let index_full =
        unhex("0001 0020 00000109005061b20050910000501bd0005042e000502f580000325a 00000000");
    let tick = tick_json(&decode(&index_full)[0], Style::Python);
    assert_eq!(tick["exchange_timestamp"], "1970-01-01 05:30:00");
}
