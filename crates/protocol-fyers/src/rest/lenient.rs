//! Tolerant field readers for REST bodies whose exact types are third-party reports (spec
//! §10, tagged [T]/[U]): a field of an unexpected type becomes `None` instead of failing the
//! whole response, because the callers (token probe, REST fallback) need the rest of it. Numbers
//! arrive as JSON numbers or numeric strings (`tt` is a string in the sample).

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::price::Decimal;

/// `null` (or absence, with `#[serde(default)]`) becomes `T::default()`.
pub(crate) fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// A string; numbers and booleans are rendered as text; anything else is `None`.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(text) => Some(text),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    })
}

/// An integer from a number (whole floats included) or a numeric string.
pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(number) => number.as_i64().or_else(|| whole(number.as_f64()?)),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    })
}

/// A flag from a boolean, 0/1, or the strings `true`/`false`/`Y`/`N`.
pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(flag) => Some(flag),
        Value::Number(number) => match number.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "y" | "yes" | "1" => Some(true),
            "false" | "n" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    })
}

/// An exact decimal from a number or a numeric string.
pub(crate) fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(number) => match (number.as_i64(), number.as_f64()) {
            (Some(int), _) => Decimal::new(i128::from(int), 0),
            (None, Some(float)) => Decimal::from_f64(float),
            (None, None) => None,
        },
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    })
}

fn whole(float: f64) -> Option<i64> {
    // `as` saturates; the checks keep only values that convert exactly.
    (float.fract() == 0.0 && float.abs() < 9.0e15).then_some(float as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "opt_string")]
        s: Option<String>,
        #[serde(default, deserialize_with = "opt_i64")]
        i: Option<i64>,
        #[serde(default, deserialize_with = "opt_bool")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "opt_decimal")]
        d: Option<Decimal>,
        #[serde(default, deserialize_with = "null_default")]
        v: Vec<u8>,
    }

    type Probed = (
        Option<String>,
        Option<i64>,
        Option<bool>,
        Option<String>,
        Vec<u8>,
    );

    fn probe(json: &str) -> Probed {
        let p: Probe = serde_json::from_str(json).unwrap();
        (p.s, p.i, p.b, p.d.map(|d| d.to_string()), p.v)
    }

    #[test]
    fn tolerant_table() {
        let cases = [
            (r#"{}"#, (None, None, None, None, vec![])),
            (
                r#"{"s":"x","i":"1691020800","b":"Y","d":"812.55","v":[1]}"#,
                (
                    Some("x".into()),
                    Some(1_691_020_800),
                    Some(true),
                    Some("812.55".into()),
                    vec![1],
                ),
            ),
            (
                r#"{"s":12,"i":27774877.0,"b":0,"d":590.5,"v":null}"#,
                (
                    Some("12".into()),
                    Some(27_774_877),
                    Some(false),
                    Some("590.5".into()),
                    vec![],
                ),
            ),
            (
                r#"{"s":null,"i":1.5,"b":"maybe","d":"n/a"}"#,
                (None, None, None, None, vec![]),
            ),
            (
                r#"{"s":[1],"i":{},"b":[],"d":true}"#,
                (None, None, None, None, vec![]),
            ),
            (
                r#"{"d":585}"#,
                (None, None, None, Some("585".into()), vec![]),
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(probe(json), expected, "{json}");
        }
    }
}
