//! The leader's status on the other nodes (DESIGN.md §9, issue 16 item 5), with the real
//! binary: an ingest node and an edge share a real `redis-server` and the simulator.
//!
//! - The edge's health serves the leader's auth and feed sections (marked `"from"`), so it
//!   shows the leader's broker connection and subscriptions, and the leader's verdict.
//! - kill -9 of the only ingest node: within a few seconds the edge's verdict says there is no
//!   leader; a new ingest node: the edge shows its status again.
//! - Candle files: on SIGTERM the leader writes the day's, the edge none.
//!
//! Real time by nature (processes, Redis): every wait is until a condition, bounded. Needs the
//! built binary (`FEEDGATE_BIN`, set by `./scripts/test`); without it, says so and passes.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::nodes::{Node, World, logs};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Polls `node`'s health (up to `within`) until `ok` holds; returns it and how long it took.
fn until(
    node: &Node,
    others: &[&Node],
    within: Duration,
    ok: impl Fn(&Value) -> bool,
) -> (Value, Duration) {
    let started = Instant::now();
    let mut last = Value::Null;
    loop {
        if let Some(h) = node.health() {
            if ok(&h) {
                return (h, started.elapsed());
            }
            last = h;
        }
        assert!(
            started.elapsed() < within,
            "{}'s health not as expected within {within:?}: {last}\n{}",
            node.name,
            logs(others)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The edge shows `leader`'s connected feed.
fn follows(h: &Value, leader: &str) -> bool {
    h["feed"]["from"] == leader && h["auth"]["from"] == leader && h["feed"]["state"] == "connected"
}

/// A section without what changes from one second to the next, and without `from`.
fn steady(section: &Value, drop: &[&str]) -> Value {
    let mut s = section.clone();
    for k in drop.iter().chain(&["from"]) {
        s.as_object_mut().unwrap().remove(*k);
    }
    s
}

/// SIGTERM (a clean shutdown: the archive saves), then waits for the process to end.
fn terminate(node: &mut Node) {
    let pid = node.child.id().to_string();
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(ok.success());
    let started = Instant::now();
    while node.child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{} did not stop",
            node.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The first message a new `/ws/market` client of `node` gets.
fn first_status(w: &World, node: &Node) -> Value {
    use futures_util::StreamExt;
    let url = format!("ws://127.0.0.1:{}/ws/market", node.port);
    w.cluster.rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
                return serde_json::from_str(t.as_str()).unwrap();
            }
        }
    })
}

fn candle_files(w: &World, node: &str) -> usize {
    std::fs::read_dir(w.cluster.dir.path().join(node).join("candles"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn an_edge_shows_the_leaders_auth_and_feed_and_says_when_there_is_no_leader() {
    let Some(w) = World::start(200.0) else {
        return;
    };
    let mut ingest = w.cluster.node("in-1", "ingest", "NSE:INFY,NSE:SBIN");
    let mut edge = w.cluster.node("edge-1", "edge", "NSE:RELIANCE");
    let all = [&ingest, &edge];

    let (h, took) = until(&edge, &all, Duration::from_secs(30), |h| follows(h, "in-1"));
    eprintln!("edge follows the leader after {took:?}: {h}");
    let leader = ingest.health().unwrap();
    assert_eq!(leader["cluster"]["is_leader"], true, "{leader}");
    assert!(
        leader["feed"].get("from").is_none(),
        "the leader serves its own: {leader}"
    );
    assert_eq!(
        steady(&h["auth"], &["token_age_hours", "login_url"]),
        steady(&leader["auth"], &["token_age_hours", "login_url"])
    );
    // A login completes on any node: the edge offers its own, where the browser's session is.
    assert_eq!(
        h["auth"]["login_url"],
        format!("http://127.0.0.1:{}/api/login", edge.port),
        "{h}"
    );
    let moving = [
        "last_tick_seconds_ago",
        "connection_quality",
        "order_updates_total",
    ];
    // The leader subscribes the edge's demand too; wait until both agree on it.
    let (h, _) = until(&edge, &all, Duration::from_secs(10), |h| {
        let leader = ingest.health().unwrap_or_default();
        follows(h, "in-1") && steady(&h["feed"], &moving) == steady(&leader["feed"], &moving)
    });
    assert_eq!(
        h["feed"]["connections"], 1,
        "the leader's broker connection: {h}"
    );
    assert!(h["feed"]["subscribed"].as_u64().unwrap() >= 3, "{h}");
    assert_eq!(h["recording"]["from"], "in-1", "{h}");
    assert_eq!(h["priority_status"], leader["priority_status"], "{h}");
    // What the edge's clients are told is the leader's feed too, not the edge's own idle one.
    let status = first_status(&w, &edge);
    assert_eq!(status["type"], "connection_status", "{status}");
    assert_eq!(status["auth_required"], false, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with('✓'),
        "{status}"
    );

    // No ingest node left: the edge says so, whatever its own feed says.
    ingest.kill();
    let (h, took) = until(&edge, &[&edge], Duration::from_secs(10), |h| {
        h["priority_message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("No leader")
    });
    eprintln!(
        "edge says no leader {took:?} after the kill -9: {}",
        h["priority_message"]
    );
    assert_eq!(h["priority_status"], "FEED_DISCONNECTED", "{h}");
    assert!(h["feed"].get("from").is_none(), "{h}");

    let mut ingest = w.cluster.node("in-2", "ingest", "NSE:INFY");
    let (h, took) = until(&edge, &[&ingest, &edge], Duration::from_secs(30), |h| {
        follows(h, "in-2")
    });
    eprintln!(
        "edge follows the new leader {took:?} after its start: {}",
        h["priority_message"]
    );
    assert!(
        !h["priority_message"]
            .as_str()
            .unwrap()
            .starts_with("No leader"),
        "{h}"
    );

    // Candle files are the leader's: once the edge has candles to write (from the relayed
    // ticks), a clean shutdown of both leaves files on the leader only.
    terminate(&mut edge);
    terminate(&mut ingest);
    assert!(
        candle_files(&w, "in-2") > 0,
        "the leader saves the day's candles\n{}",
        ingest.log()
    );
    assert_eq!(
        candle_files(&w, "edge-1"),
        0,
        "the edge writes none\n{}",
        edge.log()
    );
}
