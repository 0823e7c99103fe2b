//! Table tests of the message decoder: every packet kind, heartbeats, skipping, truncation and
//! trailing bytes.

use super::*;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

/// Builds a frame from raw packet bodies, so tests can use lengths the encoder never writes.
fn frame(count: u16, bodies: &[&[u8]]) -> Vec<u8> {
    let mut out = count.to_be_bytes().to_vec();
    for body in bodies {
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
    }
    out
}

fn packets(msg: &[u8]) -> Packets<'_> {
    match parse_message(msg).unwrap() {
        Message::Packets(packets) => packets,
        Message::Heartbeat => panic!("expected a frame"),
    }
}

const LTP: &str = "00063a01000266ba";
const QUOTE: &str =
    "000d80010000753f000000190000752300bc614e0003d0900004baf0000074cc000075f80000749a00007468";
const INDEX_QUOTE: &str = "0003e90900181c17001842f00017f4d00018085800180c40ffffffdc";
const INDEX_FULL: &str = "00000109005061b20050910000501bd0005042e000502f580000325a60e2947f";

#[test]
fn short_messages_are_heartbeats() {
    for msg in [&[][..], &[0][..], &[0xff][..]] {
        assert!(
            matches!(parse_message(msg), Ok(Message::Heartbeat)),
            "{msg:?}"
        );
    }
}

#[test]
fn zero_packet_frame_is_empty() {
    let mut it = packets(&[0, 0]);
    assert_eq!(it.announced(), 0);
    assert!(it.next().is_none());
    assert!(it.next().is_none());
}

#[test]
fn each_packet_kind_decodes_by_length() {
    let full_prefix =
        "0034380200181bf90000003200181802000f12020001e2080001818c0017f8b800182b800017f0e80017f4d0";
    let full_tail = "60e2947d0012d6440013d62000124f8060e2947f";
    let mut depth = String::new();
    for i in 0..5u32 {
        depth += &format!("{:08x}{:08x}{:04x}0000", 100 + i, 1_580_000 - 5 * i, 1 + i);
    }
    for i in 0..5u32 {
        depth += &format!("{:08x}{:08x}{:04x}0000", 200 + i, 1_580_030 + 5 * i, 10 + i);
    }
    let full_hex = format!("{full_prefix}{full_tail}{depth}");
    let quote = QuotePacket {
        token: 884_737,
        last_price: 30_015,
        last_traded_quantity: 25,
        average_traded_price: 29_987,
        volume_traded: 12_345_678,
        total_buy_quantity: 250_000,
        total_sell_quantity: 310_000,
        ohlc: Ohlc {
            open: 29_900,
            high: 30_200,
            low: 29_850,
            close: 29_800,
        },
    };
    let index_quote = IndexQuotePacket {
        token: 256_265,
        last_price: 1_580_055,
        ohlc: Ohlc {
            high: 1_590_000,
            low: 1_570_000,
            open: 1_575_000,
            close: 1_576_000,
        },
        change: -36,
    };
    let full = FullPacket {
        quote: QuotePacket {
            token: 3_422_210,
            last_price: 1_580_025,
            last_traded_quantity: 50,
            average_traded_price: 1_579_010,
            volume_traded: 987_650,
            total_buy_quantity: 123_400,
            total_sell_quantity: 98_700,
            ohlc: Ohlc {
                open: 1_571_000,
                high: 1_584_000,
                low: 1_569_000,
                close: 1_570_000,
            },
        },
        last_trade_time: 1_625_461_885,
        oi: 1_234_500,
        oi_day_high: 1_300_000,
        oi_day_low: 1_200_000,
        exchange_timestamp: 1_625_461_887,
        depth: Depth {
            buy: std::array::from_fn(|i| DepthLevel {
                quantity: 100 + i as u32,
                price: 1_580_000 - 5 * i as i32,
                orders: 1 + i as u16,
            }),
            sell: std::array::from_fn(|i| DepthLevel {
                quantity: 200 + i as u32,
                price: 1_580_030 + 5 * i as i32,
                orders: 10 + i as u16,
            }),
        },
    };
    let cases = [
        (
            LTP.to_owned(),
            Packet::Ltp(LtpPacket {
                token: 408_065,
                last_price: 157_370,
            }),
        ),
        (QUOTE.to_owned(), Packet::Quote(quote)),
        (full_hex, Packet::Full(full)),
        (INDEX_QUOTE.to_owned(), Packet::IndexQuote(index_quote)),
        (
            INDEX_FULL.to_owned(),
            Packet::IndexFull(IndexFullPacket {
                quote: IndexQuotePacket {
                    token: 265,
                    last_price: 5_267_890,
                    ohlc: Ohlc {
                        high: 5_280_000,
                        low: 5_250_000,
                        open: 5_260_000,
                        close: 5_255_000,
                    },
                    change: 12_890,
                },
                exchange_timestamp: 1_625_461_887,
            }),
        ),
    ];
    for (hex_body, expected) in cases {
        let body = unhex(&hex_body);
        assert_eq!(body.len(), expected.wire_len());
        assert_eq!(decode_packet(&body), Some(expected));
        let msg = frame(1, &[&body]);
        let decoded: Vec<_> = packets(&msg).collect();
        assert_eq!(decoded, [Ok(expected)]);
    }
}

#[test]
fn prices_are_signed_and_quantities_unsigned() {
    let body = unhex("00000001 ffffff6a");
    assert_eq!(
        decode_packet(&body),
        Some(Packet::Ltp(LtpPacket {
            token: 1,
            last_price: -150
        }))
    );
    let mut quote = unhex(QUOTE);
    quote[8..12].copy_from_slice(&[0xff; 4]);
    let Some(Packet::Quote(q)) = decode_packet(&quote) else {
        panic!("quote expected");
    };
    assert_eq!(q.last_traded_quantity, u32::MAX);
}

#[test]
fn unknown_lengths_are_skipped_and_counted() {
    let ltp = unhex(LTP);
    let cases: [(&[&[u8]], usize, u16); 4] = [
        (&[&ltp, &[7; 12], &ltp], 2, 1),
        (&[&[], &ltp], 1, 1),
        (&[&[1; 183], &[2; 185], &[3; 9]], 0, 3),
        (&[&[0; 1000]], 0, 1),
    ];
    for (bodies, decoded, skipped) in cases {
        let msg = frame(bodies.len() as u16, bodies);
        let mut it = packets(&msg);
        let got: Vec<_> = it.by_ref().collect::<Result<_, _>>().unwrap();
        assert_eq!(got.len(), decoded);
        assert_eq!(it.skipped(), skipped);
    }
}

#[test]
fn truncation_reports_once_after_the_good_packets() {
    let ltp = unhex(LTP);
    let whole = frame(2, &[&ltp, &ltp]);
    // (message, good packets before the error, expected error)
    let cases = [
        // count says 2, one packet present
        (
            frame(2, &[&ltp]),
            1,
            CodecError::Truncated {
                index: 1,
                needed: 2,
                available: 0,
            },
        ),
        // one byte of the second length prefix
        (
            whole[..13].to_vec(),
            1,
            CodecError::Truncated {
                index: 1,
                needed: 2,
                available: 1,
            },
        ),
        // second body cut short
        (
            whole[..whole.len() - 1].to_vec(),
            1,
            CodecError::Truncated {
                index: 1,
                needed: 10,
                available: 9,
            },
        ),
        // first packet cut short
        (
            whole[..5].to_vec(),
            0,
            CodecError::Truncated {
                index: 0,
                needed: 10,
                available: 3,
            },
        ),
        // unknown-length packet claiming more than the message holds
        (
            vec![0, 1, 0xff, 0xff, 1, 2, 3],
            0,
            CodecError::Truncated {
                index: 0,
                needed: 65_537,
                available: 5,
            },
        ),
    ];
    for (msg, good, error) in cases {
        let mut it = packets(&msg);
        for _ in 0..good {
            assert!(matches!(it.next(), Some(Ok(_))), "{msg:?}");
        }
        assert_eq!(it.next(), Some(Err(error)), "{msg:?}");
        assert_eq!(it.next(), None, "iteration ends after an error");
    }
}

#[test]
fn trailing_bytes_are_reported_after_the_packets() {
    let ltp = unhex(LTP);
    let cases = [
        (frame(1, &[&ltp, &ltp]), 1, 10),
        ([0, 0, 9].to_vec(), 0, 1),
        ([frame(1, &[&ltp]), vec![0]].concat(), 1, 1),
    ];
    for (msg, good, len) in cases {
        let mut it = packets(&msg);
        for _ in 0..good {
            assert!(matches!(it.next(), Some(Ok(_))));
        }
        assert_eq!(it.next(), Some(Err(CodecError::TrailingBytes { len })));
        assert_eq!(it.next(), None);
    }
}

#[test]
fn size_hint_bounds_the_items() {
    let ltp = unhex(LTP);
    let msg = [frame(3, &[&ltp, &[0; 3], &ltp]), vec![1]].concat();
    let it = packets(&msg);
    let (_, upper) = it.size_hint();
    let items = it.count();
    assert_eq!(items, 3, "two packets and the trailing error");
    assert!(items <= upper.unwrap());
}

#[test]
fn decode_packet_rejects_unknown_lengths() {
    for len in [0, 7, 9, 27, 29, 31, 33, 43, 45, 183, 185] {
        assert_eq!(decode_packet(&vec![0; len]), None, "{len}");
    }
}
