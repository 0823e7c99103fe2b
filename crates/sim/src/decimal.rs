//! Exact rendering of wire integers (prices in a segment's smallest unit) as decimals, for the
//! instrument CSV and the REST JSON. Not a general decimal type: only power-of-ten divisors.

/// Renders `raw / divisor` exactly, with the shortest fraction that keeps every digit and at
/// least one decimal place (`0.0`, `1573.7`, `0.0025`), the way Kite's instrument dump writes
/// numbers. `divisor` must be a power of ten (1 renders `raw.0`).
pub(crate) fn format(raw: i64, divisor: i64) -> String {
    let digits = decimal_places(divisor);
    let sign = if raw < 0 { "-" } else { "" };
    let magnitude = raw.unsigned_abs();
    let scale = 10u64.pow(digits);
    let int_part = magnitude / scale;
    let frac_part = magnitude % scale;
    if digits == 0 || frac_part == 0 {
        return format!("{sign}{int_part}.0");
    }
    let frac = format!("{frac_part:0width$}", width = digits as usize);
    format!("{sign}{int_part}.{}", frac.trim_end_matches('0'))
}

/// The JSON number for `raw / divisor`.
///
/// This is one IEEE division of two exactly representable integers (|raw| < 2^53), which is
/// correctly rounded: the result is the double nearest to the exact decimal, i.e. the same value
/// `"1573.7".parse::<f64>()` gives, so serde_json's shortest round-trip printing writes exactly
/// the decimal digits. No other arithmetic is done on prices in floating point.
pub(crate) fn to_f64(raw: i64, divisor: i64) -> f64 {
    raw as f64 / divisor as f64
}

/// Number of decimal places of a power-of-ten divisor (100 → 2). Other values are treated as
/// the nearest lower power of ten, which never happens for the segments we serve.
pub(crate) fn decimal_places(divisor: i64) -> u32 {
    let mut places = 0;
    let mut rest = divisor;
    while rest >= 10 {
        rest /= 10;
        places += 1;
    }
    places
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_like_the_instrument_dump() {
        let cases = [
            (0, 100, "0.0"),
            (157_370, 100, "1573.7"),
            (157_300, 100, "1573.0"),
            (5, 100, "0.05"),
            (25_000, 10_000_000, "0.0025"),
            (885_000_000, 10_000_000, "88.5"),
            (25, 10_000, "0.0025"),
            (-150, 100, "-1.5"),
            (2_350_000, 100, "23500.0"),
            (7, 1, "7.0"),
        ];
        for (raw, divisor, want) in cases {
            assert_eq!(format(raw, divisor), want, "{raw}/{divisor}");
        }
    }

    #[test]
    fn json_numbers_print_the_exact_decimal() {
        let cases = [
            (157_370, 100, "1573.7"),
            (141_295, 100, "1412.95"),
            (25_000, 10_000_000, "0.0025"),
            (841_234_500, 10_000_000, "84.12345"),
            (5, 100, "0.05"),
        ];
        for (raw, divisor, want) in cases {
            let json = serde_json::to_string(&to_f64(raw, divisor)).unwrap();
            assert_eq!(json, want);
        }
    }

    proptest! {
        #[test]
        fn format_round_trips_through_parsing(raw in -2_000_000_000i64..2_000_000_000, exp in 0u32..8) {
            let divisor = 10i64.pow(exp);
            let text = format(raw, divisor);
            let (int, frac) = text.trim_start_matches('-').split_once('.').unwrap();
            let frac_digits = u32::try_from(frac.len()).unwrap();
            prop_assert!(frac_digits <= exp.max(1));
            let mut value: i64 = format!("{int}{frac}").parse().unwrap();
            // Rescale the parsed digits back to `exp` places.
            if frac_digits <= exp {
                value *= 10i64.pow(exp - frac_digits);
            } else {
                value /= 10;
            }
            if raw < 0 { value = -value; }
            prop_assert_eq!(value, raw);
            prop_assert_eq!(to_f64(raw, divisor), text.parse::<f64>().unwrap());
        }
    }
}
