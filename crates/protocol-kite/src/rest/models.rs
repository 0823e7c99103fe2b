//! Response models of the REST endpoints the gateway uses (kite.md §8.2–8.4). They deserialize
//! Zerodha's mock responses and serialize the same shapes (the simulator serves them). Fields
//! Kite may omit default instead of failing the whole response; unknown fields are ignored.
//! Prices are the decimals Kite sends; [`super::price::price_to_raw`] turns them into wire units.

use chrono::NaiveDateTime;
use serde::{Deserialize, Deserializer, Serialize};

use crate::rest::secret::{AccessToken, Redacted};
use crate::segment::InstrumentToken;

/// `data` of `GET /user/profile`. Carries no tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub user_id: String,
    #[serde(default)]
    pub user_type: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub user_name: String,
    #[serde(default)]
    pub user_shortname: String,
    #[serde(default)]
    pub broker: String,
    #[serde(default)]
    pub exchanges: Vec<String>,
    #[serde(default)]
    pub products: Vec<String>,
    #[serde(default)]
    pub order_types: Vec<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub meta: UserMeta,
}

/// `meta` of a profile or session.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demat_consent: Option<String>,
}

/// `data` of `POST /session/token`: the user plus the tokens of the new session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub user_id: String,
    #[serde(default)]
    pub user_type: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub user_name: String,
    #[serde(default)]
    pub user_shortname: String,
    #[serde(default)]
    pub broker: String,
    #[serde(default)]
    pub exchanges: Vec<String>,
    #[serde(default)]
    pub products: Vec<String>,
    #[serde(default)]
    pub order_types: Vec<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
    pub api_key: String,
    pub access_token: AccessToken,
    #[serde(default)]
    pub public_token: Redacted,
    #[serde(default)]
    pub enctoken: Redacted,
    #[serde(default)]
    pub refresh_token: Redacted,
    #[serde(default)]
    pub silo: String,
    /// IST wall time of the login. Always present: pykiteconnect indexes it unchecked.
    #[serde(with = "crate::rest::time")]
    pub login_time: NaiveDateTime,
    #[serde(default)]
    pub meta: UserMeta,
}

/// Open, high, low and close as decimals.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct OhlcDecimal {
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
}

/// One depth level of a quote.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct QuoteDepthLevel {
    pub price: f64,
    #[serde(deserialize_with = "count")]
    pub quantity: u64,
    #[serde(deserialize_with = "count")]
    pub orders: u64,
}

/// Five bid and five ask levels, best first; empty levels are zeros. Absent for indices.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QuoteDepth {
    #[serde(default)]
    pub buy: Vec<QuoteDepthLevel>,
    #[serde(default)]
    pub sell: Vec<QuoteDepthLevel>,
}

/// One instrument of `GET /quote`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    pub instrument_token: InstrumentToken,
    /// Exchange time of the quote (IST wall time).
    #[serde(default, with = "crate::rest::time::option")]
    pub timestamp: Option<NaiveDateTime>,
    #[serde(default, with = "crate::rest::time::option")]
    pub last_trade_time: Option<NaiveDateTime>,
    pub last_price: f64,
    #[serde(default, deserialize_with = "count")]
    pub last_quantity: u64,
    #[serde(default, deserialize_with = "count")]
    pub buy_quantity: u64,
    #[serde(default, deserialize_with = "count")]
    pub sell_quantity: u64,
    #[serde(default, deserialize_with = "count")]
    pub volume: u64,
    #[serde(default)]
    pub average_price: f64,
    #[serde(default, deserialize_with = "count")]
    pub oi: u64,
    #[serde(default, deserialize_with = "count")]
    pub oi_day_high: u64,
    #[serde(default, deserialize_with = "count")]
    pub oi_day_low: u64,
    /// Absolute change from the previous close.
    #[serde(default)]
    pub net_change: f64,
    #[serde(default)]
    pub lower_circuit_limit: f64,
    #[serde(default)]
    pub upper_circuit_limit: f64,
    #[serde(default)]
    pub ohlc: OhlcDecimal,
    #[serde(default)]
    pub depth: QuoteDepth,
}

/// One instrument of `GET /quote/ltp`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LtpQuote {
    pub instrument_token: InstrumentToken,
    pub last_price: f64,
}

/// One instrument of `GET /quote/ohlc`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OhlcQuote {
    pub instrument_token: InstrumentToken,
    pub last_price: f64,
    #[serde(default)]
    pub ohlc: OhlcDecimal,
}

/// A non-negative count that Kite writes as an integer; an integral float (`5.0`) or `null` is
/// accepted too, so a cosmetic change on Kite's side does not fail a whole quote.
fn count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Int(u64),
        Float(f64),
        Null,
    }
    match Number::deserialize(deserializer)? {
        Number::Int(n) => Ok(n),
        Number::Null => Ok(0),
        Number::Float(f) if f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 => Ok(f as u64),
        Number::Float(f) => Err(serde::de::Error::custom(format_args!(
            "expected a non-negative whole number, got {f}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_accept_integral_numbers() {
        let cases = [
            (json!(5), Some(5)),
            (json!(5.0), Some(5)),
            (json!(null), Some(0)),
            (json!(-1), None),
            (json!(1.5), None),
            (json!("5"), None),
        ];
        for (value, expected) in cases {
            let level = json!({"price": 1.0, "quantity": value, "orders": 1});
            let parsed = serde_json::from_value::<QuoteDepthLevel>(level)
                .ok()
                .map(|l| l.quantity);
            assert_eq!(parsed, expected, "{value}");
        }
    }

    #[test]
    fn optional_timestamps() {
        let base = json!({"instrument_token": 1, "last_price": 1.5});
        let cases = [
            (json!(null), None),
            (json!(""), None),
            (
                json!("2021-06-08 15:45:56"),
                crate::rest::time::parse("2021-06-08 15:45:56").ok(),
            ),
        ];
        for (value, expected) in cases {
            let mut quote = base.clone();
            quote["timestamp"] = value.clone();
            let parsed: Quote = serde_json::from_value(quote).unwrap();
            assert_eq!(parsed.timestamp, expected, "{value}");
        }
        let missing: Quote = serde_json::from_value(base).unwrap();
        assert_eq!(missing.timestamp, None);
        let mut bad = json!({"instrument_token": 1, "last_price": 1.5});
        bad["timestamp"] = json!("08/06/2021");
        assert!(serde_json::from_value::<Quote>(bad).is_err());
    }

    #[test]
    fn session_debug_hides_tokens() {
        let session: Session = serde_json::from_value(json!({
            "user_id": "XX0000", "api_key": "k", "access_token": "acc-s3cr3t",
            "public_token": "pub-s3cr3t", "enctoken": "enc-s3cr3t", "refresh_token": "ref-s3cr3t",
            "login_time": "2021-01-01 16:15:14"
        }))
        .unwrap();
        let shown = format!("{session:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert_eq!(session.access_token.expose(), "acc-s3cr3t");
        // the simulator serialises the same shape back, tokens included
        let back = serde_json::to_value(&session).unwrap();
        assert_eq!(back["access_token"], "acc-s3cr3t");
        assert_eq!(back["login_time"], "2021-01-01 16:15:14");
    }
}
