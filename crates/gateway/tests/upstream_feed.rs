//! The gateway's upstream as the simulator sees it (issue 3, item 7): clients share one upstream
//! subscription per instrument at the highest mode they ask for (1); the last unsubscribe or
//! disconnect unsubscribes upstream (2); after a drop the gateway reconnects, resubscribes in
//! the right modes and ticks resume (3); a stalled socket is detected and replaced within the
//! liveness timeout (4); a malformed frame is skipped on the same connection (5); more than
//! 3000 instruments open a second upstream connection (6).
//!
//! Everything timed runs in paused time (`start_paused = true`): the simulator's market, the
//! gateway's watchdog, and the clients' arrival timestamps all follow tokio's clock, so
//! recovery times are measured exactly and cost no real time.
//!
//! A pattern used throughout: at the default pace the simulator updates an instrument at most
//! once every 0.5 s (jittered 0.5–1.5 s). So right after a client receives a tick of a symbol,
//! nothing newer for that symbol is in flight; the next tick of it that arrives was produced
//! later (after a fault injected at that moment, it came through a new connection).

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    EnvBuilder, WAIT, client, next_tick, received, sim_until, subs, subscribe, through_stall,
    tick_after, volume, wait_until,
};
use feedgate_gateway::upstream::FeedEvent;
use feedgate_gateway::upstream::state::Disconnect;
use feedgate_kite::Mode;
use feedgate_sim::Fault;
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

const SBIN: u32 = 779_521;
const INFY: u32 = 408_065;
const RELIANCE: u32 = 738_561;

// ---------------------------------------------------------------------------------------------
// 1. two clients share one upstream subscription at the highest mode
// ---------------------------------------------------------------------------------------------

/// What these tests check is the upstream following the clients at once: a departed client's
/// instruments do not linger for a resume (`tests/resume.rs` covers the lingering).
const NO_LINGER: (&str, &str) = ("FEEDGATE_RESUME_LINGER_S", "0");

#[tokio::test(start_paused = true)]
async fn two_clients_share_one_upstream_subscription_at_the_highest_mode() {
    let env = EnvBuilder::new()
        .var(NO_LINGER.0, NO_LINGER.1)
        .start()
        .await;
    let mut a = client(&env).await;
    subscribe(&mut a, &["NSE:SBIN"], "ltp").await;
    assert!(
        sim_until(&env, WAIT, |s| subs(s) == [vec![(SBIN, Mode::Ltp)]]).await,
        "{:?}",
        env.sim_state()
    );
    let mut b = client(&env).await;
    subscribe(&mut b, &["NSE:SBIN"], "full").await;
    assert!(
        sim_until(&env, WAIT, |s| subs(s) == [vec![(SBIN, Mode::Full)]]).await,
        "ltp + full → full: {:?}",
        env.sim_state()
    );
    let st = env.sim_state();
    assert_eq!(st.connections.len(), 1, "one ticker connection");
    assert_eq!(st.connections[0].slots_used, 1, "the token subscribed once");
    assert_eq!(st.upgrades.accepted, 1);

    // Each client gets its own mode from the one upstream subscription.
    let ta = next_tick(&mut a, "NSE:SBIN", WAIT).await.expect("a ticks");
    assert!(ta["data"].get("volume").is_none(), "ltp mode: {ta}");
    assert!(ta["data"].get("open").is_none(), "ltp mode: {ta}");
    // b's snapshot from the cache carries what the ltp-era upstream delivered; once the
    // upstream is in full mode, b's ticks carry the depth.
    let end = Instant::now() + WAIT;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let tb = next_tick(&mut b, "NSE:SBIN", left)
            .await
            .expect("b ticks in full mode");
        if tb["data"]["depth"].is_object() {
            break;
        }
    }

    let status = env.ws_status().await;
    assert_eq!(status["connections"], 2, "{status}");
    assert_eq!(status["subscribed_instruments"], 1, "{status}");
    assert_eq!(status["upstream"]["subscribed"], 1, "{status}");

    // The full-mode client leaves: the upstream mode falls back to ltp, same connection.
    let conn = st.connections[0].id;
    b.ws.close(None).await.unwrap();
    assert!(
        sim_until(&env, WAIT, |s| subs(s) == [vec![(SBIN, Mode::Ltp)]]).await,
        "{:?}",
        env.sim_state()
    );
    assert_eq!(env.sim_state().connections[0].id, conn);
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 2. last unsubscribe unsubscribes upstream; a disconnect counts as unsubscribing
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_last_unsubscribe_or_disconnect_unsubscribes_upstream() {
    let env = EnvBuilder::new()
        .var(NO_LINGER.0, NO_LINGER.1)
        .start()
        .await;
    let mut a = client(&env).await;
    let mut b = client(&env).await;
    let mut c = client(&env).await;
    subscribe(&mut a, &["NSE:SBIN", "NSE:INFY"], "quote").await;
    subscribe(&mut b, &["NSE:SBIN"], "quote").await;
    subscribe(&mut c, &["NSE:INFY"], "quote").await;
    let both = vec![(INFY, Mode::Quote), (SBIN, Mode::Quote)];
    assert!(sim_until(&env, WAIT, |s| subs(s) == [both.clone()]).await);
    let conn = env.sim_state().connections[0].id;

    // a leaves SBIN and INFY; b and c still want them. The next request (RELIANCE) proves that
    // the unsubscribe went all the way through (the hub serves requests in order).
    a.send(json!({"action": "unsubscribe", "symbols": ["NSE:SBIN", "NSE:INFY"]}))
        .await;
    let ack = a.next_of("ack", WAIT).await.unwrap();
    assert_eq!(
        (ack["action"].as_str(), ack["count"].as_u64()),
        (Some("unsubscribe"), Some(2))
    );
    subscribe(&mut a, &["NSE:RELIANCE"], "quote").await;
    let three = vec![
        (INFY, Mode::Quote),
        (RELIANCE, Mode::Quote),
        (SBIN, Mode::Quote),
    ];
    assert!(
        sim_until(&env, WAIT, |s| subs(s) == [three.clone()]).await,
        "{:?}",
        env.sim_state()
    );

    // b closes politely: SBIN goes.
    b.ws.close(None).await.unwrap();
    let two = vec![(INFY, Mode::Quote), (RELIANCE, Mode::Quote)];
    assert!(
        sim_until(&env, WAIT, |s| subs(s) == [two.clone()]).await,
        "{:?}",
        env.sim_state()
    );
    // c vanishes without a close frame: INFY goes.
    drop(c);
    assert!(
        sim_until(&env, WAIT, |s| subs(s) == [vec![(RELIANCE, Mode::Quote)]]).await,
        "{:?}",
        env.sim_state()
    );
    // a's last unsubscribe: nothing left upstream, and the connection stays up.
    a.send(json!({"action": "unsubscribe", "symbols": ["NSE:RELIANCE"]}))
        .await;
    assert!(
        sim_until(&env, WAIT, |s| subs(s) == [Vec::new()]).await,
        "{:?}",
        env.sim_state()
    );
    let st = env.sim_state();
    assert_eq!(
        st.connections[0].id, conn,
        "incremental changes, no reconnect"
    );
    assert_eq!(st.connections[0].slots_used, 0);
    assert!(
        wait_until(WAIT, || async {
            let s = env.ws_status().await;
            s["connections"] == 1 && s["subscribed_instruments"] == 0
        })
        .await,
        "{}",
        env.ws_status().await
    );
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 3. drop → reconnect, resubscribe with the right modes, ticks resume
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn after_a_drop_the_gateway_reconnects_resubscribes_and_ticks_resume() {
    let env = EnvBuilder::new().start().await;
    let mut a = client(&env).await;
    subscribe(&mut a, &["NSE:SBIN"], "ltp").await;
    subscribe(&mut a, &["NSE:INFY"], "full").await;
    let mut b = client(&env).await;
    subscribe(&mut b, &["NSE:SBIN"], "quote").await;
    let mut probe = client(&env).await;
    subscribe(&mut probe, &["NSE:RELIANCE"], "ltp").await;
    let want = vec![
        (INFY, Mode::Full),
        (RELIANCE, Mode::Ltp),
        (SBIN, Mode::Quote),
    ];
    assert!(
        sim_until(&env, WAIT, |s| subs(s) == [want.clone()]).await,
        "{:?}",
        env.sim_state()
    );
    let old = env.sim_state().connections[0].id;
    let mut events = env.gw().upstream.subscribe_events();

    // Wait for a real RELIANCE update, then drop the broker connection at that instant.
    let first = next_tick(&mut probe, "NSE:RELIANCE", WAIT).await.unwrap();
    while next_tick(&mut probe, "NSE:RELIANCE", WAIT).await.unwrap()["data"]["ltp"]
        == first["data"]["ltp"]
    {}
    let fault_at = Instant::now();
    env.fault(Fault::Drop);
    let tick = next_tick(&mut probe, "NSE:RELIANCE", Duration::from_secs(10))
        .await
        .expect("ticks resume after a drop");
    let recovery = fault_at.elapsed();
    println!("drop → first tick at the client: {recovery:?} (paused time)");
    assert!(
        recovery <= Duration::from_millis(1500),
        "recovery took {recovery:?}"
    );
    assert_eq!(tick["data"]["src"], "ws");

    // One new connection, with everything resubscribed in the right modes.
    assert!(
        sim_until(&env, WAIT, |s| s.connections.len() == 1
            && s.connections[0].id != old
            && subs(s) == [want.clone()])
        .await,
        "{:?}",
        env.sim_state()
    );
    let st = env.sim_state();
    assert_eq!(st.upgrades.accepted, 2);
    assert_eq!(st.faults.drops, 1);
    assert_eq!(st.connections[0].slots_used, 3);

    // The typed lifecycle: disconnected (socket closed or errored), connected, resubscribed.
    let seen = received(&mut events);
    assert!(
        seen.iter()
            .any(|e| matches!(e, FeedEvent::Disconnected { reason, .. }
            if matches!(reason, Disconnect::Closed { .. } | Disconnect::Error(_)))),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, FeedEvent::Connected { shard: 0, .. })),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, FeedEvent::Resubscribed { instruments: 3, .. })),
        "{seen:?}"
    );

    // Every client keeps receiving in its own mode, from the new connection (a second after
    // the fault, anything still in flight from the old one is long delivered).
    let later = fault_at + Duration::from_secs(1);
    let t = tick_after(&mut a, "NSE:INFY", later).await;
    assert!(t["data"]["depth"].is_object(), "INFY still full: {t}");
    let t = tick_after(&mut a, "NSE:SBIN", later).await;
    assert!(t["data"].get("volume").is_none(), "a's SBIN still ltp: {t}");
    let t = tick_after(&mut b, "NSE:SBIN", later).await;
    assert!(
        t["data"]["volume"].is_u64() && t["data"].get("depth").is_none(),
        "b's SBIN still quote: {t}"
    );

    let status = env.ws_status().await;
    assert_eq!(status["upstream"]["state"], "connected", "{status}");
    assert_eq!(status["upstream"]["shards"][0]["reconnects"], 1, "{status}");
    assert_eq!(status["upstream"]["subscribed"], 3, "{status}");
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 4. stall → detected by the watchdog, reconnect, ticks resume
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_stalled_socket_is_detected_and_replaced_within_the_liveness_timeout() {
    let env = EnvBuilder::new().start().await;
    let mut a = client(&env).await;
    subscribe(&mut a, &["NSE:SBIN", "NSE:INFY"], "full").await;
    let mut probe = client(&env).await;
    subscribe(&mut probe, &["NSE:RELIANCE"], "quote").await;
    let want = vec![
        (INFY, Mode::Full),
        (RELIANCE, Mode::Quote),
        (SBIN, Mode::Full),
    ];
    assert!(sim_until(&env, WAIT, |s| subs(s) == [want.clone()]).await);
    let old = env.sim_state().connections[0].id;
    let mut events = env.gw().upstream.subscribe_events();

    // Stall right after a real RELIANCE update: the last frame reached the gateway just now.
    let first = next_tick(&mut probe, "NSE:RELIANCE", WAIT).await.unwrap();
    let last = loop {
        let t = next_tick(&mut probe, "NSE:RELIANCE", WAIT).await.unwrap();
        if volume(&t) > volume(&first) {
            break volume(&t);
        }
    };
    let stall_at = Instant::now();
    env.fault(Fault::Stall { seconds: 30.0 });
    // REST quotes bridge the gap about a second in; the socket is replaced at the liveness
    // timeout.
    let (bridged, tick, recovery) = through_stall(&mut probe, "NSE:RELIANCE", stall_at).await;
    let bridged = bridged.expect("a REST tick bridged the stall");
    println!("stall → REST tick {bridged:?}, socket tick {recovery:?} (paused time)");
    assert!(
        bridged >= Duration::from_millis(900) && bridged <= Duration::from_millis(2500),
        "the bridge started {bridged:?} into the stall"
    );
    assert!(
        recovery >= Duration::from_millis(2900),
        "a socket tick came through the stalled socket after {recovery:?}"
    );
    // Silence 3 s after a connection that had only just started delivering: counted as a
    // failure, from the short delays (0.5 s ± 20 %).
    assert!(
        recovery <= Duration::from_millis(4000),
        "recovery took {recovery:?}"
    );
    // The new connection's snapshot carries what the market did meanwhile.
    assert!(volume(&tick) > last, "{tick}");

    // The watchdog's verdict, then a fresh connection with everything resubscribed (the
    // stalled one is still open on the simulator's side, frozen).
    let seen = received(&mut events);
    assert!(
        seen.iter().any(|e| matches!(e, FeedEvent::Disconnected {
            reason: Disconnect::Dead { silent_for }, ..
        } if *silent_for >= Duration::from_secs(3) && *silent_for < Duration::from_millis(3500))),
        "{seen:?}"
    );
    assert!(
        sim_until(&env, WAIT, |s| s
            .connections
            .iter()
            .any(|c| c.id != old && !c.stalled && c.subscriptions.len() == 3))
        .await,
        "{:?}",
        env.sim_state()
    );
    let fresh = env
        .sim_state()
        .connections
        .into_iter()
        .find(|c| c.id != old)
        .unwrap();
    let modes: Vec<(u32, Mode)> = fresh
        .subscriptions
        .iter()
        .map(|s| (s.token, s.mode))
        .collect();
    assert_eq!(modes, want);
    assert!(env.sim_state().faults.stalled_connections.contains(&old));

    let status = env.ws_status().await;
    assert_eq!(status["upstream"]["state"], "connected", "{status}");
    assert_eq!(status["upstream"]["shards"][0]["reconnects"], 1, "{status}");
    let h = env.health().await;
    assert_eq!(h["feed"]["state"], "connected", "{h}");
    // And the other client streams again, from the new connection.
    let t = tick_after(&mut a, "NSE:INFY", stall_at + recovery).await;
    assert!(t["data"]["depth"].is_object(), "{t}");
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 5. malformed frame → skipped, same connection, feed continues
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_malformed_frame_is_skipped_and_the_feed_continues_on_the_same_connection() {
    let env = EnvBuilder::new().start().await;
    let mut c = client(&env).await;
    subscribe(&mut c, &["NSE:SBIN"], "full").await;
    assert!(sim_until(&env, WAIT, |s| subs(s) == [vec![(SBIN, Mode::Full)]]).await);
    let conn = env.sim_state().connections[0].id;
    let mut events = env.gw().upstream.subscribe_events();
    next_tick(&mut c, "NSE:SBIN", WAIT).await.unwrap();

    let fault_at = Instant::now();
    env.fault(Fault::Malformed);
    assert!(sim_until(&env, WAIT, |s| s.faults.malformed_frames_sent == 1).await);
    // Updates keep coming for seconds afterwards, strictly newer each time.
    let mut last = 0;
    let mut after = 0;
    while after < 3 {
        let t = next_tick(&mut c, "NSE:SBIN", WAIT)
            .await
            .expect("the feed continues");
        assert!(volume(&t) >= last);
        last = volume(&t);
        if fault_at.elapsed() >= Duration::from_secs(1) {
            after += 1;
        }
    }
    let st = env.sim_state();
    assert_eq!(st.connections.len(), 1);
    assert_eq!(st.connections[0].id, conn, "no reconnect");
    assert_eq!(st.upgrades.accepted, 1);
    assert!(
        events.try_recv().is_err(),
        "no lifecycle event (no disconnect) after a malformed frame"
    );
    let status = env.ws_status().await;
    assert_eq!(status["upstream"]["shards"][0]["reconnects"], 0, "{status}");
    assert_eq!(status["upstream"]["state"], "connected", "{status}");
    env.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// 6. more than 3000 instruments → a second upstream connection
// ---------------------------------------------------------------------------------------------

fn syn(range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.map(|n| format!("NSE:SYN{n:04}")).collect()
}

#[tokio::test(start_paused = true)]
async fn more_than_3000_instruments_open_a_second_upstream_connection() {
    let env = EnvBuilder::new()
        .var(NO_LINGER.0, NO_LINGER.1)
        .sim(|s| s.extra_instruments = 3_100)
        .start()
        .await;
    // Kite's per-connection cap is 3000; so is a client's: two clients, 2000 + 1001.
    let mut a = client(&env).await;
    let first = syn(1..=2000);
    let refs: Vec<&str> = first.iter().map(String::as_str).collect();
    let ack = subscribe(&mut a, &refs, "ltp").await;
    assert_eq!(ack["count"], 2000);
    assert!(
        sim_until(&env, WAIT, |s| s.connections.len() == 1
            && s.connections[0].subscriptions.len() == 2000)
        .await
    );
    let mut b = client(&env).await;
    let second = syn(2001..=3001);
    let refs: Vec<&str> = second.iter().map(String::as_str).collect();
    let ack = subscribe(&mut b, &refs, "ltp").await;
    assert_eq!(ack["count"], 1001);

    assert!(
        sim_until(&env, WAIT, |s| {
            let n: Vec<usize> = s
                .connections
                .iter()
                .map(|c| c.subscriptions.len())
                .collect();
            n == [3000, 1]
        })
        .await,
        "{:?}",
        env.sim_state()
            .connections
            .iter()
            .map(|c| c.subscriptions.len())
            .collect::<Vec<_>>()
    );
    let st = env.sim_state();
    let mut all: Vec<u32> = st
        .connections
        .iter()
        .flat_map(|c| c.subscriptions.iter().map(|s| s.token))
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 3001, "each instrument on exactly one connection");
    assert!(st.connections.iter().all(|c| c.slots_used <= 3000));

    // The instrument on the second connection streams too.
    let extra = st.connections[1].subscriptions[0].token;
    let extra_symbol = env
        .sim
        .instruments()
        .into_iter()
        .find(|i| i.token == extra)
        .unwrap()
        .symbol();
    assert_eq!(
        extra_symbol, "NSE:SYN3001",
        "assignment is sticky: the newest one moved"
    );
    assert!(
        next_tick(&mut b, &extra_symbol, WAIT).await.is_some(),
        "{extra_symbol} ticks"
    );

    let status = env.ws_status().await;
    let shards = status["upstream"]["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 2, "{status}");
    assert!(shards.iter().all(|s| s["state"] == "connected"), "{status}");
    assert_eq!(shards[0]["subscribed"], 3000);
    assert_eq!(shards[1]["subscribed"], 1);
    assert_eq!(status["upstream"]["subscribed"], 3001);
    assert_eq!(status["subscribed_instruments"], 3001);

    // When the demand fits one connection again, the extra one closes.
    b.ws.close(None).await.unwrap();
    assert!(
        sim_until(&env, WAIT, |s| s.connections.len() == 1).await,
        "{:?}",
        env.sim_state().connections.len()
    );
    assert!(
        wait_until(WAIT, || async {
            env.ws_status().await["upstream"]["shards"]
                .as_array()
                .is_some_and(|s| s.len() == 1)
        })
        .await
    );
    env.shutdown().await;
}
