//! Fyers numbers → integer prices at the instrument's divisor: REST decimals
//! ([`decimal_units`]) and data-socket values with their topic scale ([`units`]), exact on the
//! tick grid and rounded half away from zero off it. Shared by the REST adapter and the socket's
//! tick conversion.

use feedgate_fyers::price::div_round_half_away;
use feedgate_fyers::{Decimal, Scale};

/// An exact REST decimal in the instrument's wire units (rounded half away from zero in the
/// unlikely case it has more decimals than the divisor).
pub fn decimal_units(d: Decimal, divisor: u32) -> Option<i64> {
    let digits = divisor.max(1).ilog10();
    if let Some(exact) = d.rescale(digits) {
        return i64::try_from(exact).ok();
    }
    let den = 10i128.checked_pow(d.scale())?;
    let num = d.mantissa().checked_mul(i128::from(divisor))?;
    i64::try_from(div_round_half_away(num, den)).ok()
}

/// `raw / (10^precision × multiplier)` in units of `1 / divisor`.
pub fn units(raw: i32, scale: Scale, divisor: u32) -> Option<i64> {
    let den = i128::from(scale.divisor()?);
    let num = i128::from(raw) * i128::from(divisor);
    i64::try_from(div_round_half_away(num, den)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_convert_exactly_or_round() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let cases = [
            ("812.55", 100, Some(81_255)),
            ("812.5", 100, Some(81_250)),
            ("-0.05", 100, Some(-5)),
            ("88.5025", 10_000, Some(885_025)),
            ("810.125", 100, Some(81_013)),
            ("-810.125", 100, Some(-81_013)),
            ("810.124", 100, Some(81_012)),
            ("1e30", 100, None),
        ];
        for (text, div, want) in cases {
            assert_eq!(decimal_units(d(text), div), want, "{text}");
        }
    }

    #[test]
    fn units_are_exact_on_the_grid_and_rounded_off_it() {
        let s = |m, p| Scale::new(m, p).unwrap();
        let cases = [
            (81_255, s(1, 2), 100, Some(81_255)),
            (832_512, s(1, 4), 10_000, Some(832_512)),
            (832_512, s(100, 2), 10_000, Some(832_512)),
            (81_255, s(1, 2), 10_000, Some(8_125_500)),
            (812_555, s(1, 3), 100, Some(81_256)),
            (-812_555, s(1, 3), 100, Some(-81_256)),
            (10, s(3, 0), 100, Some(333)),
            (1, s(1, 255), 100, None),
        ];
        for (raw, scale, div, want) in cases {
            assert_eq!(units(raw, scale, div), want, "{raw} {scale:?} {div}");
        }
    }
}
