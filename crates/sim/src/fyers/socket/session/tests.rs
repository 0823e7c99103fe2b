//! Session behaviour without sockets: request tables before and after auth, subscribe with
//! snapshots, unknown topics and the topic limit, updates as diffs, lite records, pause, stale
//! batches, and releasing demand.

use super::*;
use crate::fyers::catalog::FyersCatalog;
use crate::fyers::registry::{FyersCounters, FyersDemand};
use crate::fyers::tokens::FyersTokens;
use crate::market::{Market, Pace};
use crate::universe::build_universe;
use chrono::{DateTime, Utc};
use feedgate_fyers::hsm::{AuthRequest, ModeRequest, TopicRequest};
use secrecy::SecretString;
use std::sync::Arc;

const NOW: i64 = 1_762_750_000;

struct World {
    universe: Arc<Universe>,
    catalog: FyersCatalog,
    market: Mutex<Market>,
    tokens: Mutex<FyersTokens>,
    demand: FyersDemand,
    counters: FyersCounters,
    hsm_key: String,
}

impl World {
    fn new() -> Self {
        let now = DateTime::<Utc>::from_timestamp(NOW, 0).unwrap();
        let universe = Arc::new(build_universe(crate::clock::ist_date(now)));
        let pace = Pace {
            rate: None,
            speed: 1.0,
        };
        let market = Market::new(Arc::clone(&universe), 3, pace, now);
        let mut tokens = FyersTokens::default();
        let issued = tokens.mint(NOW, NOW + 3600, "FG0001");
        let hsm_key = feedgate_fyers::AccessToken::parse(issued.jwt.expose_secret())
            .unwrap()
            .hsm_key()
            .expose_secret()
            .to_owned();
        Self {
            catalog: FyersCatalog::build(&universe),
            demand: FyersDemand::new(universe.len()),
            universe,
            market: Mutex::new(market),
            tokens: Mutex::new(tokens),
            counters: FyersCounters::default(),
            hsm_key,
        }
    }

    fn env(&self) -> Env<'_> {
        Env {
            catalog: &self.catalog,
            universe: &self.universe,
            market: &self.market,
            tokens: &self.tokens,
            demand: &self.demand,
            counters: &self.counters,
            now_secs: NOW,
            wall: chrono::DateTime::from_timestamp(NOW, 0).unwrap(),
            now: Instant::now(),
        }
    }

    fn idx(&self, topic: &str) -> usize {
        self.catalog.by_topic(topic).unwrap().0.idx
    }
}

fn bytes(frame: &ClientFrame) -> Bytes {
    frame.to_bytes().unwrap()
}

fn decoded(out: &Output) -> Vec<ServerFrame> {
    out.frames
        .iter()
        .map(|f| ServerFrame::decode(f).unwrap())
        .collect()
}

fn auth(key: &str) -> ClientFrame {
    ClientFrame::Auth(AuthRequest::new(SecretString::from(key), "tests"))
}

fn subscribe(topics: &[&str]) -> ClientFrame {
    ClientFrame::Subscribe(TopicRequest {
        topics: topics.iter().map(|t| TopicName::new(*t).unwrap()).collect(),
        channel: Channel::DEFAULT,
    })
}

fn mode(mode: FeedMode) -> ClientFrame {
    ClientFrame::Mode(ModeRequest {
        channels: ChannelMask::single(Channel::DEFAULT),
        mode,
    })
}

fn status(out: &Output) -> Option<(StatusKind, bool)> {
    decoded(out).into_iter().find_map(|f| match f {
        ServerFrame::Status(s) => Some((s.kind, s.status.is_ok())),
        _ => None,
    })
}

fn data(out: &Output) -> Vec<DataFrame> {
    decoded(out)
        .into_iter()
        .filter_map(|f| match f {
            ServerFrame::Data(d) => Some(d),
            _ => None,
        })
        .collect()
}

fn authed(world: &World) -> Session {
    let mut s = Session::new(false, 2, false);
    let out = s.on_message(&bytes(&auth(&world.hsm_key)), &world.env());
    assert!(
        matches!(&decoded(&out)[..], [ServerFrame::AuthReply(r)] if r.status.is_ok() && r.ack_count == 2)
    );
    s
}

#[tokio::test(start_paused = true)]
async fn requests_before_and_after_auth() {
    let world = World::new();
    let env = world.env();
    let mut s = Session::new(false, 0, false);
    let pause = ClientFrame::Pause(ChannelMask::single(Channel::DEFAULT));
    let cases = [
        (subscribe(&["sf|nse_cm|3045"]), StatusKind::Subscribe),
        (mode(FeedMode::Lite), StatusKind::Mode),
        (pause, StatusKind::Pause),
    ];
    for (frame, kind) in &cases {
        assert_eq!(
            status(&s.on_message(&bytes(frame), &env)),
            Some((*kind, false))
        );
    }
    let pong = s.on_message(&bytes(&ClientFrame::Ping), &env);
    assert_eq!(pong.frames, [Bytes::from_static(&[0, 1, 11])]);
    let refused = s.on_message(&bytes(&auth("nope")), &env);
    assert!(matches!(&decoded(&refused)[..], [ServerFrame::AuthReply(r)] if !r.status.is_ok()));
    let ok = s.on_message(&bytes(&auth(&world.hsm_key)), &env);
    assert!(matches!(&decoded(&ok)[..], [ServerFrame::AuthReply(r)] if r.status.is_ok()));
    for (frame, kind) in &cases {
        assert_eq!(
            status(&s.on_message(&bytes(frame), &env)),
            Some((*kind, true))
        );
    }
    assert!(
        s.on_message(b"\x00", &env).frames.is_empty(),
        "garbage is ignored"
    );
    assert_eq!(
        world
            .counters
            .bad_frames_received
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_session_answers_nothing() {
    let world = World::new();
    let mut s = Session::new(true, 0, false);
    for frame in [
        auth(&world.hsm_key),
        ClientFrame::Ping,
        subscribe(&["sf|nse_cm|3045"]),
    ] {
        assert!(s.on_message(&bytes(&frame), &world.env()).frames.is_empty());
    }
    assert!(!s.summary(&world.catalog).authenticated);
}

#[tokio::test(start_paused = true)]
async fn subscribe_snapshots_unknown_topics_and_the_limit() {
    let world = World::new();
    let mut s = authed(&world).with_topic_limit(2);
    let out = s.on_message(
        &bytes(&subscribe(&[
            "sf|nse_cm|3045",
            "nope",
            "if|nse_cm|Nifty 50",
            "dp|nse_cm|3045",
        ])),
        &world.env(),
    );
    let frames = decoded(&out);
    assert!(matches!(&frames[0], ServerFrame::Status(st) if st.status.is_ok()));
    let codes: Vec<Option<i32>> = frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Custom(m) => Some(m.code),
            _ => None,
        })
        .collect();
    assert_eq!(codes, [Some(51_002), Some(51_001)]);
    let snapshots = &data(&out)[0];
    assert_eq!(snapshots.message_number, 1);
    let names: Vec<&str> = snapshots
        .records
        .iter()
        .map(|r| match r {
            Record::Snapshot(s) => s.topic.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["sf|nse_cm|3045", "if|nse_cm|Nifty 50"]);
    assert!(world.demand.wants(world.idx("sf|nse_cm|3045")));
    s.release(&world.demand);
    assert!(!world.demand.wants(world.idx("sf|nse_cm|3045")));
}

/// A batch updating `idx` with the market's next state of it.
fn batch_for(world: &World, idx: usize, seq: u64, tweak: impl Fn(&mut Quote)) -> FyersBatch {
    let mut quote = *lock(&world.market).quote(idx).unwrap();
    tweak(&mut quote);
    FyersBatch {
        seq,
        updates: vec![(idx, quote)],
    }
}

#[tokio::test(start_paused = true)]
async fn updates_are_diffs_lite_records_carry_the_price_and_pause_holds_them() {
    let world = World::new();
    let mut s = authed(&world);
    let sbin = world.idx("sf|nse_cm|3045");
    s.on_message(
        &bytes(&subscribe(&["sf|nse_cm|3045", "dp|nse_cm|3045"])),
        &world.env(),
    );
    let seq = lock(&world.market).seq();
    // A batch not newer than the snapshot is skipped.
    let stale = batch_for(&world, sbin, seq, |q| q.last_price += 5);
    assert!(s.on_batch(&stale, &world.env()).frames.is_empty());
    // Nothing changed: nothing sent.
    let same = batch_for(&world, sbin, seq + 1, |_| {});
    assert!(s.on_batch(&same, &world.env()).frames.is_empty());
    // Only the price changed: one U with one value for the scrip, none for the depth.
    let moved = batch_for(&world, sbin, seq + 2, |q| q.last_price += 5);
    let out = s.on_batch(&moved, &world.env());
    let frame = &data(&out)[0];
    assert_eq!(frame.message_number, 2);
    assert!(matches!(&frame.records[..], [Record::Update(u)] if u.values.len() == 1));
    // Lite: an L record with the new price, nothing for depth.
    s.on_message(&bytes(&mode(FeedMode::Lite)), &world.env());
    let lite = batch_for(&world, sbin, seq + 3, |q| {
        q.last_price += 10;
        q.volume += 7;
    });
    let out = s.on_batch(&lite, &world.env());
    let records = &data(&out)[0].records;
    assert!(
        matches!(&records[..], [Record::Lite(l)] if i64::from(l.ltp) == lite.updates[0].1.last_price)
    );
    // Paused: nothing; the summary says so.
    s.on_message(
        &bytes(&ClientFrame::Pause(ChannelMask::single(Channel::DEFAULT))),
        &world.env(),
    );
    let held = batch_for(&world, sbin, seq + 4, |q| q.last_price += 20);
    assert!(s.on_batch(&held, &world.env()).frames.is_empty());
    let summary = s.summary(&world.catalog);
    assert!(
        summary
            .subscriptions
            .iter()
            .all(|t| t.paused && t.mode == FeedMode::Lite)
    );
}
