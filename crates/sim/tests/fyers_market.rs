//! Both brokers stream one market: the Kite ticker and the Fyers data socket of the same
//! simulator carry the same prices for the same update (matched by the strictly increasing
//! volume), and so do Kite's `/quote` and Fyers' `/data/quotes` at the same instant.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;
mod fyers_common;

use common::{auth_header, connect, next_packets, send_text, start_default};
use feedgate_fyers::hsm::{ScripField, SnapshotStore, TopicState};
use feedgate_kite::Packet;
use fyers_common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// What both feeds carry for a tradable, in wire units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    ltp: i64,
    average: i64,
    open: i64,
    high: i64,
    low: i64,
    close: i64,
    buy_quantity: i64,
    sell_quantity: i64,
}

fn from_fyers(state: &TopicState) -> (i64, Seen) {
    let f = |field: ScripField| i64::from(state.scrip(field).unwrap());
    (
        f(ScripField::VolTradedToday),
        Seen {
            ltp: f(ScripField::Ltp),
            average: f(ScripField::AvgTradePrice),
            open: f(ScripField::OpenPrice),
            high: f(ScripField::HighPrice),
            low: f(ScripField::LowPrice),
            close: f(ScripField::PrevClosePrice),
            buy_quantity: f(ScripField::TotBuyQty),
            sell_quantity: f(ScripField::TotSellQty),
        },
    )
}

fn from_kite(packet: &Packet) -> Option<(i64, Seen)> {
    let Packet::Full(full) = packet else {
        return None;
    };
    let q = &full.quote;
    Some((
        i64::from(q.volume_traded),
        Seen {
            ltp: i64::from(q.last_price),
            average: i64::from(q.average_traded_price),
            open: i64::from(q.ohlc.open),
            high: i64::from(q.ohlc.high),
            low: i64::from(q.ohlc.low),
            close: i64::from(q.ohlc.close),
            buy_quantity: i64::from(q.total_buy_quantity),
            sell_quantity: i64::from(q.total_sell_quantity),
        },
    ))
}

#[tokio::test(start_paused = true)]
async fn ticker_and_data_socket_carry_the_same_updates() {
    let sim = start_default().await;
    const SBIN_TOKEN: u32 = 779_521;
    let mut kite = connect(&sim).await;
    send_text(
        &mut kite,
        &format!(r#"{{"a":"subscribe","v":[{SBIN_TOKEN}]}}"#),
    )
    .await;
    send_text(
        &mut kite,
        &format!(r#"{{"a":"mode","v":["full",[{SBIN_TOKEN}]]}}"#),
    )
    .await;
    let mut fyers = logged_in(&sim).await;
    assert!(subscribe(&mut fyers, &[SBIN]).await);

    let mut store = SnapshotStore::new();
    let topic = topics(&[SBIN]).remove(0);
    let mut by_kite: HashMap<i64, Seen> = HashMap::new();
    let mut by_fyers: HashMap<i64, Seen> = HashMap::new();
    while by_fyers.len() < 15 || by_kite.len() < 15 {
        tokio::select! {
            (_, packets) = next_packets(&mut kite) => {
                by_kite.extend(packets.iter().filter(|p| p.token() == SBIN_TOKEN).filter_map(from_kite));
            }
            data = next_data(&mut fyers) => {
                for record in &data.records {
                    store.apply(record).unwrap();
                    let (volume, seen) = from_fyers(store.by_topic(&topic).unwrap());
                    by_fyers.insert(volume, seen);
                }
            }
        }
    }
    let mut matched = 0;
    for (volume, fyers_seen) in &by_fyers {
        if let Some(kite_seen) = by_kite.get(volume) {
            assert_eq!(kite_seen, fyers_seen, "volume {volume}");
            matched += 1;
        }
    }
    assert!(matched >= 10, "only {matched} updates seen on both sides");
}

#[tokio::test(start_paused = true)]
async fn kite_and_fyers_quotes_agree_at_the_same_instant() {
    let sim = start_default().await;
    let kite_token = sim.mint_access_token();
    let fyers_token = sim.mint_fyers_token();
    let mut matched = 0;
    for _ in 0..6 {
        let kite: Value = http()
            .get(format!(
                "{}/quote?i=NSE:SBIN&i=NSE:NIFTY%2050",
                sim.base_url()
            ))
            .header("authorization", auth_header(&kite_token))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let fyers: Value = http()
            .get(format!(
                "{}/data/quotes?symbols=NSE:SBIN-EQ,NSE:NIFTY50-INDEX",
                sim.fyers_api_url()
            ))
            .header("authorization", &fyers_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let k = &kite["data"]["NSE:SBIN"];
        let f = &fyers["d"][0]["v"];
        // Volume identifies the update: equal volume, equal everything.
        if k["volume"] == f["volume"] {
            matched += 1;
            assert_eq!(k["last_price"], f["lp"]);
            assert_eq!(k["ohlc"]["open"], f["open_price"]);
            assert_eq!(k["ohlc"]["high"], f["high_price"]);
            assert_eq!(k["ohlc"]["low"], f["low_price"]);
            assert_eq!(k["ohlc"]["close"], f["prev_close_price"]);
            assert_eq!(k["average_price"], f["atp"]);
            assert_eq!(k["depth"]["buy"][0]["price"], f["bid"]);
            assert_eq!(k["depth"]["sell"][0]["price"], f["ask"]);
            assert_eq!(k["net_change"], f["ch"]);
        }
        let (kn, fnifty) = (&kite["data"]["NSE:NIFTY 50"], &fyers["d"][1]["v"]);
        assert_eq!(kn["ohlc"]["close"], fnifty["prev_close_price"]);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        matched >= 3,
        "only {matched} of 6 samples at the same update"
    );
}
