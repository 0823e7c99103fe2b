//! Kite order postbacks for `POST /_sim/order` (pure): one order object with every field of
//! Zerodha's mock `postback.json`, defaults consistent with the order's status and the
//! simulated market, the caller's overrides on top, and Kite's checksum (SHA-256 of
//! `order_id + order_timestamp + api_secret`). Sending it is the control API's job.

use crate::clock::kite_timestamp;
use crate::decimal::to_f64;
use crate::universe::{Instrument, Universe};
use chrono::{DateTime, Utc};
use chrono_tz::Asia::Kolkata;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Every field of a Kite order postback, in the order of Zerodha's mock `postback.json`.
pub(crate) const FIELDS: [&str; 34] = [
    "user_id",
    "unfilled_quantity",
    "app_id",
    "checksum",
    "placed_by",
    "order_id",
    "exchange_order_id",
    "parent_order_id",
    "status",
    "status_message",
    "status_message_raw",
    "order_timestamp",
    "exchange_update_timestamp",
    "exchange_timestamp",
    "variety",
    "exchange",
    "tradingsymbol",
    "instrument_token",
    "order_type",
    "transaction_type",
    "validity",
    "product",
    "quantity",
    "disclosed_quantity",
    "price",
    "trigger_price",
    "average_price",
    "filled_quantity",
    "pending_quantity",
    "cancelled_quantity",
    "market_protection",
    "meta",
    "tag",
    "guid",
];

/// The app id postbacks carry (Kite's is the numeric id of the developer app).
const APP_ID: u64 = 1;
/// The instrument of an order that names none.
const DEFAULT_SYMBOL: &str = "NSE:SBIN";
/// What a rejected order says when the caller gives no `status_message`.
const REJECTION: &str = "RMS: order rejected by the simulator (POST /_sim/order)";

/// Why an order request cannot be turned into a postback.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OrderError {
    #[error("the body must be a JSON object of postback fields to override (or empty)")]
    NotAnObject,
    #[error("unknown postback field {0:?}")]
    UnknownField(String),
    #[error("{field} must be {expected}")]
    BadField {
        field: &'static str,
        expected: &'static str,
    },
    #[error("unknown instrument {0}")]
    UnknownInstrument(String),
    #[error("{0} is an index and cannot be traded")]
    Index(String),
    #[error("filled_quantity {filled} is more than quantity {quantity}")]
    Overfilled { filled: u64, quantity: u64 },
}

/// What a postback's defaults come from besides the overrides.
#[derive(Debug)]
pub(crate) struct OrderContext<'a> {
    pub user_id: &'a str,
    pub api_secret: &'a str,
    pub now: DateTime<Utc>,
    /// 1 for the simulator's first postback, then one more for each.
    pub seq: u64,
    pub universe: &'a Universe,
}

/// The request body's overrides: nothing, or an object of known postback fields.
pub(crate) fn overrides(body: &[u8]) -> Result<Map<String, Value>, OrderError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => known_fields(&map).map(|()| map),
        _ => Err(OrderError::NotAnObject),
    }
}

/// Refuses a field no postback has (a typo would otherwise be sent as a new field).
pub(crate) fn known_fields(o: &Map<String, Value>) -> Result<(), OrderError> {
    match o.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        Some(unknown) => Err(OrderError::UnknownField(unknown.clone())),
        None => Ok(()),
    }
}

fn text<'a>(o: &'a Map<String, Value>, field: &'static str) -> Result<Option<&'a str>, OrderError> {
    match o.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(OrderError::BadField {
            field,
            expected: "a string",
        }),
    }
}

fn count(o: &Map<String, Value>, field: &'static str) -> Result<Option<u64>, OrderError> {
    match o.get(field) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or(OrderError::BadField {
            field,
            expected: "a non-negative integer",
        }),
    }
}

/// The instrument the order is for: its exchange and trading symbol if either is given, else
/// its `instrument_token`, else NSE:SBIN.
fn instrument<'u>(
    o: &Map<String, Value>,
    universe: &'u Universe,
) -> Result<(usize, &'u Instrument), OrderError> {
    let (exchange, symbol) = (text(o, "exchange")?, text(o, "tradingsymbol")?);
    let idx = if exchange.is_some() || symbol.is_some() {
        let name = format!("{}:{}", exchange.unwrap_or("NSE"), symbol.unwrap_or("SBIN"));
        universe
            .index_of_symbol(&name)
            .ok_or(OrderError::UnknownInstrument(name))?
    } else if let Some(token) = o.get("instrument_token") {
        let token =
            token
                .as_u64()
                .and_then(|t| u32::try_from(t).ok())
                .ok_or(OrderError::BadField {
                    field: "instrument_token",
                    expected: "an instrument token (a 32-bit unsigned integer)",
                })?;
        universe
            .index_of_token(token)
            .ok_or_else(|| OrderError::UnknownInstrument(format!("token {token}")))?
    } else {
        universe
            .index_of_symbol(DEFAULT_SYMBOL)
            .ok_or_else(|| OrderError::UnknownInstrument(DEFAULT_SYMBOL.to_owned()))?
    };
    let inst = universe
        .get(idx)
        .ok_or_else(|| OrderError::UnknownInstrument(format!("#{idx}")))?;
    if inst.is_index() {
        return Err(OrderError::Index(inst.symbol()));
    }
    Ok((idx, inst))
}

/// The instrument index the order is for (so the caller can look its price up first).
pub(crate) fn instrument_index(
    o: &Map<String, Value>,
    universe: &Universe,
) -> Result<usize, OrderError> {
    instrument(o, universe).map(|(idx, _)| idx)
}

/// The quantities a status implies: (filled, pending, cancelled).
fn quantities(status: &str, quantity: u64, filled: Option<u64>) -> (u64, u64, u64) {
    match status {
        "COMPLETE" => (filled.unwrap_or(quantity), 0, 0),
        "CANCELLED" => {
            let filled = filled.unwrap_or(0);
            (filled, 0, quantity - filled)
        }
        "REJECTED" => (filled.unwrap_or(0), 0, 0),
        // Still working at the exchange (OPEN, TRIGGER PENDING, UPDATE, … PENDING).
        _ => {
            let filled = filled.unwrap_or(0);
            (filled, quantity - filled, 0)
        }
    }
}

/// What the request decides about the order, the rest being defaults.
struct Terms<'a> {
    inst: &'a Instrument,
    status: &'a str,
    order_type: &'a str,
    quantity: u64,
    /// Filled, pending and cancelled quantities.
    split: (u64, u64, u64),
    /// The instrument's market price in its wire unit.
    last_price: i64,
}

/// Builds the postback: defaults from `ctx` and `last_price` (the instrument's market price in
/// its wire unit), then `o` on top, then the checksum unless `o` gives one.
pub(crate) fn build(
    o: &Map<String, Value>,
    ctx: &OrderContext<'_>,
    last_price: i64,
) -> Result<Map<String, Value>, OrderError> {
    let (_, inst) = instrument(o, ctx.universe)?;
    let status = text(o, "status")?.unwrap_or("COMPLETE");
    let quantity = count(o, "quantity")?.unwrap_or(u64::from(inst.lot_size.max(1)));
    let filled = count(o, "filled_quantity")?;
    if let Some(filled) = filled.filter(|f| *f > quantity) {
        return Err(OrderError::Overfilled { filled, quantity });
    }
    let terms = Terms {
        inst,
        status,
        order_type: text(o, "order_type")?.unwrap_or("MARKET"),
        quantity,
        split: quantities(status, quantity, filled),
        last_price,
    };
    let mut map = defaults(ctx, &terms);
    for (field, value) in o {
        map.insert(field.clone(), value.clone());
    }
    if !o.contains_key("checksum") {
        let sum = checksum(
            map.get("order_id"),
            map.get("order_timestamp"),
            ctx.api_secret,
        );
        map.insert("checksum".to_owned(), Value::String(sum));
    }
    Ok(map)
}

/// Every field but the checksum, consistent with `t`: an order that never reached the
/// exchange (REJECTED) has no exchange id or times; prices are the market's where the order
/// type or a fill implies one, else 0; equity is delivery (CNC), the rest NRML.
fn defaults(ctx: &OrderContext<'_>, t: &Terms<'_>) -> Map<String, Value> {
    let (inst, (filled, pending, cancelled)) = (t.inst, t.split);
    let price = |wanted: bool| -> Value {
        if wanted {
            Value::from(to_f64(t.last_price, inst.divisor))
        } else {
            Value::from(0)
        }
    };
    let at_exchange = t.status != "REJECTED";
    let stamp = kite_timestamp(ctx.now);
    let day = ctx.now.with_timezone(&Kolkata).format("%y%m%d");
    let equity = matches!(inst.exchange.as_str(), "NSE" | "BSE") && !inst.is_derivative();
    let order = json!({
        "user_id": ctx.user_id,
        "unfilled_quantity": 0,
        "app_id": APP_ID,
        "placed_by": ctx.user_id,
        "order_id": format!("{day}{:09}", ctx.seq),
        "exchange_order_id": at_exchange.then(|| format!("{}", 1_000_000_000_000_000 + ctx.seq)),
        "parent_order_id": null,
        "status": t.status,
        "status_message": (!at_exchange).then_some(REJECTION),
        "status_message_raw": (!at_exchange).then_some(REJECTION),
        "order_timestamp": stamp,
        "exchange_update_timestamp": at_exchange.then_some(&stamp),
        "exchange_timestamp": at_exchange.then_some(&stamp),
        "variety": "regular",
        "exchange": inst.exchange,
        "tradingsymbol": inst.tradingsymbol,
        "instrument_token": inst.token,
        "order_type": t.order_type,
        "transaction_type": "BUY",
        "validity": "DAY",
        "product": if equity { "CNC" } else { "NRML" },
        "quantity": t.quantity,
        "disclosed_quantity": 0,
        "price": price(matches!(t.order_type, "LIMIT" | "SL")),
        "trigger_price": price(matches!(t.order_type, "SL" | "SL-M")),
        "average_price": price(filled > 0),
        "filled_quantity": filled,
        "pending_quantity": pending,
        "cancelled_quantity": cancelled,
        "market_protection": 0,
        "meta": {},
        "tag": null,
        "guid": format!("sim{:012}", ctx.seq),
    });
    match order {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Kite's postback checksum: hex SHA-256 of order_id, order_timestamp and the API secret
/// concatenated (strings as they are, anything else as its JSON text, null as nothing).
pub(crate) fn checksum(
    order_id: Option<&Value>,
    timestamp: Option<&Value>,
    secret: &str,
) -> String {
    let part = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    };
    let mut hasher = Sha256::new();
    hasher.update(part(order_id));
    hasher.update(part(timestamp));
    hasher.update(secret);
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::build_universe;

    fn ctx(universe: &Universe, seq: u64) -> OrderContext<'_> {
        OrderContext {
            user_id: "FG0001",
            api_secret: "secret",
            // 2026-12-07 10:15:00 IST.
            now: DateTime::parse_from_rfc3339("2026-12-07T04:45:00Z")
                .unwrap()
                .to_utc(),
            seq,
            universe,
        }
    }

    fn universe() -> Universe {
        build_universe(chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap())
    }

    fn over(v: Value) -> Map<String, Value> {
        overrides(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn defaults_have_every_mock_field_and_are_consistent() {
        let u = universe();
        let o = build(&Map::new(), &ctx(&u, 7), 81_240).unwrap();
        let mock: Map<String, Value> = serde_json::from_str(include_str!(
            "../../../protocol-kite/tests/fixtures/kite-mocks/postback.json"
        ))
        .unwrap();
        let mut want: Vec<_> = mock.keys().cloned().collect();
        let mut got: Vec<_> = o.keys().cloned().collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "exactly the mock's fields");
        assert_eq!(FIELDS.len(), mock.len());
        assert_eq!(o["order_id"], "261207000000007");
        assert_eq!(o["tradingsymbol"], "SBIN");
        assert_eq!(o["instrument_token"], 779_521);
        assert_eq!(o["status"], "COMPLETE");
        assert_eq!(o["order_timestamp"], "2026-12-07 10:15:00");
        assert_eq!(o["exchange_timestamp"], "2026-12-07 10:15:00");
        assert_eq!(o["product"], "CNC");
        assert_eq!(o["quantity"], 1);
        assert_eq!(o["filled_quantity"], 1);
        assert_eq!(o["pending_quantity"], 0);
        assert_eq!(o["average_price"], 812.4);
        assert_eq!(o["price"], 0, "zero as the mock writes it");
        assert_eq!(o["user_id"], "FG0001");
        let sum = hex::encode(Sha256::digest("2612070000000072026-12-07 10:15:00secret"));
        assert_eq!(o["checksum"], sum);
    }

    #[test]
    fn overrides_replace_defaults_and_steer_the_derived_fields() {
        let u = universe();
        let o = build(
            &over(
                json!({"tradingsymbol": "INFY", "status": "OPEN", "quantity": 5,
                         "filled_quantity": 2, "order_type": "LIMIT", "tag": "t1"}),
            ),
            &ctx(&u, 1),
            157_370,
        )
        .unwrap();
        assert_eq!(o["instrument_token"], 408_065);
        assert_eq!(o["pending_quantity"], 3);
        assert_eq!(o["filled_quantity"], 2);
        assert_eq!(o["price"], 1573.7);
        assert_eq!(o["average_price"], 1573.7);
        assert_eq!(o["tag"], "t1");

        let c = build(
            &over(json!({"status": "CANCELLED", "quantity": 4})),
            &ctx(&u, 2),
            1,
        )
        .unwrap();
        assert_eq!(
            (&c["cancelled_quantity"], &c["pending_quantity"]),
            (&json!(4), &json!(0))
        );
        let r = build(&over(json!({"status": "REJECTED"})), &ctx(&u, 3), 1).unwrap();
        assert_eq!(r["exchange_order_id"], Value::Null);
        assert_eq!(r["exchange_timestamp"], Value::Null);
        assert_eq!(r["status_message"], REJECTION);

        let fixed = build(
            &over(json!({"order_id": "X1", "checksum": "abc", "guid": null})),
            &ctx(&u, 4),
            1,
        )
        .unwrap();
        assert_eq!(
            (&fixed["order_id"], &fixed["checksum"], &fixed["guid"]),
            (&json!("X1"), &json!("abc"), &Value::Null)
        );
    }

    #[test]
    fn order_ids_increase_with_the_sequence() {
        let u = universe();
        let a = build(&Map::new(), &ctx(&u, 9), 1).unwrap();
        let b = build(&Map::new(), &ctx(&u, 10), 1).unwrap();
        assert!(a["order_id"].as_str().unwrap() < b["order_id"].as_str().unwrap());
        assert_ne!(a["guid"], b["guid"]);
    }

    #[test]
    fn bad_requests_are_refused_with_what_is_wrong() {
        let u = universe();
        assert_eq!(overrides(b"").unwrap(), Map::new());
        assert_eq!(overrides(b"[1]"), Err(OrderError::NotAnObject));
        assert_eq!(overrides(b"{"), Err(OrderError::NotAnObject));
        assert_eq!(
            overrides(br#"{"qty":1}"#),
            Err(OrderError::UnknownField("qty".into()))
        );
        let cases = [
            (
                json!({"tradingsymbol": "NOPE"}),
                "unknown instrument NSE:NOPE",
            ),
            (json!({"instrument_token": 1}), "unknown instrument token 1"),
            (
                json!({"quantity": -1}),
                "quantity must be a non-negative integer",
            ),
            (json!({"status": 3}), "status must be a string"),
            (
                json!({"tradingsymbol": "NIFTY 50"}),
                "NSE:NIFTY 50 is an index and cannot be traded",
            ),
            (
                json!({"quantity": 1, "filled_quantity": 2}),
                "filled_quantity 2 is more than quantity 1",
            ),
        ];
        for (body, message) in cases {
            let err = build(&over(body.clone()), &ctx(&u, 1), 1).unwrap_err();
            assert_eq!(err.to_string(), message, "{body}");
        }
    }
}
