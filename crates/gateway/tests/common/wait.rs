//! Waiting without fixed sleeps: until a condition holds or a deadline passes, on anything
//! ([`wait_until`]) or on the simulator's state ([`sim_until`]). The one plain sleep,
//! [`let_time_pass`], lets a stretch of paused time pass to show that something does *not*
//! happen during it.

use super::Env;
use feedgate_sim::SimState;
use std::future::Future;
use std::time::Duration;

/// Generous bound for anything that should happen at once (paused time: costs nothing).
pub const WAIT: Duration = Duration::from_secs(5);

/// Polls `cond` every 50 ms until it holds or `deadline` passes; returns whether it held.
pub async fn wait_until<F, Fut>(deadline: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls the simulator's state until `cond` holds (or `deadline` passes).
pub async fn sim_until(env: &Env, deadline: Duration, cond: impl Fn(&SimState) -> bool) -> bool {
    wait_until(deadline, || {
        let ok = cond(&env.sim_state());
        async move { ok }
    })
    .await
}

/// Lets `d` of paused time pass with every task running (the runtime advances from timer to
/// timer). Used only to show that something does *not* happen within a period.
pub async fn let_time_pass(d: Duration) {
    tokio::time::sleep(d).await;
}
