//! The simulated market as clients see it on the wire: prices on the tick grid inside the day's
//! range, volumes strictly increasing per instrument, and determinism per seed. The aggregate
//! tick rate is in `throughput.rs`, alone in its binary so no other test competes for the CPU.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use feedgate_kite::{Mode, Packet};
use feedgate_sim::SimConfig;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

async fn subscribe_all(sim: &TestSim, ws: &mut Ws, mode: Mode) {
    let all: Vec<String> = sim
        .instruments()
        .iter()
        .map(|i| i.token.to_string())
        .collect();
    let list = all.join(",");
    send_text(ws, &format!(r#"{{"a":"subscribe","v":[{list}]}}"#)).await;
    if mode != Mode::Quote {
        send_text(
            ws,
            &format!(r#"{{"a":"mode","v":["{}",[{list}]]}}"#, mode.as_str()),
        )
        .await;
    }
}

/// Packets received during `span` of (tokio) time.
async fn collect(ws: &mut Ws, span: Duration) -> Vec<Packet> {
    let until = Instant::now() + span;
    let mut packets = Vec::new();
    while Instant::now() < until {
        if let Message::Binary(frame) = next(ws).await {
            packets.extend(decode(&frame));
        }
    }
    packets
}

#[tokio::test(start_paused = true)]
async fn every_tick_is_on_the_grid_inside_the_days_range() {
    let sim = start_default().await;
    let ticks: HashMap<u32, i64> = sim
        .instruments()
        .iter()
        .map(|i| (i.token, i.tick_size))
        .collect();
    let mut ws = connect(&sim).await;
    subscribe_all(&sim, &mut ws, Mode::Full).await;
    // Skip the quote snapshot and the full snapshot.
    let packets = collect(&mut ws, Duration::from_secs(30)).await;
    let mut last_volume: HashMap<u32, u32> = HashMap::new();
    let mut updates: HashMap<u32, usize> = HashMap::new();
    for p in &packets {
        let token = p.token();
        let tick = ticks[&token];
        let on_grid = |price: i32| i64::from(price) % tick == 0;
        let check_ohlc = |ltp: i32, o: &feedgate_kite::Ohlc| {
            assert!(o.low <= ltp && ltp <= o.high, "{token}: {o:?} vs {ltp}");
            assert!(o.low <= o.open && o.open <= o.high, "{token}: {o:?}");
            for price in [ltp, o.open, o.high, o.low, o.close] {
                assert!(on_grid(price), "{token}: {price} off the {tick} grid");
            }
        };
        match p {
            Packet::Full(f) => {
                check_ohlc(f.quote.last_price, &f.quote.ohlc);
                assert!(
                    f.depth.buy[0].price < f.depth.sell[0].price,
                    "{token}: crossed"
                );
                for l in f.depth.buy.iter().chain(f.depth.sell.iter()) {
                    assert!(
                        on_grid(l.price) && l.quantity > 0 && l.orders > 0,
                        "{token}: {l:?}"
                    );
                }
                let is_derivative = matches!(token & 0xff, 2 | 3 | 6);
                assert_eq!(f.oi > 0, is_derivative, "{token}: oi {}", f.oi);
                if is_derivative {
                    assert!(f.oi_day_low <= f.oi && f.oi <= f.oi_day_high, "{token}");
                }
                let previous = last_volume.insert(token, f.quote.volume_traded);
                if let Some(previous) = previous {
                    assert!(
                        f.quote.volume_traded > previous,
                        "{token}: volume did not increase"
                    );
                    *updates.entry(token).or_default() += 1;
                }
            }
            Packet::IndexFull(i) => check_ohlc(i.quote.last_price, &i.quote.ohlc),
            // The quote snapshot sent before the switch to full.
            Packet::Quote(_) | Packet::IndexQuote(_) => {}
            other => panic!("unexpected packet {other:?}"),
        }
    }
    // About one update per second per instrument.
    let tradables = ticks.keys().filter(|t| *t & 0xff != 9).count();
    assert_eq!(updates.len(), tradables, "every tradable updated");
    for (token, n) in updates {
        assert!((20..=40).contains(&n), "{token}: {n} updates in 30 s");
    }
}

/// The first `n` packets of a full-mode stream with wall-clock fields zeroed.
async fn stream(seed: u64, n: usize) -> Vec<Packet> {
    let sim = start(SimConfig {
        seed,
        ..SimConfig::default()
    })
    .await;
    let mut ws = connect(&sim).await;
    subscribe_all(&sim, &mut ws, Mode::Full).await;
    let mut packets = Vec::new();
    while packets.len() < n {
        let (_, batch) = next_packets(&mut ws).await;
        packets.extend(
            batch
                .into_iter()
                .filter(|p| p.mode() == Mode::Full)
                .map(|p| match p {
                    Packet::Full(mut f) => {
                        f.last_trade_time = 0;
                        f.exchange_timestamp = 0;
                        Packet::Full(f)
                    }
                    Packet::IndexFull(mut i) => {
                        i.exchange_timestamp = 0;
                        Packet::IndexFull(i)
                    }
                    other => other,
                }),
        );
    }
    packets.truncate(n);
    packets
}

#[tokio::test(start_paused = true)]
async fn same_seed_same_market_different_seed_different_market() {
    let a = stream(7, 400).await;
    let b = stream(7, 400).await;
    let c = stream(8, 400).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
}
