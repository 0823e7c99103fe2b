//! The broker login in a cluster of real processes (DESIGN.md §9): started on one edge,
//! completed through the callback on another, exchanged by the leader, shared sealed through
//! Redis; after `kill -9` of the leader the standby holds the broker connection with that token
//! (no node has any other: none is given `ZERODHA_ACCESS_TOKEN`). A node with another
//! `FEEDGATE_SECRET_KEY` says once that it ignores the shared token; a clustered node without
//! one refuses to start. Needs the built binary (`FEEDGATE_BIN`, set by `./scripts/test`);
//! without it, says so and passes.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::data_dir::feedgate_binary;
use common::login::{location, parse_form, query_map};
use common::nodes::{Node, World, logs};
use common::redis_server::RedisServer;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Polls `ok` every 100 ms for up to `within`; panics with every node's log.
fn wait_for(what: &str, within: Duration, nodes: &[&Node], mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(
            started.elapsed() < within,
            "timed out waiting for {what}\n{}",
            logs(nodes)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn health(node: &Node, path: &[&str]) -> Value {
    let mut v = node.health().unwrap_or(Value::Null);
    for p in path {
        v = v[*p].take();
    }
    v
}

/// The node's auth state and token source (`null`: it has no token).
fn auth_is(node: &Node, state: &str, source: Value) -> bool {
    let auth = health(node, &["auth"]);
    auth["state"] == state && auth["token_source"] == source
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

/// The login a browser makes: `/api/login` on `start`, the simulator's page and form, and the
/// callback on `finish` (the simulator redirects to its configured URL: only the path and the
/// query count). Returns the callback's answer.
async fn login_across(start: &Node, finish: &Node) -> (u16, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .get(format!("http://127.0.0.1:{}/api/login", start.port))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "/api/login redirects");
    let page = url::Url::parse(&location(&r)).unwrap();
    let html = http.get(page.clone()).send().await.unwrap().text().await;
    let (_, action, fields) = parse_form(&html.unwrap());
    let r = http
        .post(page.join(&action).unwrap())
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "the login form redirects");
    let mut callback = url::Url::parse(&location(&r)).unwrap();
    assert!(query_map(&callback).contains_key("request_token"));
    callback.set_port(Some(finish.port)).unwrap();
    let r = http.get(callback).send().await.unwrap();
    let status = r.status().as_u16();
    let body = match status {
        302 => location(&r),
        _ => r.text().await.unwrap_or_default(),
    };
    (status, body)
}

fn token_file(world: &World, node: &str) -> String {
    let path = world.cluster.dir.path().join(node).join("kite_token.json");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    v["access_token"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_login_through_any_edge_is_exchanged_by_the_leader_and_survives_a_failover() {
    let Some(world) = World::start(200.0) else {
        return;
    };
    let c = &world.cluster;
    let no_token = ("ZERODHA_ACCESS_TOKEN", None);
    let wrong_key = "another-cluster-key-0123456789abcdef0123456789abcdef";
    let mut a = c.node_with("ingest-a", "ingest", "NSE:INFY", &[no_token]);
    wait_for("ingest-a to lead", Duration::from_secs(20), &[&a], || {
        health(&a, &["cluster", "is_leader"]) == true
    });
    let b = c.node_with("ingest-b", "ingest", "NSE:INFY", &[no_token]);
    let vars = [no_token, ("FEEDGATE_SECRET_KEY", Some(wrong_key))];
    let e1 = c.node_with("edge-1", "edge", "NSE:INFY", &vars);
    let e2 = c.node_with("edge-2", "edge", "NSE:INFY", &[no_token]);
    let all = [&a, &b, &e1, &e2];
    wait_for(
        "every node to answer",
        Duration::from_secs(20),
        &all,
        || all.iter().all(|n| auth_is(n, "required", Value::Null)),
    );
    assert!(world.sim.state().connections.is_empty(), "no token yet");

    // Started on edge-1, completed through edge-2's callback: the leader exchanges it.
    let (status, body) = world.rt.block_on(login_across(&e1, &e2));
    assert_eq!((status, body.as_str()), (302, "/"), "{}", logs(&all));
    assert!(
        a.log()
            .contains("answered a login forwarded by another node")
    );
    assert!(a.log().contains("login completed"), "{}", a.log());
    assert!(
        !e2.log().contains("login completed"),
        "the edge exchanged itself"
    );
    wait_for(
        "the leader's feed with the login's token",
        Duration::from_secs(20),
        &all,
        || auth_is(&a, "valid", s("login")) && world.sim.state().connections.len() == 1,
    );
    // The standby and edge-2 take it from Redis into their own auth tasks, which check it and
    // write it to their token files (their health shows the leader's auth, with `from`).
    let login_token = token_file(&world, "ingest-a");
    assert!(!login_token.is_empty());
    wait_for(
        "the token shared with the cluster",
        Duration::from_secs(10),
        &all,
        || {
            token_file(&world, "ingest-b") == login_token
                && token_file(&world, "edge-2") == login_token
        },
    );
    for n in [&b, &e2] {
        let auth = health(n, &["auth"]);
        assert_eq!(
            (&auth["state"], &auth["from"]),
            (&s("valid"), &s("ingest-a")),
            "{auth}"
        );
    }

    // edge-1 has another key: it says so once and keeps no token.
    std::thread::sleep(Duration::from_secs(3));
    let said = e1
        .log()
        .matches("ignoring the broker token shared in Redis")
        .count();
    assert_eq!(said, 1, "{}", e1.log());
    assert!(token_file(&world, "edge-1").is_empty());

    // kill -9 the leader: the standby leads and connects with the login's token, the only
    // one it has.
    let before = world.sim.state().connections[0].id;
    a.kill();
    wait_for(
        "ingest-b to lead with the login's token",
        Duration::from_secs(20),
        &[&b],
        || {
            let conns = world.sim.state().connections;
            health(&b, &["cluster", "is_leader"]) == true
                && conns.len() == 1
                && conns[0].id != before
                && auth_is(&b, "valid", s("cluster"))
        },
    );
    assert_eq!(token_file(&world, "ingest-b"), login_token);
}

#[test]
fn a_clustered_node_without_a_secret_key_refuses_to_start() {
    let Some(bin) = feedgate_binary() else {
        eprintln!("SKIPPED: target/debug/feedgate is not built (cargo build -p feedgate)");
        return;
    };
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    for role in ["ingest", "edge", "ingest,edge"] {
        let log = dir.path().join("serve.log");
        let mut child = Command::new(&bin)
            .arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .env("FEEDGATE_DATA_DIR", dir.path())
            .env("FEEDGATE_LISTEN", "127.0.0.1:0")
            .env("FEEDGATE_ROLE", role)
            .env("FEEDGATE_REDIS_URL", redis.url())
            .env("ZERODHA_API_KEY", "k")
            .env("ZERODHA_API_SECRET", "s")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // A node that starts anyway is stopped after a while and fails the test (no hang).
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let out_success = status.is_none_or(|s| s.success());
        assert!(!out_success, "{role} started: {text}");
        assert!(
            text.contains("FEEDGATE_SECRET_KEY")
                && text.contains("openssl rand -hex 32")
                && text.contains("failover"),
            "{role}: {text}"
        );
    }
}

/// The login's Redis side on its own, against a real Redis: a state is taken once and only
/// with its binding; a code handed over with no leader gets "no answer" within the wait; a
/// leader answers with the exchange's outcome, and the code arrives intact.
mod redis_side {
    use super::common::redis_server::{RedisServer, SECRET_KEY};
    use feedgate_gateway::cluster::exchange_io::{self, ExchangeIo};
    use feedgate_gateway::cluster::forward::{self, ForwardError, LoginLink};
    use feedgate_gateway::cluster::login_states::{self, ClusterStateError};
    use feedgate_gateway::cluster::sealed::SealKey;
    use feedgate_gateway::cluster::{store, token::Account};
    use feedgate_gateway::config::RedisUrl;
    use feedgate_gateway::model::clock::{SharedClock, SystemClock};
    use secrecy::{ExposeSecret, SecretString};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tokio::sync::{mpsc, watch};
    use tokio_util::sync::CancellationToken;

    const ANSWER: Duration = Duration::from_secs(1);

    fn link(redis: &RedisServer) -> LoginLink {
        let url = RedisUrl::parse(&redis.url()).expect("a redis URL");
        LoginLink {
            client: redis::Client::open(url.expose()).expect("a client"),
            conn: store::connect(&url, ANSWER).expect("a connection"),
            key: SealKey::derive(&SecretString::from(SECRET_KEY.to_string())),
            account: Account {
                broker: "kite".into(),
                api_key: "feedgate-sim".into(),
            },
            redis: url.redacted().to_string(),
            answer_within: ANSWER,
        }
    }

    #[tokio::test]
    async fn a_login_state_is_taken_once_and_only_with_its_binding() {
        let redis = RedisServer::start();
        let l = link(&redis);
        let ttl = Duration::from_secs(600);
        login_states::remember(&l, "s1", Some("b1"), ttl)
            .await
            .unwrap();
        let r = login_states::consume(&l, "s1", Some("other")).await;
        assert!(matches!(r, Err(ClusterStateError::Mismatch)), "{r:?}");
        // A wrong binding used it up: a forger cannot try again, nor can the browser.
        let r = login_states::consume(&l, "s1", Some("b1")).await;
        assert!(matches!(r, Err(ClusterStateError::Unknown)), "{r:?}");
        login_states::remember(&l, "s2", None, ttl).await.unwrap();
        login_states::consume(&l, "s2", None).await.unwrap();
        let r = login_states::consume(&l, "s2", None).await;
        assert!(matches!(r, Err(ClusterStateError::Unknown)), "single use");
        login_states::remember(&l, "s3", None, Duration::from_millis(50))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = login_states::consume(&l, "s3", None).await;
        assert!(matches!(r, Err(ClusterStateError::Unknown)), "expired");
    }

    #[tokio::test]
    async fn without_a_leader_the_callback_hears_so_within_its_wait() {
        let redis = RedisServer::start();
        let l = link(&redis);
        let code = SecretString::from("abc123".to_string());
        let started = Instant::now();
        let wait = Duration::from_secs(1);
        let r = forward::ask(&l, "edge-1", &code, chrono::Utc::now(), wait).await;
        assert!(matches!(r, Err(ForwardError::NoAnswer(_))), "{r:?}");
        assert!(started.elapsed() < wait + ANSWER + Duration::from_secs(1));
        let text = r.unwrap_err().to_string();
        assert!(text.contains("start the login again in a minute"), "{text}");
    }

    #[tokio::test]
    async fn the_leader_exchanges_a_forwarded_code_and_answers() {
        let redis = RedisServer::start();
        let l = link(&redis);
        let (leading_tx, leading) = watch::channel(true);
        let (tx, mut rx) = mpsc::channel(1);
        let shutdown = CancellationToken::new();
        let clock: SharedClock = Arc::new(SystemClock);
        tokio::spawn(exchange_io::serve(
            ExchangeIo {
                link: l.clone(),
                leading,
                clock,
                exchanges: tx,
            },
            shutdown.clone(),
        ));
        tokio::spawn(async move {
            while let Some(x) = rx.recv().await {
                let outcome = match x.code.expose_secret() {
                    "good" => Ok(()),
                    other => Err(format!("refused {other}")),
                };
                let _ = x.reply.send(outcome);
            }
        });
        let wait = Duration::from_secs(5);
        let ask = |c: &str| {
            let code = SecretString::from(c.to_string());
            let l = l.clone();
            async move { forward::ask(&l, "edge-2", &code, chrono::Utc::now(), wait).await }
        };
        ask("good").await.unwrap();
        let r = ask("bad").await;
        assert!(
            matches!(&r, Err(ForwardError::Failed(t)) if t == "refused bad"),
            "{r:?}"
        );
        // A node that does not lead takes nothing.
        leading_tx.send_replace(false);
        let r = forward::ask(
            &l,
            "edge-2",
            &SecretString::from("good".to_string()),
            chrono::Utc::now(),
            Duration::from_secs(2),
        )
        .await;
        assert!(matches!(r, Err(ForwardError::NoAnswer(_))), "{r:?}");
        shutdown.cancel();
    }
}
