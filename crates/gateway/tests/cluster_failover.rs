//! Failover of the real binary (DESIGN.md §9): two `feedgate serve` processes with
//! `FEEDGATE_ROLE=ingest` and one with `FEEDGATE_ROLE=edge` share a real `redis-server` and
//! one simulator. The simulator counts the broker connections: exactly one at every sample
//! (the edge opens none, the standby none), and after `kill -9` of the leader the other node
//! holds the broker connection within 3 s of the lease running out. Needs the built binary
//! (`FEEDGATE_BIN`, set by `./scripts/test`); without it, says so and passes.

mod common;

use common::nodes::{Node, World, logs};
use serde_json::Value;
use std::time::{Duration, Instant};

fn is_leader(node: &Node) -> bool {
    node.health()
        .is_some_and(|h| h["cluster"]["is_leader"] == Value::Bool(true))
}

fn term(node: &Node) -> u64 {
    node.health()
        .and_then(|h| h["cluster"]["term"].as_u64())
        .unwrap_or(0)
}

/// Samples the simulator's broker connections until `done` or `within` passes, asserting
/// never more than one; returns when `done` held (or panics).
fn watch_connections(
    sim: &feedgate_sim::Sim,
    within: Duration,
    nodes: &[&Node],
    mut done: impl FnMut(usize) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let n = sim.state().connections.len();
        assert!(n <= 1, "{n} broker connections at once\n{}", logs(nodes));
        if done(n) {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "timed out\n{}", logs(nodes));
        std::thread::sleep(Duration::from_millis(5));
    }
}

const INFY: u32 = 408_065;
const SBIN: u32 = 779_521;
const RELIANCE: u32 = 738_561;

/// Waits (up to 5 s) until the one broker connection subscribes exactly `tokens`.
fn subscribed(sim: &feedgate_sim::Sim, nodes: &[&Node], tokens: &[u32]) -> Duration {
    let mut want = tokens.to_vec();
    want.sort_unstable();
    let mut seen = Vec::new();
    watch_connections(sim, Duration::from_secs(5), nodes, |n| {
        let st = sim.state();
        seen = st
            .connections
            .first()
            .map(|c| {
                let mut t: Vec<u32> = c.subscriptions.iter().map(|s| s.token).collect();
                t.sort_unstable();
                t
            })
            .unwrap_or_default();
        n == 1 && seen == want
    })
}

#[test]
fn exactly_one_broker_connection_and_kill_9_of_the_leader_fails_over() {
    let Some(w) = World::start(200.0) else {
        return;
    };
    let (sim, cluster) = (&w.sim, &w.cluster);
    let a = cluster.node("node-a", "ingest", "NSE:INFY,NSE:SBIN");
    let b = cluster.node("node-b", "ingest", "NSE:INFY,NSE:SBIN");
    // The edge's own watchlist stands for its clients' demand: the leader subscribes it.
    let edge = cluster.node("edge-1", "edge", "NSE:RELIANCE");
    let all = [&a, &b, &edge];
    watch_connections(sim, Duration::from_secs(20), &all, |n| n == 1);
    let took = subscribed(sim, &all, &[INFY, SBIN, RELIANCE]);
    eprintln!("the edge's demand subscribed upstream {took:?} after the first connection");
    // Exactly one connection while the leader is healthy (longer than a lease), the edge
    // serving too.
    let started = Instant::now();
    watch_connections(sim, Duration::from_secs(5), &all, |n| {
        assert_eq!(n, 1, "the leader's connection stays\n{}", logs(&all));
        started.elapsed() > Duration::from_secs(4)
    });
    let edge_health = edge.health().expect("the edge serves health");
    assert_eq!(edge_health["cluster"]["role"], "edge", "{edge_health}");
    assert_eq!(edge_health["cluster"]["is_leader"], false, "{edge_health}");
    // Its health shows the leader's feed (the one connection), not its own (none).
    assert_eq!(edge_health["feed"]["connections"], 1, "{edge_health}");
    // A node serving its own feed section (not the leader's, marked `from`).
    let own_feed = |h: &Value| h["feed"].get("from").is_none();
    let (mut leader, standby) = match (is_leader(&a), is_leader(&b)) {
        (true, false) => (a, b),
        (false, true) => (b, a),
        other => panic!("one leader expected, got {other:?}\n{}", logs(&all)),
    };
    let old_term = term(&leader);
    let standby_health = standby.health().unwrap();
    assert_eq!(
        standby_health["cluster"]["leader"], leader.name,
        "the standby knows the leader: {standby_health}"
    );
    assert_eq!(
        standby_health["feed"]["from"], leader.name,
        "the standby shows the leader's feed: {standby_health}"
    );
    let edge_health = edge.health().expect("the edge serves health");
    assert_eq!(edge_health["feed"]["from"], leader.name, "{edge_health}");
    assert_eq!(
        edge_health["cluster"]["leader"], leader.name,
        "{edge_health}"
    );
    assert_eq!(edge_health["cluster"]["term"], old_term, "{edge_health}");
    assert!(
        edge_health["cluster"]["lease_ms"]
            .as_u64()
            .is_some_and(|ms| ms <= 3000)
    );
    assert!(
        leader
            .health()
            .is_some_and(|h| h.get("cluster").is_some() && own_feed(&h))
    );

    // kill -9: no release, no goodbye; the lease runs out in Redis.
    leader.child.kill().unwrap();
    leader.child.wait().unwrap();
    let killed = Instant::now();
    let nodes = [&standby, &edge];
    watch_connections(sim, Duration::from_secs(5), &nodes, |n| n == 0);
    let gone = killed.elapsed();
    watch_connections(sim, Duration::from_secs(6), &nodes, |n| n == 1);
    let failover = killed.elapsed();
    eprintln!(
        "broker connection gone {gone:?} after kill -9; the standby's open {failover:?} after"
    );
    assert!(
        failover < Duration::from_millis(3500),
        "failover took {failover:?}\n{}",
        logs(&nodes)
    );
    assert!(is_leader(&standby), "{}", logs(&nodes));
    // The new leader subscribes the cluster's demand, the edge's included.
    subscribed(sim, &nodes, &[INFY, SBIN, RELIANCE]);
    assert!(term(&standby) > old_term, "a new term");
    // The edge learns of the new leader at its next read of the lock (every second).
    let seen = Instant::now();
    while edge.health().map(|h| h["cluster"]["leader"].clone()) != Some(Value::from(standby.name)) {
        assert!(seen.elapsed() < Duration::from_secs(3), "{}", logs(&nodes));
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(leader);
    // And it stays one.
    let started = Instant::now();
    watch_connections(sim, Duration::from_secs(3), &nodes, |n| {
        assert_eq!(n, 1);
        started.elapsed() > Duration::from_secs(2)
    });
    drop(standby);
    drop(edge);
}
