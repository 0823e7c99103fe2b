//! Zero-copy, allocation-free decoding of one ticker WebSocket binary message (kite.md §3): a
//! 1-byte heartbeat, or a frame of `u16 count` then `(u16 length, packet)` × count. This is the
//! hot path of the gateway; streams of back-to-back frames are handled by [`super::codec`].

use std::iter::FusedIterator;

use crate::ticker::error::CodecError;
use crate::ticker::packet::{
    Depth, DepthLevel, FullPacket, IndexFullPacket, IndexQuotePacket, LtpPacket, Ohlc, Packet,
    QuotePacket,
};

/// One binary WebSocket message from the ticker.
#[derive(Debug, Clone)]
pub enum Message<'a> {
    /// A message shorter than 2 bytes: the idle heartbeat (kite.md §3.6). Carries no data but
    /// proves the connection is alive.
    Heartbeat,
    /// A frame of market-data packets, decoded lazily.
    Packets(Packets<'a>),
}

/// Classifies one binary message.
///
/// Every byte sequence is either a heartbeat or a frame, so this never fails today; malformed
/// frames surface as errors from the [`Packets`] iterator, after the packets that precede the
/// damage. The `Result` keeps message-level rejections possible without breaking callers.
pub fn parse_message(msg: &[u8]) -> Result<Message<'_>, CodecError> {
    Ok(match msg.split_first_chunk::<2>() {
        None => Message::Heartbeat,
        Some((count, rest)) => Message::Packets(Packets::new(u16::from_be_bytes(*count), rest)),
    })
}

/// Decodes one packet body (without its length prefix) by its exact length; `None` for a length
/// that is not a known packet kind.
pub fn decode_packet(body: &[u8]) -> Option<Packet> {
    match body.len() {
        Packet::LTP_LEN => body.try_into().ok().map(ltp),
        Packet::INDEX_QUOTE_LEN => body.try_into().ok().map(index_quote),
        Packet::INDEX_FULL_LEN => body.try_into().ok().map(index_full),
        Packet::QUOTE_LEN => body.try_into().ok().map(quote),
        Packet::FULL_LEN => body.try_into().ok().map(full),
        _ => None,
    }
}

/// Iterator over the packets of one frame, yielding `Ok(packet)` for each packet of a known
/// length, skipping (and counting) packets of unknown length like every official client, and
/// yielding one error and then stopping when the frame is truncated or has trailing bytes.
#[derive(Debug, Clone)]
pub struct Packets<'a> {
    /// Bytes after the last consumed packet.
    rest: &'a [u8],
    announced: u16,
    consumed: u16,
    skipped: u16,
    finished: bool,
}

impl<'a> Packets<'a> {
    /// Packets of a frame whose count field said `announced`, with `body` the bytes after it.
    pub fn new(announced: u16, body: &'a [u8]) -> Self {
        Self {
            rest: body,
            announced,
            consumed: 0,
            skipped: 0,
            finished: false,
        }
    }

    /// The packet count announced in the frame header.
    pub fn announced(&self) -> u16 {
        self.announced
    }

    /// How many packets of unknown length were skipped so far.
    pub fn skipped(&self) -> u16 {
        self.skipped
    }

    fn fail(&mut self, error: CodecError) -> Option<Result<Packet, CodecError>> {
        self.finished = true;
        Some(Err(error))
    }

    fn truncated(&mut self, needed: usize) -> Option<Result<Packet, CodecError>> {
        let error = CodecError::Truncated {
            index: self.consumed,
            needed,
            available: self.rest.len(),
        };
        self.fail(error)
    }
}

impl Iterator for Packets<'_> {
    type Item = Result<Packet, CodecError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.finished {
                return None;
            }
            if self.consumed == self.announced {
                if self.rest.is_empty() {
                    self.finished = true;
                    return None;
                }
                let len = self.rest.len();
                return self.fail(CodecError::TrailingBytes { len });
            }
            let Some((len, body)) = self.rest.split_first_chunk::<2>() else {
                return self.truncated(2);
            };
            let len = usize::from(u16::from_be_bytes(*len));
            // Splitting off a fixed-size array both checks the length and lets the field
            // readers below run without bounds checks.
            let decoded = match len {
                Packet::LTP_LEN => take(body, ltp),
                Packet::INDEX_QUOTE_LEN => take(body, index_quote),
                Packet::INDEX_FULL_LEN => take(body, index_full),
                Packet::QUOTE_LEN => take(body, quote),
                Packet::FULL_LEN => take(body, full),
                _ => match body.get(len..) {
                    Some(rest) => {
                        self.rest = rest;
                        self.consumed += 1;
                        self.skipped += 1;
                        continue;
                    }
                    None => None,
                },
            };
            let Some((packet, rest)) = decoded else {
                return self.truncated(2 + len);
            };
            self.rest = rest;
            self.consumed += 1;
            return Some(Ok(packet));
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.finished {
            return (0, Some(0));
        }
        // Each remaining packet yields at most one item, plus one possible trailing-bytes error.
        (0, Some(usize::from(self.announced - self.consumed) + 1))
    }
}

impl FusedIterator for Packets<'_> {}

#[inline(always)]
fn take<const N: usize>(
    body: &[u8],
    decode: impl Fn(&[u8; N]) -> Packet,
) -> Option<(Packet, &[u8])> {
    body.split_first_chunk::<N>()
        .map(|(bytes, rest)| (decode(bytes), rest))
}

/// Big-endian reads at constant offsets of a fixed-size packet. Each offset is checked against
/// the packet size at compile time, so the indexing below can never panic.
#[derive(Clone, Copy)]
struct Fixed<'a, const N: usize>(&'a [u8; N]);

impl<const N: usize> Fixed<'_, N> {
    #[inline(always)]
    fn u32<const AT: usize>(self) -> u32 {
        const { assert!(AT + 4 <= N, "field outside the packet") };
        let b = self.0;
        u32::from_be_bytes([b[AT], b[AT + 1], b[AT + 2], b[AT + 3]])
    }

    #[inline(always)]
    fn i32<const AT: usize>(self) -> i32 {
        const { assert!(AT + 4 <= N, "field outside the packet") };
        let b = self.0;
        i32::from_be_bytes([b[AT], b[AT + 1], b[AT + 2], b[AT + 3]])
    }

    /// A 12-byte depth entry: quantity, price, orders, 2 padding bytes (ignored).
    #[inline(always)]
    fn level<const AT: usize>(self) -> DepthLevel {
        const { assert!(AT + 12 <= N, "depth entry outside the packet") };
        let b = self.0;
        DepthLevel {
            quantity: u32::from_be_bytes([b[AT], b[AT + 1], b[AT + 2], b[AT + 3]]),
            price: i32::from_be_bytes([b[AT + 4], b[AT + 5], b[AT + 6], b[AT + 7]]),
            orders: u16::from_be_bytes([b[AT + 8], b[AT + 9]]),
        }
    }
}

fn ltp(b: &[u8; Packet::LTP_LEN]) -> Packet {
    let p = Fixed(b);
    Packet::Ltp(LtpPacket {
        token: p.u32::<0>(),
        last_price: p.i32::<4>(),
    })
}

/// The first 28 bytes of an index packet; prices are in H, L, O, C order (kite.md §3.3).
#[inline(always)]
fn index_quote_fields<const N: usize>(p: Fixed<'_, N>) -> IndexQuotePacket {
    IndexQuotePacket {
        token: p.u32::<0>(),
        last_price: p.i32::<4>(),
        ohlc: Ohlc {
            high: p.i32::<8>(),
            low: p.i32::<12>(),
            open: p.i32::<16>(),
            close: p.i32::<20>(),
        },
        change: p.i32::<24>(),
    }
}

fn index_quote(b: &[u8; Packet::INDEX_QUOTE_LEN]) -> Packet {
    Packet::IndexQuote(index_quote_fields(Fixed(b)))
}

fn index_full(b: &[u8; Packet::INDEX_FULL_LEN]) -> Packet {
    let p = Fixed(b);
    Packet::IndexFull(IndexFullPacket {
        quote: index_quote_fields(p),
        exchange_timestamp: p.u32::<28>(),
    })
}

/// The first 44 bytes of a tradable packet; prices are in O, H, L, C order (kite.md §3.2).
#[inline(always)]
fn quote_fields<const N: usize>(p: Fixed<'_, N>) -> QuotePacket {
    QuotePacket {
        token: p.u32::<0>(),
        last_price: p.i32::<4>(),
        last_traded_quantity: p.u32::<8>(),
        average_traded_price: p.i32::<12>(),
        volume_traded: p.u32::<16>(),
        total_buy_quantity: p.u32::<20>(),
        total_sell_quantity: p.u32::<24>(),
        ohlc: Ohlc {
            open: p.i32::<28>(),
            high: p.i32::<32>(),
            low: p.i32::<36>(),
            close: p.i32::<40>(),
        },
    }
}

fn quote(b: &[u8; Packet::QUOTE_LEN]) -> Packet {
    Packet::Quote(quote_fields(Fixed(b)))
}

fn full(b: &[u8; Packet::FULL_LEN]) -> Packet {
    let p = Fixed(b);
    Packet::Full(FullPacket {
        quote: quote_fields(p),
        last_trade_time: p.u32::<44>(),
        oi: p.u32::<48>(),
        oi_day_high: p.u32::<52>(),
        oi_day_low: p.u32::<56>(),
        exchange_timestamp: p.u32::<60>(),
        depth: Depth {
            buy: [
                p.level::<64>(),
                p.level::<76>(),
                p.level::<88>(),
                p.level::<100>(),
                p.level::<112>(),
            ],
            sell: [
                p.level::<124>(),
                p.level::<136>(),
                p.level::<148>(),
                p.level::<160>(),
                p.level::<172>(),
            ],
        },
    })
}

#[cfg(test)]
mod tests;
