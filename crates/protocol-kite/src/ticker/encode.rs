//! Encoding of ticker packets and frames into Kite's binary wire format (kite.md §3): what the
//! simulator sends and what the round-trip tests check the decoder against. No I/O.

use bytes::{BufMut, Bytes, BytesMut};

use crate::ticker::packet::{
    Depth, DepthLevel, FullPacket, IndexQuotePacket, LtpPacket, Ohlc, Packet, QuotePacket,
};

/// The 1-byte binary message the server sends on an idle connection (kite.md §3.6). The byte's
/// value is undocumented and ignored by every client; `0x00` is what the research used.
pub const HEARTBEAT: [u8; 1] = [0];

/// The most packets one frame can announce (its count field is a u16).
pub const MAX_PACKETS_PER_FRAME: usize = u16::MAX as usize;

/// Size in bytes of a frame holding `packets`: count, then a length prefix and body per packet.
pub fn frame_len(packets: &[Packet]) -> usize {
    2 + packets.iter().map(|p| 2 + p.wire_len()).sum::<usize>()
}

/// Appends one packet's body (exactly [`Packet::wire_len`] bytes, without the length prefix).
pub fn encode_packet(packet: &Packet, out: &mut BytesMut) {
    out.reserve(packet.wire_len());
    match packet {
        Packet::Ltp(p) => put_ltp(p, out),
        Packet::IndexQuote(p) => put_index_quote(p, out),
        Packet::IndexFull(p) => {
            put_index_quote(&p.quote, out);
            out.put_u32(p.exchange_timestamp);
        }
        Packet::Quote(p) => put_quote(p, out),
        Packet::Full(p) => put_full(p, out),
    }
}

/// Appends one complete frame (one WebSocket binary message): a u16 packet count, then
/// `(u16 length, packet)` for each packet.
///
/// The count field holds at most [`MAX_PACKETS_PER_FRAME`] packets; callers with more use
/// [`encode_frames`]. Passing more is a programming error: debug builds panic, release builds
/// encode only the first 65535 packets (so the frame stays well-formed) and log an error.
pub fn encode_frame(packets: &[Packet], out: &mut BytesMut) {
    debug_assert!(
        packets.len() <= MAX_PACKETS_PER_FRAME,
        "encode_frame called with {} packets",
        packets.len()
    );
    let packets = match packets.get(..MAX_PACKETS_PER_FRAME) {
        Some(head) if head.len() < packets.len() => {
            tracing::error!(
                count = packets.len(),
                encoded = head.len(),
                "frame over the packet limit truncated"
            );
            head
        }
        _ => packets,
    };
    out.reserve(frame_len(packets));
    // The slice was capped just above, so the count always fits in a u16.
    out.put_u16(u16::try_from(packets.len()).unwrap_or(u16::MAX));
    for packet in packets {
        // Packet lengths are 8..=184, far below u16::MAX.
        out.put_u16(packet.wire_len() as u16);
        encode_packet(packet, out);
    }
}

/// Encodes `packets` as consecutive frames of at most `max_per_frame` packets each (clamped to
/// `1..=65535`); each returned buffer is one WebSocket binary message. No packets, no frames.
pub fn encode_frames(packets: &[Packet], max_per_frame: usize) -> Vec<Bytes> {
    let per_frame = max_per_frame.clamp(1, MAX_PACKETS_PER_FRAME);
    packets
        .chunks(per_frame)
        .map(|chunk| {
            let mut out = BytesMut::with_capacity(frame_len(chunk));
            encode_frame(chunk, &mut out);
            out.freeze()
        })
        .collect()
}

fn put_ltp(p: &LtpPacket, out: &mut BytesMut) {
    out.put_u32(p.token);
    out.put_i32(p.last_price);
}

/// Index packets order the prices high, low, open, close (kite.md §3.3).
fn put_index_quote(p: &IndexQuotePacket, out: &mut BytesMut) {
    out.put_u32(p.token);
    out.put_i32(p.last_price);
    out.put_i32(p.ohlc.high);
    out.put_i32(p.ohlc.low);
    out.put_i32(p.ohlc.open);
    out.put_i32(p.ohlc.close);
    out.put_i32(p.change);
}

/// Tradable packets order the prices open, high, low, close (kite.md §3.2).
fn put_quote(p: &QuotePacket, out: &mut BytesMut) {
    out.put_u32(p.token);
    out.put_i32(p.last_price);
    out.put_u32(p.last_traded_quantity);
    out.put_i32(p.average_traded_price);
    out.put_u32(p.volume_traded);
    out.put_u32(p.total_buy_quantity);
    out.put_u32(p.total_sell_quantity);
    put_ohlc(&p.ohlc, out);
}

fn put_ohlc(ohlc: &Ohlc, out: &mut BytesMut) {
    out.put_i32(ohlc.open);
    out.put_i32(ohlc.high);
    out.put_i32(ohlc.low);
    out.put_i32(ohlc.close);
}

fn put_full(p: &FullPacket, out: &mut BytesMut) {
    put_quote(&p.quote, out);
    out.put_u32(p.last_trade_time);
    out.put_u32(p.oi);
    out.put_u32(p.oi_day_high);
    out.put_u32(p.oi_day_low);
    out.put_u32(p.exchange_timestamp);
    put_depth(&p.depth, out);
}

fn put_depth(depth: &Depth, out: &mut BytesMut) {
    for level in depth.buy.iter().chain(depth.sell.iter()) {
        put_level(level, out);
    }
}

/// 12 bytes: quantity, price, orders, then two zero padding bytes.
fn put_level(level: &DepthLevel, out: &mut BytesMut) {
    out.put_u32(level.quantity);
    out.put_i32(level.price);
    out.put_u16(level.orders);
    out.put_u16(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticker::packet::IndexFullPacket;

    fn quote() -> QuotePacket {
        QuotePacket {
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
        }
    }

    fn index_quote() -> IndexQuotePacket {
        IndexQuotePacket {
            token: 256_265,
            last_price: 1_580_055,
            ohlc: Ohlc {
                open: 1_575_000,
                high: 1_590_000,
                low: 1_570_000,
                close: 1_576_000,
            },
            change: -36,
        }
    }

    fn full() -> FullPacket {
        let mut depth = Depth::default();
        depth.buy[0] = DepthLevel {
            quantity: 100,
            price: 1_580_000,
            orders: 1,
        };
        depth.sell[4] = DepthLevel {
            quantity: 204,
            price: 1_580_050,
            orders: 14,
        };
        FullPacket {
            quote: quote(),
            last_trade_time: 1_625_461_885,
            oi: 1_234_500,
            oi_day_high: 1_300_000,
            oi_day_low: 1_200_000,
            exchange_timestamp: 1_625_461_887,
            depth,
        }
    }

    #[test]
    fn every_kind_encodes_to_its_wire_len() {
        let cases = [
            Packet::Ltp(LtpPacket {
                token: 408_065,
                last_price: -150,
            }),
            Packet::IndexQuote(index_quote()),
            Packet::IndexFull(IndexFullPacket {
                quote: index_quote(),
                exchange_timestamp: 1_625_461_887,
            }),
            Packet::Quote(quote()),
            Packet::Full(full()),
        ];
        for packet in cases {
            let mut out = BytesMut::new();
            encode_packet(&packet, &mut out);
            assert_eq!(out.len(), packet.wire_len(), "{packet:?}");
        }
    }

    #[test]
    fn index_prices_go_high_low_open_close_and_tradable_open_high_low_close() {
        let mut out = BytesMut::new();
        encode_packet(&Packet::IndexQuote(index_quote()), &mut out);
        assert_eq!(
            hex::encode(&out),
            "0003e90900181c17001842f00017f4d00018085800180c40ffffffdc"
        );
        out.clear();
        encode_packet(&Packet::Quote(quote()), &mut out);
        assert_eq!(
            hex::encode(&out),
            "000d80010000753f000000190000752300bc614e0003d0900004baf0000074cc000075f80000749a00007468"
        );
    }

    #[test]
    fn depth_levels_carry_two_zero_padding_bytes() {
        let mut out = BytesMut::new();
        encode_packet(&Packet::Full(full()), &mut out);
        assert_eq!(hex::encode(&out[64..76]), "0000006400181be000010000");
        assert_eq!(hex::encode(&out[172..184]), "000000cc00181c12000e0000");
        assert_eq!(hex::encode(&out[76..88]), "000000000000000000000000");
    }

    #[test]
    fn signed_prices_are_twos_complement() {
        let mut out = BytesMut::new();
        encode_packet(
            &Packet::Ltp(LtpPacket {
                token: 1,
                last_price: -150,
            }),
            &mut out,
        );
        assert_eq!(hex::encode(&out), "00000001ffffff6a");
    }

    #[test]
    fn empty_frame_is_a_zero_count() {
        let mut out = BytesMut::new();
        encode_frame(&[], &mut out);
        assert_eq!(&out[..], &[0, 0]);
        assert_eq!(frame_len(&[]), 2);
    }

    #[test]
    fn frame_prefixes_count_and_lengths() {
        let packets = [
            Packet::Ltp(LtpPacket {
                token: 408_065,
                last_price: 157_370,
            }),
            Packet::Quote(quote()),
        ];
        let mut out = BytesMut::new();
        encode_frame(&packets, &mut out);
        assert_eq!(out.len(), frame_len(&packets));
        assert_eq!(&out[..4], &[0, 2, 0, 8]);
        assert_eq!(&out[12..14], &[0, 44]);
    }

    #[test]
    fn encode_frames_chunks_by_count() {
        let packet = Packet::Ltp(LtpPacket {
            token: 1,
            last_price: 1,
        });
        let packets = vec![packet; 70_000];
        let frames = encode_frames(&packets, usize::MAX);
        let counts: Vec<u16> = frames
            .iter()
            .map(|f| u16::from_be_bytes([f[0], f[1]]))
            .collect();
        assert_eq!(counts, [65_535, 4_465]);
        assert_eq!(encode_frames(&packets[..5], 2).len(), 3);
        assert_eq!(
            encode_frames(&packets[..5], 0).len(),
            5,
            "0 is clamped to 1"
        );
        assert!(encode_frames(&[], 10).is_empty());
    }
}
