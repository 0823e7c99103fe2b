//! Exact price arithmetic. A Fyers socket value is a signed integer `raw` plus its topic's
//! [`Scale`] (multiplier, precision); the price is `raw / (10^precision × multiplier)` (spec
//! §6.7). Inside feedgate prices stay integers; [`Scale::to_decimal`] is the exact conversion
//! for the edge (JSON), and [`Decimal`] also reads the REST API's already-scaled decimal numbers
//! without rounding them through arithmetic. No `f64` arithmetic happens here except the
//! explicit, correctly rounded [`Decimal::to_f64`].
//!
//! When the multiplier is of the form 2^a·5^b (1, 2, 4, 5, 10, 100, …) the quotient is a
//! terminating decimal and the conversion is exact. For any other multiplier (not seen in the
//! spec; the real values are unknown) the quotient is rounded half-to-even at 18 digits past
//! the precision, far below what an `f64` or a price display can resolve.

use std::fmt;
use std::num::NonZeroU16;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Extra fractional digits kept when the multiplier makes the quotient non-terminating.
const GUARD_DIGITS: u32 = 18;

/// Exact powers of ten representable in an `f64` (10^0 ..= 10^22), for the fast path.
const F64_POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A topic's price scale from its snapshot record: divisor `10^precision × multiplier`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scale {
    multiplier: NonZeroU16,
    precision: u8,
}

/// Why a multiplier/precision pair is not a usable scale.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScaleError {
    /// The divisor would be zero (the official client would divide by zero).
    #[error("price multiplier is 0; a price scale needs a multiplier of at least 1")]
    ZeroMultiplier,
}

impl Scale {
    /// Two decimal places, multiplier 1: NSE/BSE cash and F&O prices in paise.
    pub const PAISE: Scale = Scale {
        multiplier: NonZeroU16::MIN,
        precision: 2,
    };

    /// A scale from the wire's multiplier and precision; a zero multiplier is rejected.
    pub const fn new(multiplier: u16, precision: u8) -> Result<Self, ScaleError> {
        match NonZeroU16::new(multiplier) {
            Some(multiplier) => Ok(Self {
                multiplier,
                precision,
            }),
            None => Err(ScaleError::ZeroMultiplier),
        }
    }

    /// The wire multiplier (at least 1).
    pub const fn multiplier(self) -> u16 {
        self.multiplier.get()
    }

    /// The wire precision (decimal places).
    pub const fn precision(self) -> u8 {
        self.precision
    }

    /// `10^precision × multiplier`, or `None` when that does not fit a `u64`.
    pub fn divisor(self) -> Option<u64> {
        10u64
            .checked_pow(u32::from(self.precision))?
            .checked_mul(u64::from(self.multiplier.get()))
    }

    /// Whether every price at this scale is a terminating decimal (exact conversion).
    pub fn is_terminating(self) -> bool {
        terminating_digits(self.multiplier).is_some()
    }

    /// The price `raw / (10^precision × multiplier)` as an exact decimal (see module doc for
    /// the non-terminating case). Takes `i64` so differences of two wire values fit.
    pub fn to_decimal(self, raw: i64) -> Decimal {
        let multiplier = i128::from(self.multiplier.get());
        let precision = u32::from(self.precision);
        // Bounds: |raw| < 2^63, 10^15 and 10^18 keep every product below 2^127.
        match terminating_digits(self.multiplier) {
            Some(extra) => {
                let factor = 10i128.pow(extra) / multiplier;
                Decimal::from_parts(i128::from(raw) * factor, precision + extra)
            }
            None => {
                let numerator = i128::from(raw) * 10i128.pow(GUARD_DIGITS);
                Decimal::from_parts(
                    div_round_half_even(numerator, multiplier),
                    precision + GUARD_DIGITS,
                )
            }
        }
    }

    /// The wire integer for a price, when the price is exactly representable at this scale
    /// and fits an `i64` (REST prices → socket units).
    pub fn to_raw(self, price: Decimal) -> Option<i64> {
        let scaled = price
            .mantissa
            .checked_mul(i128::from(self.multiplier.get()))?;
        let precision = u32::from(self.precision);
        let raw = if precision >= price.scale {
            scaled.checked_mul(10i128.checked_pow(precision - price.scale)?)?
        } else {
            match 10i128.checked_pow(price.scale - precision) {
                Some(divisor) if scaled % divisor == 0 => scaled / divisor,
                Some(_) => return None,
                // 10^39 and beyond exceed every i128, so only zero divides evenly.
                None if scaled == 0 => 0,
                None => return None,
            }
        };
        i64::try_from(raw).ok()
    }
}

/// `max(a, b)` when `m = 2^a·5^b`, i.e. the extra decimal digits a quotient by `m` needs.
fn terminating_digits(m: NonZeroU16) -> Option<u32> {
    let mut rest = m.get();
    let (mut twos, mut fives) = (0u32, 0u32);
    // `rest` stays non-zero, so both loops end.
    while rest.is_multiple_of(2) {
        rest /= 2;
        twos += 1;
    }
    while rest.is_multiple_of(5) {
        rest /= 5;
        fives += 1;
    }
    (rest == 1).then_some(twos.max(fives))
}

/// `numerator / denominator` rounded half away from zero (`-2.5` → `-3`), exact in integers.
pub fn div_round_half_away(numerator: i128, denominator: i128) -> i128 {
    let quotient = numerator / denominator;
    let twice_remainder = (numerator % denominator).unsigned_abs() * 2;
    if twice_remainder >= denominator.unsigned_abs() {
        if (numerator < 0) == (denominator < 0) {
            quotient + 1
        } else {
            quotient - 1
        }
    } else {
        quotient
    }
}

/// `numerator / denominator` rounded half-to-even; `denominator` must be positive.
fn div_round_half_even(numerator: i128, denominator: i128) -> i128 {
    let quotient = numerator / denominator;
    let twice_remainder = (numerator % denominator).unsigned_abs() * 2;
    let denominator = denominator.unsigned_abs();
    let round_away =
        twice_remainder > denominator || (twice_remainder == denominator && quotient % 2 != 0);
    if !round_away {
        quotient
    } else if numerator < 0 {
        quotient - 1
    } else {
        quotient + 1
    }
}

/// An exact decimal `mantissa × 10^-scale`. Equality compares values (`1.50 == 1.5`).
#[derive(Clone, Copy)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
}

/// Why a string is not a decimal number this crate can hold exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid decimal number: {reason}")]
pub struct DecimalError {
    reason: &'static str,
}

impl Decimal {
    /// Largest scale (fractional digits) a `Decimal` may have; bounds the formatted length.
    pub const MAX_SCALE: u32 = 1024;

    /// Zero.
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };

    /// `mantissa × 10^-scale`, or `None` when `scale` exceeds [`Decimal::MAX_SCALE`].
    pub const fn new(mantissa: i128, scale: u32) -> Option<Self> {
        if scale > Self::MAX_SCALE {
            None
        } else {
            Some(Self { mantissa, scale })
        }
    }

    /// Internal constructor for scales that are bounded by construction (≤ 255 + 18).
    const fn from_parts(mantissa: i128, scale: u32) -> Self {
        Self { mantissa, scale }
    }

    /// The integer digits (value × 10^scale).
    pub const fn mantissa(self) -> i128 {
        self.mantissa
    }

    /// Number of fractional digits.
    pub const fn scale(self) -> u32 {
        self.scale
    }

    /// The same value without trailing fractional zeros (`810.00` → `810`).
    pub fn normalized(self) -> Self {
        let mut out = self;
        while out.scale > 0 && out.mantissa % 10 == 0 {
            out.mantissa /= 10;
            out.scale -= 1;
        }
        out
    }

    /// The mantissa at another scale, when that is exact and fits (`812.5` at scale 2 → 81250).
    pub fn rescale(self, scale: u32) -> Option<i128> {
        if scale >= self.scale {
            self.mantissa
                .checked_mul(10i128.checked_pow(scale - self.scale)?)
        } else {
            let norm = self.normalized();
            if norm.scale > scale {
                return None;
            }
            norm.mantissa
                .checked_mul(10i128.checked_pow(scale - norm.scale)?)
        }
    }

    /// The nearest `f64` (correctly rounded), for JSON writers that need a float.
    pub fn to_f64(self) -> f64 {
        let exact_power = usize::try_from(self.scale)
            .ok()
            .and_then(|scale| F64_POW10.get(scale));
        match exact_power {
            // Both operands are exact in f64, so one IEEE division rounds correctly.
            Some(&power) if self.mantissa.unsigned_abs() <= 1u128 << 53 => {
                self.mantissa as f64 / power
            }
            // Rust's float parser is correctly rounded; our own formatting is always a valid
            // float literal, so the NaN branch is unreachable in practice.
            _ => self.to_string().parse().unwrap_or(f64::NAN),
        }
    }

    /// The shortest decimal that round-trips to `value` (how JSON numbers from the REST API are
    /// read: the text `812.55` becomes exactly 812.55). `None` for NaN, infinities and values
    /// beyond the mantissa's range.
    pub fn from_f64(value: f64) -> Option<Self> {
        if !value.is_finite() {
            return None;
        }
        // `Display` for f64 prints the shortest round-trip representation without an exponent.
        value.to_string().parse().ok()
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.normalized(), other.normalized());
        a.mantissa == b.mantissa && a.scale == b.scale
    }
}

impl Eq for Decimal {}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({self})")
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mantissa < 0 {
            f.write_str("-")?;
        }
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = usize::try_from(self.scale).unwrap_or(usize::MAX);
        if scale == 0 {
            f.write_str(&digits)
        } else if digits.len() > scale {
            let (int, frac) = digits.split_at(digits.len() - scale);
            write!(f, "{int}.{frac}")
        } else {
            f.write_str("0.")?;
            for _ in digits.len()..scale {
                f.write_str("0")?;
            }
            f.write_str(&digits)
        }
    }
}

impl FromStr for Decimal {
    type Err = DecimalError;

    /// Parses `[-+]digits[.digits][e[-+]digits]`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason| DecimalError { reason };
        let (negative, body) = match text.as_bytes().first() {
            Some(b'-') => (true, text.get(1..).unwrap_or("")),
            Some(b'+') => (false, text.get(1..).unwrap_or("")),
            _ => (false, text),
        };
        let (number, exponent) = match body.find(['e', 'E']) {
            Some(at) => {
                let exp_text = body.get(at + 1..).unwrap_or("");
                let exponent: i64 = exp_text.parse().map_err(|_| fail("bad exponent"))?;
                (body.get(..at).unwrap_or(""), exponent)
            }
            None => (body, 0),
        };
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if int.is_empty() && frac.is_empty() {
            return Err(fail("no digits"));
        }
        // Trailing fractional zeros carry no value; dropping them keeps long inputs in range.
        let frac = frac.trim_end_matches('0');
        let mut mantissa: i128 = 0;
        for byte in int.bytes().chain(frac.bytes()) {
            if !byte.is_ascii_digit() {
                return Err(fail("unexpected character"));
            }
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(i128::from(byte - b'0')))
                .ok_or(fail("too many digits"))?;
        }
        if !(-i64::from(Self::MAX_SCALE)..=i64::from(Self::MAX_SCALE)).contains(&exponent) {
            return Err(fail("exponent out of range"));
        }
        let frac_len = i64::try_from(frac.len()).map_err(|_| fail("too many digits"))?;
        let scale = frac_len - exponent;
        let (mantissa, scale) = if scale < 0 {
            let shift = u32::try_from(-scale).map_err(|_| fail("exponent out of range"))?;
            let factor = 10i128.checked_pow(shift).ok_or(fail("value too large"))?;
            (
                mantissa
                    .checked_mul(factor)
                    .ok_or(fail("value too large"))?,
                0,
            )
        } else {
            let scale = u32::try_from(scale).map_err(|_| fail("exponent out of range"))?;
            (mantissa, scale)
        };
        let mantissa = if negative { -mantissa } else { mantissa };
        Self::new(mantissa, scale).ok_or(fail("too many fractional digits"))
    }
}

impl Serialize for Decimal {
    /// Written as a JSON number (the nearest `f64`), as the REST API does.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.to_f64())
    }
}

impl<'de> Deserialize<'de> for Decimal {
    /// Accepts a JSON number or a numeric string.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DecimalVisitor)
    }
}

struct DecimalVisitor;

impl Visitor<'_> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal number or numeric string")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Decimal, E> {
        Ok(Decimal::from_parts(i128::from(value), 0))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Decimal, E> {
        Ok(Decimal::from_parts(i128::from(value), 0))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Decimal, E> {
        Decimal::from_f64(value).ok_or_else(|| E::custom("number out of decimal range"))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Decimal, E> {
        value.trim().parse().map_err(E::custom)
    }
}

#[cfg(test)]
#[path = "price_tests.rs"]
mod tests;
