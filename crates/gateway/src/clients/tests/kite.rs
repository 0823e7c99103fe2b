//! `/kite` connections over the in-memory socket, in paused time: Kite's requests, frames,
//! heartbeats, errors and limits.

use super::*;
use crate::clients::kite::{HEARTBEAT_EVERY, serve_kite};
use crate::model::tick::Full;
use feedgate_kite::{Message as KiteMessage, Mode, Packet, parse_message};

const SBIN: u32 = 779_521;
const INFY: u32 = 408_065;

fn connect_kite(f: &Fixture) -> Client {
    connect_to(f, serve_kite)
}

/// What a Kite client reads: packets, heartbeats and text frames.
#[derive(Debug)]
enum Got {
    Packets(Vec<Packet>),
    Heartbeat,
    Text(Value),
}

impl Client {
    async fn next_kite(&mut self) -> Got {
        let msg = tokio::time::timeout(Duration::from_secs(120), self.rx.recv())
            .await
            .expect("a message within the deadline")
            .expect("socket open");
        match msg {
            Message::Binary(b) => match parse_message(&b).expect("a well-formed frame") {
                KiteMessage::Heartbeat => Got::Heartbeat,
                KiteMessage::Packets(p) => Got::Packets(p.map(|p| p.unwrap()).collect()),
            },
            Message::Text(t) => Got::Text(serde_json::from_str(t.as_str()).unwrap()),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// The next packets, skipping heartbeats.
    async fn packets(&mut self) -> Vec<Packet> {
        loop {
            match self.next_kite().await {
                Got::Packets(p) => return p,
                Got::Heartbeat => {}
                Got::Text(t) => panic!("unexpected text {t}"),
            }
        }
    }

    async fn text(&mut self) -> Value {
        loop {
            match self.next_kite().await {
                Got::Text(t) => return t,
                Got::Heartbeat => {}
                Got::Packets(p) => panic!("unexpected packets {p:?}"),
            }
        }
    }
}

fn full_tick(token: u32, ltp: i64) -> Tick {
    Tick {
        full: Some(Full {
            exchange_ts: Some(1_795_400_000),
            last_trade_ts: Some(1_795_399_999),
            oi: Some(0),
            oi_day_high: Some(0),
            oi_day_low: Some(0),
            depth: None,
        }),
        ..tick(token, ltp, 7)
    }
}

#[tokio::test(start_paused = true)]
async fn subscribe_starts_in_quote_mode_with_the_last_value_then_streams() {
    let f = fixture(ClientLimits::default(), 0);
    // A value known before anyone subscribes (the watchlist or another client).
    let mut json = connect(&f);
    json.send(json!({"action":"subscribe","symbols":["NSE:SBIN"],"mode":"full"}));
    json.next_of("ack").await;
    f.ticks.send(vec![full_tick(SBIN, 81_000)]).await.unwrap();
    json.next_of("ticker").await;

    let mut c = connect_kite(&f);
    c.send_raw(r#"{"a": "subscribe", "v": [779521, 12345]}"#);
    let snap = c.packets().await;
    assert_eq!(snap.len(), 1, "the unknown token is ignored: {snap:?}");
    assert_eq!(snap[0].mode(), Mode::Quote, "Kite's default mode");
    assert_eq!(snap[0].last_price(), 81_000);

    c.send_raw(r#"{"a":"mode","v":["full",[779521]]}"#);
    let full = c.packets().await;
    assert_eq!(
        full[0].mode(),
        Mode::Full,
        "a re-mode sends the value in the new mode"
    );
    f.ticks.send(vec![full_tick(SBIN, 81_050)]).await.unwrap();
    let next = c.packets().await;
    assert_eq!((next[0].mode(), next[0].last_price()), (Mode::Full, 81_050));

    c.send_raw(r#"{"a":"unsubscribe","v":[779521]}"#);
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    f.ticks.send(vec![full_tick(SBIN, 81_100)]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        c.rx.try_recv().is_err(),
        "nothing after an unsubscribe (and no heartbeat within a second)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_bad_request_gets_kite_s_error_text_and_the_connection_stays() {
    let f = fixture(ClientLimits::default(), 0);
    let mut c = connect_kite(&f);
    for bad in [
        "not json",
        r#"{"a":"subscribe"}"#,
        r#"{"a":"mode","v":["depth",[1]]}"#,
    ] {
        c.send_raw(bad);
        let t = c.text().await;
        assert_eq!(t["type"], "error", "{bad}: {t}");
        assert!(t["data"].as_str().is_some_and(|s| !s.is_empty()), "{t}");
    }
    c.send_raw(r#"{"a":"mode","v":["ltp",[408065]]}"#);
    f.ticks.send(vec![tick(INFY, 150_000, 1)]).await.unwrap();
    let p = c.packets().await;
    assert_eq!(
        p[0].mode(),
        Mode::Ltp,
        "a mode for an unsubscribed token subscribes it"
    );
    assert_eq!(p[0].last_price(), 150_000);
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_hears_a_heartbeat_every_second() {
    let f = fixture(ClientLimits::default(), 0);
    let mut c = connect_kite(&f);
    let start = tokio::time::Instant::now();
    for n in 1..=5u32 {
        assert!(matches!(c.next_kite().await, Got::Heartbeat));
        assert_eq!(start.elapsed(), HEARTBEAT_EVERY * n);
    }
    // Data resets the clock: no heartbeat sooner than a second after a frame.
    c.send_raw(r#"{"a":"subscribe","v":[408065]}"#);
    tokio::time::sleep(Duration::from_millis(300)).await;
    f.ticks.send(vec![tick(INFY, 150_000, 1)]).await.unwrap();
    c.packets().await;
    let after = tokio::time::Instant::now();
    assert!(matches!(c.next_kite().await, Got::Heartbeat));
    assert_eq!(after.elapsed(), HEARTBEAT_EVERY);
}

#[tokio::test(start_paused = true)]
async fn a_reader_behind_gets_the_newest_value_and_every_instrument_once() {
    let f = fixture(ClientLimits::default(), 0);
    let mut c = connect_kite(&f);
    c.send_raw(r#"{"a":"subscribe","v":[408065, 779521]}"#);
    tokio::time::sleep(Duration::from_millis(10)).await;
    // Three updates of one instrument and one of another reach the hub before the client's
    // task runs: one frame, both instruments, the newest value of each.
    f.ticks
        .send(vec![
            tick(INFY, 150_000, 1),
            tick(SBIN, 81_000, 1),
            tick(INFY, 150_100, 2),
            tick(INFY, 150_200, 3),
        ])
        .await
        .unwrap();
    let p = c.packets().await;
    let got: Vec<(u32, i32)> = p.iter().map(|p| (p.token(), p.last_price())).collect();
    assert_eq!(got, [(INFY, 150_200), (SBIN, 81_000)]);
}

#[tokio::test(start_paused = true)]
async fn tokens_past_the_cap_are_refused_with_an_error() {
    let limits = ClientLimits {
        max_symbols: 1,
        ..ClientLimits::default()
    };
    let f = fixture(limits, 0);
    let mut c = connect_kite(&f);
    c.send_raw(r#"{"a":"subscribe","v":[408065, 779521]}"#);
    let t = c.text().await;
    assert!(
        t["data"]
            .as_str()
            .unwrap()
            .contains("at most 1 tokens per connection; 1 not subscribed"),
        "{t}"
    );
    f.ticks
        .send(vec![tick(INFY, 150_000, 1), tick(SBIN, 81_000, 1)])
        .await
        .unwrap();
    let p = c.packets().await;
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].token(), INFY);
    assert_eq!(
        f.ctx
            .status
            .gauges
            .kite_connections
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}
