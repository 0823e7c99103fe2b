//! `GET /instruments` and `/instruments/{EXCHANGE}`: feedgate's instrument registry as Kite's
//! CSV dump (kite.md §8.5), in Kite's column order, numbers never empty. `last_price` is 0
//! (Kite's dump is not live either); the exchange token is the instrument token's upper 24
//! bits, as Kite builds its tokens (and feedgate builds the Fyers ones).

use crate::http::AppState;
use crate::http::kite_rest::envelope::KiteFail;
use crate::model::instruments::{Instrument, Registry};
use crate::model::price::write_price;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use feedgate_kite::{InstrumentRecord, InstrumentWriter};
use std::sync::Arc;

pub async fn all(State(app): State<AppState>) -> Response {
    dump(app.registry(), None).await
}

pub async fn by_exchange(State(app): State<AppState>, Path(exchange): Path<String>) -> Response {
    dump(app.registry(), Some(exchange)).await
}

/// Writes the dump on a blocking thread (the full registry is some 100,000 rows).
async fn dump(registry: Arc<Registry>, exchange: Option<String>) -> Response {
    let job = tokio::task::spawn_blocking(move || write_csv(&registry, exchange.as_deref()));
    match job.await {
        Ok(Ok(body)) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"))],
            body,
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot write the instrument dump");
            KiteFail::new(
                feedgate_kite::ErrorType::GeneralException,
                "Cannot write the instrument dump.",
            )
            .into_response()
        }
        Err(_) => KiteFail::network("feedgate is shutting down").into_response(),
    }
}

/// The CSV of every instrument (or those of one exchange, case-insensitive), ordered by
/// exchange and trading symbol.
pub fn write_csv(
    registry: &Registry,
    exchange: Option<&str>,
) -> Result<Vec<u8>, feedgate_kite::InstrumentsError> {
    let mut rows: Vec<&Arc<Instrument>> = registry
        .iter()
        .filter(|i| exchange.is_none_or(|e| i.exchange.eq_ignore_ascii_case(e)))
        .collect();
    rows.sort_by(|a, b| {
        (&a.exchange, &a.tradingsymbol, a.token).cmp(&(&b.exchange, &b.tradingsymbol, b.token))
    });
    let mut out = InstrumentWriter::new(Vec::with_capacity(rows.len() * 80))?;
    let (mut tick_size, mut strike) = (String::new(), String::new());
    for i in rows {
        tick_size.clear();
        write_price(&mut tick_size, i.tick_size, i.divisor);
        strike.clear();
        write_price(&mut strike, i.strike, i.divisor);
        let exchange_token = (i.token >> 8).to_string();
        out.write(&InstrumentRecord {
            instrument_token: i.token,
            exchange_token: &exchange_token,
            tradingsymbol: &i.tradingsymbol,
            name: &i.name,
            last_price: "0",
            expiry: i.expiry,
            strike: &strike,
            tick_size: &tick_size,
            lot_size: i.lot_size,
            instrument_type: &i.instrument_type,
            segment: &i.segment,
            exchange: &i.exchange,
        })?;
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::instruments::InstrumentSpec;

    #[test]
    fn the_dump_has_kites_columns_and_filters_by_exchange() {
        let mut nifty = InstrumentSpec::nse_equity(256_265, "NIFTY 50", "NIFTY 50");
        nifty.segment = "INDICES".into();
        nifty.is_index = true;
        let mut sensex = InstrumentSpec::nse_equity(265, "SENSEX", "SENSEX");
        sensex.exchange = "BSE".into();
        let mut option = InstrumentSpec::nse_equity(12_345 << 8 | 2, "NIFTY25NOV24500CE", "NIFTY");
        option.exchange = "NFO".into();
        option.segment = "NFO-OPT".into();
        option.instrument_type = "CE".into();
        option.expiry = chrono::NaiveDate::from_ymd_opt(2025, 11, 25);
        option.strike = 24_500.0;
        option.lot_size = 75;
        let reg = Registry::new([
            InstrumentSpec::nse_equity(408_065, "INFY", "INFOSYS"),
            nifty,
            sensex,
            option,
        ]);
        let text = String::from_utf8(write_csv(&reg, Some("nse")).unwrap()).unwrap();
        assert_eq!(
            text,
            "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange\n\
             408065,1594,INFY,INFOSYS,0,,0,0.05,1,EQ,NSE,NSE\n\
             256265,1001,NIFTY 50,NIFTY 50,0,,0,0.05,1,EQ,INDICES,NSE\n"
        );
        let rows = feedgate_kite::parse_instruments_body(&write_csv(&reg, None).unwrap()).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].exchange, "BSE");
        let text = String::from_utf8(write_csv(&reg, Some("NFO")).unwrap()).unwrap();
        assert!(
            text.ends_with("\n3160322,12345,NIFTY25NOV24500CE,NIFTY,0,2025-11-25,24500,0.05,75,CE,NFO-OPT,NFO\n"),
            "{text}"
        );
    }
}
