//! The cluster's tick wire format: a batch of normalised [`Tick`]s as one compact binary
//! message (DESIGN.md §9), the payload of every Redis PUBLISH and of every value in the
//! latest-value hash (a batch of one). Pure: bytes in, ticks out, no I/O.
//!
//! Layout (version 1), integers as LEB128 varints, signed ones zigzagged first:
//!
//! ```text
//! batch  = version:u8  count:varint  base_ms:zigzag  tick*count
//! tick   = flags:u8  token:varint  divisor:varint  ltp:zigzag  received:zigzag(ms - base_ms)
//!          [quote]  [full]
//! flags  = bits 0-1 src (0 ws, 1 rest, 2 cache) | bit 2 quote | bit 3 full | bit 4 depth
//! quote  = present:u8 (bit i = i-th optional below)  open high low close:zigzag(x - ltp)
//!          [volume:varint] [last_qty:varint] [avg_price:zigzag(x - ltp)] [buy_qty] [sell_qty]
//! full   = present:u8  [exchange_ts:zigzag] [last_trade_ts:zigzag] [oi] [oi_day_high]
//!          [oi_day_low]  [depth: 5 buy then 5 sell × (price:zigzag(p - ltp) qty orders)]
//! ```
//!
//! Why varints and deltas rather than fixed little-endian fields: prices are paise near the
//! LTP, receive times of one batch lie within milliseconds of each other, quantities are
//! small; as deltas they mostly take one or two bytes instead of eight, so a full tick with
//! depth is under a third of its fixed-width size (81 bytes instead of 289) and Redis
//! moves, copies and stores a third of the bytes for every edge. Deltas use wrapping
//! arithmetic, so every `i64` survives the round trip exactly.
//!
//! Decoding checks every length before reading: a truncated or malformed batch is an
//! [`Error`], never a panic, and a forged count cannot make it allocate more than the input
//! could hold.

use crate::model::tick::{Depth, Full, Level, Quote, Source, Tick};

/// The format this module writes; a reader refuses any other.
pub const VERSION: u8 = 1;

/// The fewest bytes one tick takes (flags, token, divisor, ltp, received): bounds the count
/// a decoder believes before allocating.
const MIN_TICK_BYTES: usize = 5;

const QUOTE: u8 = 1 << 2;
const FULL: u8 = 1 << 3;
const DEPTH: u8 = 1 << 4;
const KNOWN_FLAGS: u8 = 0b1_1111;

/// Why a batch could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("empty message")]
    Empty,
    #[error("unknown tick batch version {0} (this node reads {VERSION})")]
    Version(u8),
    #[error("the batch ends early, at byte {0}")]
    Truncated(usize),
    #[error("a varint longer than 64 bits at byte {0}")]
    Varint(usize),
    #[error("a value out of range at byte {0}")]
    Range(usize),
    #[error("unknown flags {flags:#04x} at byte {at}")]
    Flags { flags: u8, at: usize },
    #[error("the batch claims {0} ticks, more than its bytes can hold")]
    Count(u64),
    #[error("{0} bytes left over after the last tick")]
    Trailing(usize),
}

/// Encodes `ticks` as one batch, appended to `out`.
pub fn encode_into(ticks: &[Tick], out: &mut Vec<u8>) {
    let base = ticks.first().map_or(0, |t| t.received_ms);
    out.push(VERSION);
    put_u(out, ticks.len() as u64);
    put_i(out, base);
    for t in ticks {
        put_tick(out, t, base);
    }
}

/// Encodes `ticks` as one batch.
pub fn encode(ticks: &[Tick]) -> Vec<u8> {
    // A quote-mode tick is about 25 bytes; one reservation covers most batches.
    let mut out = Vec::with_capacity(8 + ticks.len() * 32);
    encode_into(ticks, &mut out);
    out
}

/// Decodes one whole batch.
pub fn decode(bytes: &[u8]) -> Result<Vec<Tick>, Error> {
    let mut r = Reader { bytes, at: 0 };
    let version = *bytes.first().ok_or(Error::Empty)?;
    r.at = 1;
    if version != VERSION {
        return Err(Error::Version(version));
    }
    let count = r.u()?;
    let room = r.left() / MIN_TICK_BYTES;
    if count > room as u64 {
        return Err(Error::Count(count));
    }
    let base = r.i()?;
    let mut ticks = Vec::with_capacity(count as usize);
    for _ in 0..count {
        ticks.push(r.tick(base)?);
    }
    match r.left() {
        0 => Ok(ticks),
        n => Err(Error::Trailing(n)),
    }
}

fn put_tick(out: &mut Vec<u8>, t: &Tick, base: i64) {
    let src = match t.src {
        Source::Ws => 0,
        Source::Rest => 1,
        Source::Cache => 2,
    };
    let depth = t.full.and_then(|f| f.depth);
    let flags = src
        | if t.quote.is_some() { QUOTE } else { 0 }
        | if t.full.is_some() { FULL } else { 0 }
        | if depth.is_some() { DEPTH } else { 0 };
    out.push(flags);
    put_u(out, u64::from(t.token));
    put_u(out, u64::from(t.divisor));
    put_i(out, t.ltp);
    put_i(out, t.received_ms.wrapping_sub(base));
    let near = |out: &mut Vec<u8>, p: i64| put_i(out, p.wrapping_sub(t.ltp));
    if let Some(q) = t.quote {
        let opts = [
            q.volume.is_some(),
            q.last_qty.is_some(),
            q.avg_price.is_some(),
            q.buy_qty.is_some(),
            q.sell_qty.is_some(),
        ];
        out.push(bits(opts));
        for p in [q.open, q.high, q.low, q.close] {
            near(out, p);
        }
        q.volume.inspect(|v| put_u(out, *v));
        q.last_qty.inspect(|v| put_u(out, *v));
        q.avg_price.inspect(|v| near(out, *v));
        q.buy_qty.inspect(|v| put_u(out, *v));
        q.sell_qty.inspect(|v| put_u(out, *v));
    }
    if let Some(f) = t.full {
        let opts = [
            f.exchange_ts.is_some(),
            f.last_trade_ts.is_some(),
            f.oi.is_some(),
            f.oi_day_high.is_some(),
            f.oi_day_low.is_some(),
        ];
        out.push(bits(opts));
        f.exchange_ts.inspect(|v| put_i(out, *v));
        f.last_trade_ts.inspect(|v| put_i(out, *v));
        f.oi.inspect(|v| put_u(out, *v));
        f.oi_day_high.inspect(|v| put_u(out, *v));
        f.oi_day_low.inspect(|v| put_u(out, *v));
        if let Some(d) = depth {
            for l in d.buy.iter().chain(d.sell.iter()) {
                near(out, l.price);
                put_u(out, l.quantity);
                put_u(out, u64::from(l.orders));
            }
        }
    }
}

fn bits(flags: [bool; 5]) -> u8 {
    flags
        .iter()
        .enumerate()
        .fold(0, |acc, (i, &b)| acc | (u8::from(b) << i))
}

/// LEB128: seven bits a byte, low first, the high bit saying "more follows".
fn put_u(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Zigzag (0, -1, 1, -2, … → 0, 1, 2, 3, …) so small negatives stay short.
fn put_i(out: &mut Vec<u8>, v: i64) {
    put_u(out, ((v << 1) ^ (v >> 63)) as u64);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn byte(&mut self) -> Result<u8, Error> {
        let b = *self.bytes.get(self.at).ok_or(Error::Truncated(self.at))?;
        self.at += 1;
        Ok(b)
    }

    fn u(&mut self) -> Result<u64, Error> {
        let start = self.at;
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let part = u64::from(b & 0x7f);
            // The tenth byte may carry only the top bit of a u64.
            if shift == 63 && part > 1 {
                return Err(Error::Varint(start));
            }
            v |= part << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::Varint(start))
    }

    fn i(&mut self) -> Result<i64, Error> {
        let z = self.u()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    fn u32(&mut self) -> Result<u32, Error> {
        let at = self.at;
        u32::try_from(self.u()?).map_err(|_| Error::Range(at))
    }

    fn opt_u(&mut self, present: u8, bit: u8) -> Result<Option<u64>, Error> {
        (present & (1 << bit) != 0).then(|| self.u()).transpose()
    }

    fn opt_i(&mut self, present: u8, bit: u8) -> Result<Option<i64>, Error> {
        (present & (1 << bit) != 0).then(|| self.i()).transpose()
    }

    fn presence(&mut self) -> Result<u8, Error> {
        let at = self.at;
        let p = self.byte()?;
        if p & !0b1_1111 != 0 {
            return Err(Error::Flags { flags: p, at });
        }
        Ok(p)
    }

    fn tick(&mut self, base: i64) -> Result<Tick, Error> {
        let at = self.at;
        let flags = self.byte()?;
        let src = match flags & 0b11 {
            0 => Source::Ws,
            1 => Source::Rest,
            2 => Source::Cache,
            _ => return Err(Error::Flags { flags, at }),
        };
        // Depth lives in `full`: a depth bit without it is malformed.
        if flags & !KNOWN_FLAGS != 0 || (flags & DEPTH != 0 && flags & FULL == 0) {
            return Err(Error::Flags { flags, at });
        }
        let token = self.u32()?;
        let divisor = self.u32()?;
        let ltp = self.i()?;
        let received_ms = base.wrapping_add(self.i()?);
        let quote = if flags & QUOTE != 0 {
            let p = self.presence()?;
            let mut ohlc = [0i64; 4];
            for v in &mut ohlc {
                *v = ltp.wrapping_add(self.i()?);
            }
            Some(Quote {
                open: ohlc[0],
                high: ohlc[1],
                low: ohlc[2],
                close: ohlc[3],
                volume: self.opt_u(p, 0)?,
                last_qty: self.opt_u(p, 1)?,
                avg_price: self.opt_i(p, 2)?.map(|d| ltp.wrapping_add(d)),
                buy_qty: self.opt_u(p, 3)?,
                sell_qty: self.opt_u(p, 4)?,
            })
        } else {
            None
        };
        let full = if flags & FULL != 0 {
            let p = self.presence()?;
            let mut full = Full {
                exchange_ts: self.opt_i(p, 0)?,
                last_trade_ts: self.opt_i(p, 1)?,
                oi: self.opt_u(p, 2)?,
                oi_day_high: self.opt_u(p, 3)?,
                oi_day_low: self.opt_u(p, 4)?,
                depth: None,
            };
            if flags & DEPTH != 0 {
                let mut d = Depth::default();
                for l in d.buy.iter_mut().chain(d.sell.iter_mut()) {
                    let price = ltp.wrapping_add(self.i()?);
                    let quantity = self.u()?;
                    let orders = self.u32()?;
                    *l = Level {
                        price,
                        quantity,
                        orders,
                    };
                }
                full.depth = Some(d);
            }
            Some(full)
        } else {
            None
        };
        Ok(Tick {
            token,
            divisor,
            ltp,
            quote,
            full,
            received_ms,
            src,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_level() -> impl Strategy<Value = Level> {
        (any::<i64>(), any::<u64>(), any::<u32>()).prop_map(|(price, quantity, orders)| Level {
            price,
            quantity,
            orders,
        })
    }

    fn arb_quote() -> impl Strategy<Value = Quote> {
        (
            proptest::array::uniform4(any::<i64>()),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<i64>()),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u64>()),
        )
            .prop_map(
                |(o, volume, last_qty, avg_price, buy_qty, sell_qty)| Quote {
                    open: o[0],
                    high: o[1],
                    low: o[2],
                    close: o[3],
                    volume,
                    last_qty,
                    avg_price,
                    buy_qty,
                    sell_qty,
                },
            )
    }

    fn arb_full() -> impl Strategy<Value = Full> {
        (
            proptest::option::of(any::<i64>()),
            proptest::option::of(any::<i64>()),
            proptest::array::uniform3(proptest::option::of(any::<u64>())),
            proptest::option::of((
                proptest::array::uniform5(arb_level()),
                proptest::array::uniform5(arb_level()),
            )),
        )
            .prop_map(|(exchange_ts, last_trade_ts, oi, depth)| Full {
                exchange_ts,
                last_trade_ts,
                oi: oi[0],
                oi_day_high: oi[1],
                oi_day_low: oi[2],
                depth: depth.map(|(buy, sell)| Depth { buy, sell }),
            })
    }

    fn arb_tick() -> impl Strategy<Value = Tick> {
        (
            any::<u32>(),
            any::<u32>(),
            any::<i64>(),
            proptest::option::of(arb_quote()),
            proptest::option::of(arb_full()),
            any::<i64>(),
            prop_oneof![Just(Source::Ws), Just(Source::Rest), Just(Source::Cache)],
        )
            .prop_map(
                |(token, divisor, ltp, quote, full, received_ms, src)| Tick {
                    token,
                    divisor,
                    ltp,
                    quote,
                    full,
                    received_ms,
                    src,
                },
            )
    }

    /// A realistic full tick: paise near the LTP, a received time in 2026.
    fn full_tick(token: u32, received_ms: i64) -> Tick {
        let ltp = 152_345;
        let level = |i: i64, side: i64| Level {
            price: ltp + side * (5 + 5 * i),
            quantity: 100 + 17 * i as u64,
            orders: 3 + i as u32,
        };
        Tick {
            token,
            divisor: 100,
            ltp,
            quote: Some(Quote {
                open: 151_000,
                high: 153_000,
                low: 150_500,
                close: 151_200,
                volume: Some(4_512_300),
                last_qty: Some(25),
                avg_price: Some(152_010),
                buy_qty: Some(120_400),
                sell_qty: Some(98_700),
            }),
            full: Some(Full {
                exchange_ts: Some(1_796_000_000),
                last_trade_ts: Some(1_795_999_999),
                oi: Some(0),
                oi_day_high: Some(0),
                oi_day_low: Some(0),
                depth: Some(Depth {
                    buy: std::array::from_fn(|i| level(i as i64, -1)),
                    sell: std::array::from_fn(|i| level(i as i64, 1)),
                }),
            }),
            received_ms,
            src: Source::Ws,
        }
    }

    proptest! {
        /// Every batch of ticks, whatever its values, decodes to itself.
        #[test]
        fn any_batch_survives_the_round_trip(ticks in proptest::collection::vec(arb_tick(), 0..20)) {
            prop_assert_eq!(decode(&encode(&ticks)), Ok(ticks));
        }

        /// Every proper prefix of a batch is an error, never a panic nor a shorter batch.
        #[test]
        fn a_truncated_batch_is_an_error(ticks in proptest::collection::vec(arb_tick(), 1..6), cut in any::<prop::sample::Index>()) {
            let bytes = encode(&ticks);
            let at = cut.index(bytes.len());
            prop_assert!(decode(&bytes[..at]).is_err());
        }

        /// Arbitrary bytes decode or fail; they never panic or allocate without bound.
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&bytes);
            let mut versioned = vec![VERSION];
            versioned.extend_from_slice(&bytes);
            let _ = decode(&versioned);
        }
    }

    #[test]
    fn malformed_batches_say_what_is_wrong() {
        let bytes = encode(&[full_tick(256_265, 1_796_000_000_123)]);
        assert_eq!(decode(&[]), Err(Error::Empty));
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert_eq!(decode(&v2), Err(Error::Version(2)));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing), Err(Error::Trailing(1)));
        // A count of 2^40 with a few bytes behind it: refused before any allocation.
        let mut huge = vec![VERSION];
        put_u(&mut huge, 1 << 40);
        put_i(&mut huge, 0);
        assert_eq!(decode(&huge), Err(Error::Count(1 << 40)));
        // Source 3 does not exist; a depth bit without `full` is malformed.
        let one = encode(&[Tick {
            quote: None,
            full: None,
            ..full_tick(1, 0)
        }]);
        let flags_at = 3;
        let mut bad = one.clone();
        bad[flags_at] = 3;
        assert!(matches!(decode(&bad), Err(Error::Flags { flags: 3, .. })));
        bad[flags_at] = DEPTH;
        assert!(matches!(decode(&bad), Err(Error::Flags { .. })));
        // An eleven-byte varint.
        let mut long = vec![VERSION];
        long.extend([0xff; 10]);
        long.push(0);
        assert_eq!(decode(&long), Err(Error::Varint(1)));
        // A token beyond u32.
        let mut wide = vec![VERSION, 1, 0, 0];
        put_u(&mut wide, u64::from(u32::MAX) + 1);
        wide.extend([0; 8]);
        assert_eq!(decode(&wide), Err(Error::Range(4)));
    }

    #[test]
    fn a_full_tick_with_depth_takes_about_a_third_of_its_fixed_width() {
        let batch: Vec<Tick> = (0..100)
            .map(|i| full_tick(256_265 + i, 1_796_000_000_123 + i64::from(i)))
            .collect();
        let bytes = encode(&batch);
        let per_tick = bytes.len() / batch.len();
        // Fixed width: 4+4+8+8+1 head, 4×8+5×9 quote, 2×9+3×9 full, 10×(8+8+4) depth = 289.
        assert!(per_tick <= 100, "{per_tick} bytes per full tick");
        let ltp_only: Vec<Tick> = batch
            .iter()
            .map(|t| Tick {
                quote: None,
                full: None,
                ..*t
            })
            .collect();
        let per_ltp = encode(&ltp_only).len() / ltp_only.len();
        assert!(per_ltp <= 10, "{per_ltp} bytes per ltp tick");
        assert_eq!(decode(&bytes), Ok(batch));
    }
}
