//! Property tests: encode → decode is the identity for arbitrary packets and frames, and
//! decoding arbitrary bytes never panics and accounts for every byte.

use bytes::BytesMut;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

use crate::ticker::codec::FrameCodec;
use crate::ticker::decode::{Message, decode_packet, parse_message};
use crate::ticker::encode::{encode_frame, encode_packet, frame_len};
use crate::ticker::packet::{
    Depth, DepthLevel, FullPacket, IndexFullPacket, IndexQuotePacket, LtpPacket, Ohlc, Packet,
    QuotePacket,
};

fn ohlc() -> impl Strategy<Value = Ohlc> {
    (any::<i32>(), any::<i32>(), any::<i32>(), any::<i32>()).prop_map(|(open, high, low, close)| {
        Ohlc {
            open,
            high,
            low,
            close,
        }
    })
}

fn level() -> impl Strategy<Value = DepthLevel> {
    (any::<u32>(), any::<i32>(), any::<u16>()).prop_map(|(quantity, price, orders)| DepthLevel {
        quantity,
        price,
        orders,
    })
}

fn quote() -> impl Strategy<Value = QuotePacket> {
    (any::<[u32; 5]>(), any::<[i32; 2]>(), ohlc()).prop_map(|(q, [last, avg], ohlc)| {
        let [token, ltq, volume, buy, sell] = q;
        QuotePacket {
            token,
            last_price: last,
            last_traded_quantity: ltq,
            average_traded_price: avg,
            volume_traded: volume,
            total_buy_quantity: buy,
            total_sell_quantity: sell,
            ohlc,
        }
    })
}

fn index_quote() -> impl Strategy<Value = IndexQuotePacket> {
    (any::<u32>(), any::<i32>(), ohlc(), any::<i32>()).prop_map(
        |(token, last_price, ohlc, change)| IndexQuotePacket {
            token,
            last_price,
            ohlc,
            change,
        },
    )
}

pub(crate) fn packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        (any::<u32>(), any::<i32>())
            .prop_map(|(token, last_price)| Packet::Ltp(LtpPacket { token, last_price })),
        index_quote().prop_map(Packet::IndexQuote),
        (index_quote(), any::<u32>()).prop_map(|(quote, exchange_timestamp)| {
            Packet::IndexFull(IndexFullPacket {
                quote,
                exchange_timestamp,
            })
        }),
        quote().prop_map(Packet::Quote),
        (
            quote(),
            any::<[u32; 5]>(),
            prop::array::uniform5(level()),
            prop::array::uniform5(level())
        )
            .prop_map(|(quote, t, buy, sell)| {
                let [
                    last_trade_time,
                    oi,
                    oi_day_high,
                    oi_day_low,
                    exchange_timestamp,
                ] = t;
                Packet::Full(FullPacket {
                    quote,
                    last_trade_time,
                    oi,
                    oi_day_high,
                    oi_day_low,
                    exchange_timestamp,
                    depth: Depth { buy, sell },
                })
            }),
    ]
}

proptest! {
    #[test]
    fn packet_round_trips(packet in packet()) {
        let mut out = BytesMut::new();
        encode_packet(&packet, &mut out);
        prop_assert_eq!(out.len(), packet.wire_len());
        prop_assert_eq!(decode_packet(&out), Some(packet));
    }

    #[test]
    fn frame_round_trips(packets in prop::collection::vec(packet(), 0..40)) {
        let mut out = BytesMut::new();
        encode_frame(&packets, &mut out);
        prop_assert_eq!(out.len(), frame_len(&packets));
        let Ok(Message::Packets(it)) = parse_message(&out) else {
            return Err(TestCaseError::fail("a frame is never a heartbeat"));
        };
        let decoded: Result<Vec<_>, _> = it.collect();
        prop_assert_eq!(decoded, Ok(packets));
    }

    #[test]
    fn stream_round_trips_in_any_chunking(
        frames in prop::collection::vec(prop::collection::vec(packet(), 0..6), 0..6),
        chunk in 1usize..64,
    ) {
        let mut codec = FrameCodec::new();
        let mut wire = BytesMut::new();
        for frame in &frames {
            codec.encode(frame.as_slice(), &mut wire).unwrap();
        }
        let mut buffer = BytesMut::new();
        let mut decoded = Vec::new();
        for piece in wire.chunks(chunk) {
            buffer.extend_from_slice(piece);
            while let Some(frame) = codec.decode(&mut buffer).unwrap() {
                decoded.push(frame.packets);
            }
        }
        prop_assert!(codec.decode_eof(&mut buffer).unwrap().is_none());
        prop_assert_eq!(decoded, frames);
    }

    #[test]
    fn arbitrary_messages_never_panic(msg in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(Message::Packets(mut it)) = parse_message(&msg) {
            let mut items = 0usize;
            let upper = it.size_hint().1.unwrap_or(usize::MAX);
            for _ in it.by_ref() {
                items += 1;
            }
            prop_assert!(items <= upper);
            prop_assert!(items + usize::from(it.skipped()) <= usize::from(it.announced()) + 1);
        }
    }

    #[test]
    fn arbitrary_streams_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        chunk in 1usize..50,
        max in 2usize..4096,
    ) {
        let mut codec = FrameCodec::with_max_frame_len(max);
        let mut buffer = BytesMut::new();
        let mut fed = 0;
        'feed: for piece in bytes.chunks(chunk) {
            buffer.extend_from_slice(piece);
            fed += piece.len();
            loop {
                match codec.decode(&mut buffer) {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
            // only a reservation driven by a length claim could exceed this
            prop_assert!(buffer.capacity() <= 2 * (max + fed) + 64);
        }
    }
}
