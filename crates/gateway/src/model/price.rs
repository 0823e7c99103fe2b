//! Exact decimal rendering of integer wire prices: `raw / divisor` written as the shortest
//! decimal that represents it exactly (81240 / 100 → `812.4`, 123456 / 10^7 → `0.0123456`).
//!
//! Prices stay integers everywhere inside feedgate; this is the one place they become text, so
//! no `f64` rounding can ever turn 812.40 into 812.3999999.

/// Where the text encoders append: a byte buffer, or a `String` — which then becomes a message
/// with no second UTF-8 check (the tick encoder's hot path).
pub trait TextBuf {
    fn push_str(&mut self, s: &str);
    /// Appends one ASCII byte.
    fn push_ascii(&mut self, b: u8);
}

impl TextBuf for Vec<u8> {
    fn push_str(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
    fn push_ascii(&mut self, b: u8) {
        self.push(b);
    }
}

impl TextBuf for String {
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }
    fn push_ascii(&mut self, b: u8) {
        debug_assert!(b.is_ascii());
        // The mask (a no-op for ASCII) lets the compiler see a one-byte char: a plain push.
        self.push(char::from(b & 0x7F));
    }
}

/// Appends `raw / divisor` to `out`. `divisor` must be a power of ten (1, 10, …, 10^9); other
/// divisors are written with as many fractional digits as the divisor has (still exact when the
/// value is representable, otherwise truncated toward zero).
pub fn write_price(out: &mut impl TextBuf, raw: i64, divisor: u32) {
    let mut buf = itoa::Buffer::new();
    if divisor <= 1 {
        out.push_str(buf.format(raw));
        return;
    }
    let div = u64::from(divisor);
    let neg = raw < 0;
    let mag = raw.unsigned_abs();
    let whole = mag / div;
    let mut frac = mag % div;
    if neg {
        out.push_ascii(b'-');
    }
    out.push_str(buf.format(whole));
    if frac == 0 {
        return;
    }
    // Number of fractional digits the divisor implies (10^k → k).
    let mut digits = 0usize;
    let mut d = div;
    while d > 1 {
        d /= 10;
        digits += 1;
    }
    // Drop trailing zeros so 812.40 prints as 812.4.
    while frac.is_multiple_of(10) {
        frac /= 10;
        digits -= 1;
    }
    out.push_ascii(b'.');
    let text = buf.format(frac);
    for _ in text.len()..digits {
        out.push_ascii(b'0');
    }
    out.push_str(text);
}

/// Parses a decimal price (`812.4`, `-0.05`, `1573`) into wire units for `divisor` (a power of
/// ten), exactly. `None` for malformed text, more fractional digits than the divisor allows, or
/// overflow.
pub fn parse_price(text: &str, divisor: u32) -> Option<i64> {
    let t = text.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t),
    };
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits = 0u32;
    let mut d = divisor.max(1);
    while d > 1 {
        d /= 10;
        digits += 1;
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > digits as usize {
        return None;
    }
    let w: i64 = whole.parse().ok()?;
    let mut f: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..digits as usize {
        f = f.checked_mul(10)?;
    }
    let v = w.checked_mul(i64::from(divisor.max(1)))?.checked_add(f)?;
    Some(if neg { -v } else { v })
}

/// `value * 100 / base` rounded half away from zero, as hundredths (basis points of a percent):
/// the percentage change with two decimals, computed in integers. `None` when `base` is 0.
pub fn percent_hundredths(delta: i64, base: i64) -> Option<i64> {
    if base == 0 {
        return None;
    }
    let num = i128::from(delta) * 10_000;
    let den = i128::from(base);
    let q = num / den;
    let r = num % den;
    // Round half away from zero.
    let rounded = if (r.abs() * 2) >= den.abs() {
        q + if (num < 0) != (den < 0) { -1 } else { 1 }
    } else {
        q
    };
    i64::try_from(rounded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(raw: i64, div: u32) -> String {
        let mut v = Vec::new();
        write_price(&mut v, raw, div);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn prices_render_exactly() {
        let cases = [
            (81240, 100, "812.4"),
            (81200, 100, "812"),
            (5, 100, "0.05"),
            (-150, 100, "-1.5"),
            (-5, 100, "-0.05"),
            (0, 100, "0"),
            (12_345_678, 10_000_000, "1.2345678"),
            (12_345_678, 10_000, "1234.5678"),
            (832_500_000, 10_000_000, "83.25"),
            (1, 10_000_000, "0.0000001"),
            (157_370, 100, "1573.7"),
            (42, 1, "42"),
            (i64::from(i32::MIN), 100, "-21474836.48"),
        ];
        for (raw, div, want) in cases {
            assert_eq!(p(raw, div), want, "{raw}/{div}");
        }
    }

    #[test]
    fn decimal_text_parses_back_to_wire_units() {
        let cases = [
            ("812.4", 100, Some(81_240)),
            ("812", 100, Some(81_200)),
            ("-0.05", 100, Some(-5)),
            ("1.2345678", 10_000_000, Some(12_345_678)),
            ("83.2500", 10_000, Some(832_500)),
            ("0.001", 100, None),
            ("abc", 100, None),
            ("", 100, None),
            ("1.2.3", 100, None),
            ("99999999999999999999", 100, None),
        ];
        for (text, div, want) in cases {
            assert_eq!(parse_price(text, div), want, "{text}");
        }
    }

    #[test]
    fn percent_rounds_half_away_from_zero() {
        let cases = [
            (310, 80_930, Some(38)), // 3.10 on 809.30 → 0.383 % → 0.38
            (5, 1000, Some(50)),     // 0.5 %
            (-5, 1000, Some(-50)),
            (1, 20_000, Some(1)), // 0.005 % → 0.01 (half away from zero)
            (-1, 20_000, Some(-1)),
            (0, 100, Some(0)),
            (1, 0, None),
        ];
        for (d, b, want) in cases {
            assert_eq!(percent_hundredths(d, b), want, "{d}/{b}");
        }
    }

    proptest::proptest! {
        #[test]
        fn rendered_price_parses_back_exactly(raw in -10_000_000_000i64..10_000_000_000, k in 0u32..=7) {
            let div = 10u32.pow(k);
            let text = p(raw, div);
            // Parse as a decimal by hand: integer part and fraction, scaled by the divisor.
            let (neg, body) = text.strip_prefix('-').map_or((false, text.as_str()), |b| (true, b));
            let (w, f) = body.split_once('.').unwrap_or((body, ""));
            let mut frac = f.to_string();
            while frac.len() < k as usize { frac.push('0'); }
            let back: i64 = w.parse::<i64>().unwrap() * i64::from(div) + if frac.is_empty() { 0 } else { frac.parse::<i64>().unwrap() };
            proptest::prop_assert_eq!(if neg { -back } else { back }, raw);
            proptest::prop_assert_eq!(parse_price(&text, div), Some(raw));
        }
    }
}
