//! The benchmark frames, defined once: the criterion decode bench (`decode.rs`) and the load
//! harness's side-by-side comparison with the official Python client (`feedgate-bench decode`,
//! which includes this file by path) decode exactly these bytes.

use bytes::BytesMut;
use feedgate_kite::{
    Depth, DepthLevel, FullPacket, IndexFullPacket, IndexQuotePacket, LtpPacket, Ohlc, Packet,
    QuotePacket, encode_frame,
};

/// Packet kinds benchmarked; `mixed` is what a real connection sends (mostly quotes, some full
/// and ltp, a few indices).
pub const KINDS: [&str; 5] = ["full", "quote", "ltp", "index", "mixed"];
/// Packets per frame.
pub const COUNTS: [u32; 3] = [1, 10, 100];

/// One binary message of `count` packets of `kind`.
pub fn frame(kind_name: &str, count: u32) -> BytesMut {
    let packets: Vec<Packet> = (0..count).map(|i| kind(kind_name, i)).collect();
    let mut frame = BytesMut::new();
    encode_frame(&packets, &mut frame);
    frame
}

fn quote(token: u32) -> QuotePacket {
    QuotePacket {
        token,
        last_price: 157_370 + token as i32 % 100,
        last_traded_quantity: 7,
        average_traded_price: 157_037,
        volume_traded: 1_192_471,
        total_buy_quantity: 256_443,
        total_sell_quantity: 363_009,
        ohlc: Ohlc {
            open: 156_915,
            high: 157_500,
            low: 156_105,
            close: 156_780,
        },
    }
}

fn index(token: u32) -> IndexQuotePacket {
    IndexQuotePacket {
        token: (token << 8) | 9,
        last_price: 1_580_055,
        ohlc: Ohlc {
            open: 1_575_000,
            high: 1_590_000,
            low: 1_570_000,
            close: 1_576_000,
        },
        change: 4_055,
    }
}

fn full(token: u32) -> Packet {
    let level = |i: u32| DepthLevel {
        quantity: 100 + i,
        price: 157_340 - i as i32 * 5,
        orders: 1 + i as u16,
    };
    Packet::Full(FullPacket {
        quote: quote(token),
        last_trade_time: 1_625_461_887,
        oi: 0,
        oi_day_high: 0,
        oi_day_low: 0,
        exchange_timestamp: 1_625_461_887,
        depth: Depth {
            buy: std::array::from_fn(|i| level(i as u32)),
            sell: std::array::from_fn(|i| level(10 + i as u32)),
        },
    })
}

fn kind(name: &str, i: u32) -> Packet {
    let token = (1000 + i) << 8 | 1;
    match name {
        "full" => full(token),
        "quote" => Packet::Quote(quote(token)),
        "ltp" => Packet::Ltp(LtpPacket {
            token,
            last_price: 157_370,
        }),
        "index" => Packet::IndexFull(IndexFullPacket {
            quote: index(1000 + i),
            exchange_timestamp: 1_625_461_887,
        }),
        // what a real connection sends: mostly quotes, some full and ltp, a few indices
        _ => match i % 10 {
            0 | 1 => full(token),
            2 => Packet::Ltp(LtpPacket {
                token,
                last_price: 157_370,
            }),
            3 => Packet::IndexQuote(index(1000 + i)),
            _ => Packet::Quote(quote(token)),
        },
    }
}
