//! Serde for Kite's JSON timestamps: `"yyyy-mm-dd hh:mm:ss"`, IST wall time without an offset
//! (kite.md §8.1). Kept naive here; the caller attaches Asia/Kolkata where it needs an instant.

use chrono::NaiveDateTime;
use serde::{Deserialize, Deserializer, Serializer};

const FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Parses one Kite timestamp.
pub fn parse(text: &str) -> Result<NaiveDateTime, chrono::ParseError> {
    NaiveDateTime::parse_from_str(text, FORMAT)
}

/// Formats one Kite timestamp.
pub fn format(time: &NaiveDateTime) -> String {
    time.format(FORMAT).to_string()
}

pub fn serialize<S: Serializer>(time: &NaiveDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&time.format(FORMAT))
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDateTime, D::Error> {
    // Owned: a borrowed &str fails when deserialising from a `serde_json::Value`.
    let text = String::deserialize(deserializer)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// The same for optional timestamps: `null`, a missing field or `""` is `None`.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(
        time: &Option<NaiveDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => super::serialize(time, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<NaiveDateTime>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(None),
            Some(text) if text.is_empty() => Ok(None),
            Some(text) => parse(&text).map(Some).map_err(serde::de::Error::custom),
        }
    }
}
