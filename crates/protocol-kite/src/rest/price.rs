//! Conversion of REST decimal prices (`1412.95`) into integer wire units, so prices from
//! `/quote` and from the ticker can be compared and stored the same way.

/// `value × divisor`, rounded to the nearest unit (halves away from zero).
///
/// REST prices are decimals whose binary `f64` form is slightly off (`1412.95 × 100` is
/// `141294.99999999997`), so truncating would lose a unit; rounding recovers the exact tick.
/// NaN gives 0 and values beyond `i64` saturate; neither occurs in a valid Kite response.
pub fn price_to_raw(value: f64, divisor: u32) -> i64 {
    // `as` saturates on overflow and maps NaN to 0, which is the documented behaviour.
    (value * f64::from(divisor)).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            (1412.95, 100, 141_295),
            (1074.35, 100, 107_435),
            (0.05, 100, 5),
            (1573.7, 100, 157_370),
            (15_799.95, 100, 1_579_995),
            (1.234_567_8, 10_000_000, 12_345_678),
            (82.5025, 10_000_000, 825_025_000),
            (1234.5678, 10_000, 12_345_678),
            (0.0, 100, 0),
            (-1.5, 100, -150),
            (-0.005, 100, -1),
            (0.005, 100, 1),
            (0.004_999, 100, 0),
            (f64::NAN, 100, 0),
            (f64::INFINITY, 100, i64::MAX),
            (f64::NEG_INFINITY, 100, i64::MIN),
        ];
        for (value, divisor, raw) in cases {
            assert_eq!(price_to_raw(value, divisor), raw, "{value} / {divisor}");
        }
    }

    #[test]
    fn every_paise_value_up_to_a_lakh_round_trips() {
        // The decimal a server prints for raw/100 must come back as the same raw value.
        for raw in (0..10_000_000i64).step_by(7) {
            let printed = format!("{}.{:02}", raw / 100, raw % 100);
            let value: f64 = printed.parse().unwrap();
            assert_eq!(price_to_raw(value, 100), raw, "{printed}");
        }
    }
}
