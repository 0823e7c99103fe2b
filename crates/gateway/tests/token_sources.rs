//! Where the access token comes from, end to end against the in-process simulator in
//! paused time: a rejected token file never displaces a working environment token (and the
//! file is brought in line with the token in use); the documented `{"access_token": "…"}` file
//! is picked up; a token file dropped in (JSON or a bare line) is picked up and used.

mod common;

use common::{
    Broker, EnvBuilder, TokenSetup, auth_section, client, drop_in_token_file, let_time_pass,
    next_tick_from, stored_token, subscribe, subscribed_client, wait_auth, wait_until,
};
use feedgate_sim::Fault;
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

const S5: Duration = Duration::from_secs(5);
const S30: Duration = Duration::from_secs(30);

#[tokio::test(start_paused = true)]
async fn a_rejected_token_file_never_displaces_the_working_environment_token() {
    for broker in Broker::ALL {
        // Yesterday's token is still in the data directory; today's is in the environment.
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join(format!("{}_token.json", broker.name())),
            json!({"access_token": "yesterdays-token"}).to_string(),
        )
        .expect("write token file");
        let env = EnvBuilder::new()
            .broker(broker)
            .data_dir(dir)
            .token(TokenSetup::Minted)
            .start()
            .await;
        assert!(
            wait_auth(&env, "valid", S5).await,
            "{broker:?}: {}",
            auth_section(&env).await
        );
        let mut c = client(&env).await;
        subscribe(&mut c, &["NSE:SBIN"], "quote").await;
        assert!(
            next_tick_from(&mut c, "ws", S30).await.is_some(),
            "{broker:?}"
        );

        // Many token-file polls later: still the environment's token, and never a socket
        // attempt with the rejected one.
        let_time_pass(Duration::from_secs(20)).await;
        let auth = auth_section(&env).await;
        assert_eq!(auth["state"], "valid", "{broker:?}: {auth}");
        assert_eq!(auth["token_source"], "environment", "{broker:?}: {auth}");
        assert_eq!(env.upgrades(), (1, 0), "{broker:?}: accepted, refused");
        assert_ne!(env.health().await["priority_status"], "AUTH_REQUIRED");
        // The file now holds the token in use, so the next start and `feedgate check` agree.
        assert_eq!(stored_token(&env), env.minted_token, "{broker:?}");
        assert!(
            next_tick_from(&mut c, "ws", S5).await.is_some(),
            "{broker:?}"
        );
        env.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_documented_token_file_json_is_picked_up() {
    let env = EnvBuilder::new().start().await;
    let mut c = client(&env).await;
    subscribe(&mut c, &["NSE:SBIN"], "quote").await;
    assert!(next_tick_from(&mut c, "ws", S5).await.is_some());
    assert_eq!(env.upgrades(), (1, 0));

    // README: "a bare line or {"access_token": "…"}" — no `broker` field.
    let fresh = env.mint_token();
    drop_in_token_file(&env, &json!({"access_token": fresh}).to_string());
    assert!(
        wait_until(S30, || async { env.upgrades().0 == 2 }).await,
        "reconnected with the new token: {:?}",
        env.upgrades()
    );
    let auth = auth_section(&env).await;
    assert_eq!(auth["token_source"], "token_file", "{auth}");
    assert!(wait_auth(&env, "valid", S5).await);
    assert!(next_tick_from(&mut c, "ws", S5).await.is_some());
    env.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_token_file_dropped_in_is_picked_up_and_used() {
    let env = EnvBuilder::new().start().await;
    let (mut c, _) = subscribed_client(&env, &["NSE:SBIN"]).await;
    assert!(next_tick_from(&mut c, "ws", S5).await.is_some());
    assert!(wait_auth(&env, "valid", S5).await);
    assert_eq!(env.sim_state().upgrades.accepted, 1);

    // The old token is dead at the broker (the open socket keeps streaming, as on Kite), and a
    // script drops a fresh one in as JSON: only a reconnect with the *new* token is accepted.
    env.fault(Fault::ExpireToken);
    let fresh = env.mint_token();
    drop_in_token_file(
        &env,
        &json!({"broker": "kite", "access_token": fresh}).to_string(),
    );
    let t0 = Instant::now();
    assert!(
        wait_until(S30, || async { env.sim_state().upgrades.accepted == 2 }).await,
        "reconnected after the file change: {:?}",
        env.sim_state().upgrades
    );
    eprintln!(
        "token file (JSON): reconnected {:.1} s after the change",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(
        env.sim_state().upgrades.refused.bad_token,
        0,
        "the old token was never tried again"
    );
    assert!(wait_auth(&env, "valid", S5).await);
    assert_eq!(auth_section(&env).await["token_source"], "token_file");
    assert!(next_tick_from(&mut c, "ws", S5).await.is_some());

    // Again, as a bare token line.
    env.fault(Fault::ExpireToken);
    let fresher = env.mint_token();
    drop_in_token_file(&env, &format!("{fresher}\n"));
    assert!(
        wait_until(S30, || async { env.sim_state().upgrades.accepted == 3 }).await,
        "reconnected after the second change: {:?}",
        env.sim_state().upgrades
    );
    let s = env.sim_state();
    assert_eq!(s.upgrades.refused.total(), 0, "{:?}", s.upgrades);
    assert_eq!(s.connections.len(), 1, "the old socket was closed");
    assert!(wait_auth(&env, "valid", S5).await);
    assert!(next_tick_from(&mut c, "ws", S5).await.is_some());
    assert_eq!(env.health().await["feed"]["state"], "connected");
    env.shutdown().await;
}
