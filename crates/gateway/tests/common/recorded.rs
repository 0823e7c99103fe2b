//! Recordings as a client sees them: the ticks of a recorded day decoded with the normal
//! decode path, conflated as a client's outbox conflates ticks that arrive at one instant, to
//! compare with what a `/ws/market` client received (recording and replay tests).

// Helpers of tests: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

use feedgate_gateway::brokers::recorded::RecordedDecoder;
use feedgate_gateway::model::price::write_price;
use feedgate_gateway::model::tick::Tick;
use feedgate_gateway::store::recording::reader::DayRecording;
use feedgate_gateway::store::recording::root;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The values a client sees of a tick, as text: (token, ltp, volume, ltq, atp, buy, sell).
pub type Seen = (u64, String, String, String, String, String, String);

pub fn seen_from_client(d: &Value) -> Seen {
    let s = |k: &str| d[k].to_string();
    (
        d["token"].as_u64().unwrap(),
        s("ltp"),
        s("volume"),
        s("ltq"),
        s("atp"),
        s("buy_qty"),
        s("sell_qty"),
    )
}

/// What a client of `tokens` would see of the recording of `date`, per token in order: the
/// frames decoded with the normal decode path, and of the frames received at one instant the
/// newest tick of each token. (A client's outbox holds the newest value per instrument: in
/// paused time a simulator batch arrives as frames at one instant, all decoded and handed to
/// the hub before the client's task runs, so ticks of one instrument within it conflate, by
/// design. Across instants the client keeps up and misses nothing.)
pub fn seen_in_recording(
    data_dir: &Path,
    date: chrono::NaiveDate,
    tokens: &[u64],
) -> (BTreeMap<u64, Vec<Seen>>, usize) {
    let day = DayRecording::open(&root(data_dir), date).unwrap();
    let mut decoder = RecordedDecoder::new();
    let mut frames = day.frames(i64::MIN, i64::MAX);
    let mut per_token: BTreeMap<u64, Vec<Seen>> = BTreeMap::new();
    let mut raw = 0;
    let mut newest: BTreeMap<u64, Seen> = BTreeMap::new();
    let mut instant = None;
    let mut ticks = Vec::new();
    for rf in frames.by_ref() {
        if instant != Some(rf.frame.ts_ns) {
            for (token, seen) in std::mem::take(&mut newest) {
                per_token.entry(token).or_default().push(seen);
            }
            instant = Some(rf.frame.ts_ns);
        }
        decoder.decode(&rf, &mut ticks).unwrap();
        for t in ticks
            .drain(..)
            .filter(|t| tokens.contains(&u64::from(t.token)))
        {
            raw += 1;
            newest.insert(u64::from(t.token), seen_from_tick(&t));
        }
    }
    for (token, seen) in newest {
        per_token.entry(token).or_default().push(seen);
    }
    assert!(frames.damage().is_empty(), "{:?}", frames.damage());
    (per_token, raw)
}

pub fn seen_from_tick(t: &Tick) -> Seen {
    let price = |raw: i64| {
        let mut s = String::new();
        write_price(&mut s, raw, t.divisor);
        // As a JSON number reads back.
        serde_json::from_str::<Value>(&s).unwrap().to_string()
    };
    let opt = |v: Option<u64>| v.map_or("null".to_string(), |v| v.to_string());
    let q = t.quote.unwrap();
    // A full-mode client is sent the trade fields only with a full packet: a quote packet (the
    // broker's default mode, before the gateway's mode request took effect) has them, but the
    // ticker leaves them out, as it does live.
    let trade = |v: String| if t.full.is_some() { v } else { "null".into() };
    (
        u64::from(t.token),
        price(t.ltp),
        opt(q.volume),
        trade(opt(q.last_qty)),
        trade(q.avg_price.map_or("null".into(), price)),
        trade(opt(q.buy_qty)),
        trade(opt(q.sell_qty)),
    )
}
