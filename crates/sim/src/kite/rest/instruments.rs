//! `GET /instruments[/{exchange}]`: the instrument dump as CSV (kite.md §8.5), written by
//! `feedgate_kite`'s [`InstrumentWriter`] (Kite's column order, no spaces in the header) with
//! never an empty numeric field. Unauthenticated, like Kite's.

use crate::decimal;
use crate::registry::lock;
use crate::shared::Shared;
use crate::universe::Instrument;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use feedgate_kite::{InstrumentRecord, InstrumentWriter, InstrumentsError};
use std::sync::Arc;
use tracing::error;

/// Renders `rows` (instrument and its `last_price` in wire units) as Kite's CSV; the column
/// layout is `feedgate_kite`'s, the exact decimals are the simulator's.
pub(crate) fn render<'a>(
    rows: impl IntoIterator<Item = (&'a Instrument, i64)>,
) -> Result<Vec<u8>, InstrumentsError> {
    let mut writer = InstrumentWriter::new(Vec::new())?;
    for (inst, last_price) in rows {
        writer.write(&InstrumentRecord {
            instrument_token: inst.token,
            exchange_token: &inst.exchange_token.to_string(),
            tradingsymbol: &inst.tradingsymbol,
            name: &inst.name,
            last_price: &decimal::format(last_price, inst.divisor),
            expiry: inst.expiry,
            strike: &decimal::format(inst.strike, inst.divisor),
            tick_size: &decimal::format(inst.tick_size, inst.divisor),
            lot_size: inst.lot_size,
            instrument_type: inst.instrument_type.as_str(),
            segment: &inst.segment,
            exchange: &inst.exchange,
        })?;
    }
    writer.finish()
}

fn respond(shared: &Shared, exchange: Option<&str>) -> Response {
    let universe = &shared.universe;
    // The dump is a start-of-day file: its last_price is the previous close, not live.
    let closes: Vec<i64> = {
        let mut market = lock(&shared.market);
        market.follow(shared.clock.now());
        (0..universe.len())
            .map(|i| market.quote(i).map_or(0, |q| q.close))
            .collect()
    };
    let rows = universe
        .instruments()
        .iter()
        .zip(closes)
        .filter(|(inst, _)| exchange.is_none_or(|e| inst.exchange.eq_ignore_ascii_case(e)));
    match render(rows) {
        Ok(body) => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response(),
        Err(err) => {
            error!(error = %err, "cannot render the instrument csv");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

pub(crate) async fn all(State(shared): State<Arc<Shared>>) -> Response {
    respond(&shared, None)
}

pub(crate) async fn by_exchange(
    State(shared): State<Arc<Shared>>,
    Path(exchange): Path<String>,
) -> Response {
    respond(&shared, Some(&exchange))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::build_universe;

    #[test]
    fn csv_has_kites_header_and_no_empty_numbers() {
        let u = build_universe("2025-11-10".parse().unwrap());
        let body = render(u.instruments().iter().map(|i| (i, i.base_price))).unwrap();
        let text = String::from_utf8(body).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange"
        );
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let mut rows = 0;
        for record in reader.records() {
            let r = record.unwrap();
            rows += 1;
            for col in [0, 4, 6, 7, 8] {
                let field = &r[col];
                assert!(field.parse::<f64>().is_ok(), "column {col} of {:?}", r);
            }
        }
        assert_eq!(rows, u.len());
    }

    #[test]
    fn rows_render_like_the_mock_dump() {
        let u = build_universe("2025-11-10".parse().unwrap());
        let row = |symbol: &str| {
            let inst = u.get(u.index_of_symbol(symbol).unwrap()).unwrap();
            let body = render([(inst, inst.base_price)]).unwrap();
            String::from_utf8(body)
                .unwrap()
                .lines()
                .nth(1)
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            row("NSE:INFY"),
            "408065,1594,INFY,INFOSYS,1500.0,,0.0,0.05,1,EQ,NSE,NSE"
        );
        assert_eq!(
            row("NSE:NIFTY 50"),
            "256265,1001,NIFTY 50,NIFTY 50,24300.0,,0.0,0.05,0,EQ,INDICES,NSE"
        );
        assert_eq!(
            row("NFO:NIFTY25NOV24300CE"),
            "11174402,43650,NIFTY25NOV24300CE,NIFTY,245.0,2025-11-25,24300.0,0.05,75,CE,NFO-OPT,NFO"
        );
        assert_eq!(
            row("CDS:USDINR25NOVFUT"),
            "486659,1901,USDINR25NOVFUT,USDINR,88.5,2025-11-26,0.0,0.0025,1,FUT,CDS-FUT,CDS"
        );
        assert_eq!(
            row("NSE:ADANIPORTS"),
            "3861249,15083,ADANIPORTS,ADANI PORT & SEZ,1450.0,,0.0,0.05,1,EQ,NSE,NSE"
        );
    }
}
