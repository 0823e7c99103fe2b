//! Dashboard sessions across the nodes of a cluster (DESIGN.md §9, §10), with a real
//! `redis-server`: a browser signed in through one edge is signed in on the other (a proxy
//! may send it anywhere, and its edge may die); signing out on either ends it on both; a key
//! the other node does not accept gets no session there. Two role-`all` nodes share nothing.

mod common;

use common::keys::ADMIN;
use common::redis_server::RedisServer;
use common::{Env, EnvBuilder};
use serde_json::{Value, json};

async fn node(redis: Option<&RedisServer>, name: &str) -> Env {
    let b = EnvBuilder::new()
        .with_keys()
        .var("FEEDGATE_NODE", name)
        .var("FEEDGATE_RECORD", "off");
    match redis {
        Some(r) => {
            b.var("FEEDGATE_ROLE", "edge")
                .var("FEEDGATE_REDIS_URL", &r.url())
                .var("FEEDGATE_SECRET_KEY", common::redis_server::SECRET_KEY)
                .start()
                .await
        }
        None => b.start().await,
    }
}

/// Signs in with the admin key on `env`; the session cookie (`name=value`).
async fn sign_in(env: &Env) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/api/session", env.base()))
        .json(&json!({ "key": ADMIN }))
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), 200);
    let set = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_owned();
    set.split(';').next().expect("name=value").to_owned()
}

async fn session(env: &Env, cookie: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}/api/session", env.base()))
        .header("cookie", cookie)
        .send()
        .await
        .expect("session")
        .json()
        .await
        .expect("json")
}

async fn sign_out(env: &Env, cookie: &str) {
    let r = reqwest::Client::new()
        .delete(format!("{}/api/session", env.base()))
        .header("cookie", cookie)
        .header("content-type", "application/json")
        .send()
        .await
        .expect("sign out");
    assert_eq!(r.status(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_on_one_edge_holds_on_the_other_until_signed_out_on_either() {
    let redis = RedisServer::start();
    let a = node(Some(&redis), "edge-a").await;
    let b = node(Some(&redis), "edge-b").await;

    let cookie = sign_in(&a).await;
    let on_b = session(&b, &cookie).await;
    assert_eq!(on_b["signed_in"], true, "{on_b}");
    assert_eq!(on_b["key_id"], "admin", "{on_b}");
    sign_out(&b, &cookie).await;
    let on_a = session(&a, &cookie).await;
    assert_eq!(
        on_a["signed_in"], false,
        "signed out on b ends it on a: {on_a}"
    );

    // The id itself is nowhere in Redis: only its digest names the key.
    let id = cookie.split('=').nth(1).expect("an id").to_owned();
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("feedgate:session:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(!keys[0].contains(&id), "{keys:?}");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_outside_a_cluster_share_no_sessions() {
    let a = node(None, "solo-a").await;
    let b = node(None, "solo-b").await;
    let cookie = sign_in(&a).await;
    assert_eq!(session(&a, &cookie).await["signed_in"], true);
    assert_eq!(session(&b, &cookie).await["signed_in"], false);
    a.shutdown().await;
    b.shutdown().await;
}
