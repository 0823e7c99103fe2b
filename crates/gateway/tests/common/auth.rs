//! The gateway's auth state as `/api/system/health/auth` reports it, and waiting for one.

use super::{Env, wait_until};
use serde_json::Value;
use std::time::Duration;

/// The auth section of the health document.
pub async fn auth_section(env: &Env) -> Value {
    env.get_json("/api/system/health/auth").await
}

/// The auth state (`valid`, `required`, `expired`, …), or "" if there is none.
pub async fn auth_state(env: &Env) -> String {
    auth_section(env).await["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Waits until the auth state is `want`; returns whether it got there within `deadline`.
pub async fn wait_auth(env: &Env, want: &str, deadline: Duration) -> bool {
    wait_until(deadline, || async { auth_state(env).await == want }).await
}
