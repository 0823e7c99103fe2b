//! Unit and property tests for `price`.

use super::*;
use proptest::prelude::*;

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

#[test]
fn spec_scaling_examples() {
    // (raw, multiplier, precision, expected) from spec §6.7 and §9.2.
    let cases: &[(i64, u16, u8, &str)] = &[
        (81255, 1, 2, "812.55"),
        (81250, 1, 2, "812.50"),
        (1965050, 1, 2, "19650.50"),
        (832512, 1, 4, "83.2512"),
        (832512, 100, 2, "83.2512"),
        (-795, 1, 2, "-7.95"),
        (5, 1, 4, "0.0005"),
        (0, 1, 2, "0.00"),
        (7, 4, 0, "1.75"),
        (1, 1, 0, "1"),
        (i64::from(i32::MIN), 1, 2, "-21474836.48"),
    ];
    for &(raw, multiplier, precision, expected) in cases {
        let scale = Scale::new(multiplier, precision).unwrap();
        let got = scale.to_decimal(raw);
        assert_eq!(
            got.to_string(),
            expected,
            "{raw} / (10^{precision} × {multiplier})"
        );
        assert!(scale.is_terminating());
        assert_eq!(scale.to_raw(got), Some(raw), "inverse of {expected}");
    }
}

#[test]
fn non_terminating_multiplier_rounds_half_even() {
    let third = Scale::new(3, 0).unwrap();
    assert!(!third.is_terminating());
    assert_eq!(third.to_decimal(1).to_string(), "0.333333333333333333");
    assert_eq!(third.to_decimal(2).to_string(), "0.666666666666666667");
    assert_eq!(third.to_decimal(-2).to_string(), "-0.666666666666666667");
    assert_eq!(third.to_decimal(3), dec("1"));
}

#[test]
fn zero_multiplier_is_rejected() {
    assert_eq!(Scale::new(0, 2), Err(ScaleError::ZeroMultiplier));
}

#[test]
fn divisor_and_overflow() {
    assert_eq!(Scale::PAISE.divisor(), Some(100));
    assert_eq!(Scale::new(100, 2).unwrap().divisor(), Some(10_000));
    assert_eq!(Scale::new(65535, 19).unwrap().divisor(), None);
    // Huge precision still converts exactly instead of overflowing.
    let tiny = Scale::new(1, 255).unwrap().to_decimal(1);
    assert_eq!(tiny.scale(), 255);
    assert!(tiny.to_string().ends_with("0001"));
    assert!(tiny.to_f64() > 0.0 && tiny.to_f64() < 1e-254);
}

#[test]
fn to_raw_refuses_inexact_or_oversized() {
    assert_eq!(Scale::PAISE.to_raw(dec("812.555")), None);
    assert_eq!(Scale::PAISE.to_raw(dec("812.5")), Some(81250));
    assert_eq!(Scale::PAISE.to_raw(dec("1e30")), None);
    assert_eq!(Scale::PAISE.to_raw(Decimal::new(0, 1000).unwrap()), Some(0));
}

#[test]
fn parse_table() {
    let cases: &[(&str, Option<(i128, u32)>)] = &[
        ("812.55", Some((81255, 2))),
        ("-7.95", Some((-795, 2))),
        ("+3", Some((3, 0))),
        ("590.50", Some((5905, 1))),
        ("0.0000001", Some((1, 7))),
        (".5", Some((5, 1))),
        ("5.", Some((5, 0))),
        ("1e3", Some((1000, 0))),
        ("1.25E-2", Some((125, 4))),
        (
            "1.000000000000000000000000000000000000000000000",
            Some((1, 0)),
        ),
        ("", None),
        ("-", None),
        (".", None),
        ("1.2.3", None),
        ("12a", None),
        ("1e", None),
        ("1e99999", None),
        ("99999999999999999999999999999999999999999", None),
        ("NaN", None),
    ];
    for &(text, expected) in cases {
        let got = text
            .parse::<Decimal>()
            .ok()
            .map(|d| (d.mantissa(), d.scale()));
        assert_eq!(got, expected, "{text:?}");
    }
}

#[test]
fn equality_is_by_value() {
    assert_eq!(dec("1.50"), dec("1.5"));
    assert_ne!(dec("1.51"), dec("1.5"));
    assert_eq!(dec("0.00"), Decimal::ZERO);
}

#[test]
fn rescale_table() {
    assert_eq!(dec("812.5").rescale(2), Some(81250));
    assert_eq!(dec("812.50").rescale(1), Some(8125));
    assert_eq!(dec("812.55").rescale(1), None);
    assert_eq!(dec("1").rescale(40), None);
}

#[test]
fn serde_reads_numbers_and_strings_exactly() {
    let values: Vec<Decimal> =
        serde_json::from_str(r#"[590.5, 812.55, 0.1, 585, "19650.5", -7.95, 1e-7]"#).unwrap();
    let shown: Vec<String> = values.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "590.5",
            "812.55",
            "0.1",
            "585",
            "19650.5",
            "-7.95",
            "0.0000001"
        ]
    );
    assert!(serde_json::from_str::<Decimal>("\"abc\"").is_err());
    assert!(serde_json::from_str::<Decimal>("true").is_err());
    assert_eq!(serde_json::to_string(&dec("812.55")).unwrap(), "812.55");
}

proptest! {
    #[test]
    fn to_f64_matches_correctly_rounded_parse(raw in any::<i32>(), precision in 0u8..12, multiplier in 1u16..=1000) {
        let scale = Scale::new(multiplier, precision).unwrap();
        let decimal = scale.to_decimal(i64::from(raw));
        let expected: f64 = decimal.to_string().parse().unwrap();
        prop_assert_eq!(decimal.to_f64(), expected);
    }

    #[test]
    fn display_parse_round_trip(mantissa in any::<i64>(), scale in 0u32..40) {
        let decimal = Decimal::new(i128::from(mantissa), scale).unwrap();
        let parsed: Decimal = decimal.to_string().parse().unwrap();
        prop_assert_eq!(parsed, decimal);
    }

    #[test]
    fn terminating_scales_invert_exactly(raw in any::<i32>(), precision in 0u8..10, a in 0u32..6, b in 0u32..4) {
        let multiplier = u16::try_from(2u32.pow(a) * 5u32.pow(b)).unwrap();
        let scale = Scale::new(multiplier, precision).unwrap();
        prop_assert_eq!(scale.to_raw(scale.to_decimal(i64::from(raw))), Some(i64::from(raw)));
    }

    #[test]
    fn from_f64_round_trips(value in -1e12f64..1e12) {
        let decimal = Decimal::from_f64(value).unwrap();
        prop_assert_eq!(decimal.to_f64(), value);
    }
}
