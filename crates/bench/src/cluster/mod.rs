//! Issue 16's cluster measurements (DESIGN.md §9): [`load`] runs scenario (a)'s load against
//! one `all` process and against 1 ingest + 2 edges through Redis, side by side; [`failover`]
//! kills the leader of 2 ingest + 2 edges again and again while clients watch their ticks.
//! Nodes are this binary's gateway child (the same `Gateway::start` as `feedgate serve`) with
//! `FEEDGATE_ROLE`, `FEEDGATE_REDIS_URL`, `FEEDGATE_NODE` and `FEEDGATE_SECRET_KEY` set; this
//! module starts them and reads their health.

pub mod analysis;
pub mod failover;
pub mod load;
mod watch;

use crate::bed::{BedSpec, Market};
use crate::gateway::{ChildArgs, ClusterArgs, GatewayProc, http_get};
use anyhow::{Context, bail};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

/// Every clustered node's `FEEDGATE_SECRET_KEY`: fixed (64 hex digits), the same on every
/// node as the cluster requires; a benchmark's key protects nothing.
const SECRET_KEY: &str = "5eb1c0a3e9d24f7c8b6a0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c";

/// A node's settings: `market`'s simulator, `role` (`None`: a single `all` process).
fn node_args(market: &Market, spec: &BedSpec, role: Option<(&str, &str, &str)>) -> ChildArgs {
    let mut args = market.child_args(spec, None);
    if let Some((role, name, redis_url)) = role {
        args.cluster = ClusterArgs {
            role: Some(role.to_string()),
            redis_url: Some(redis_url.to_string()),
            node: Some(name.to_string()),
            secret_key: Some(SECRET_KEY.to_string()),
        };
    }
    args
}

/// Starts a clustered node `name` with `role` against `market` and the Redis at `redis_url`.
async fn spawn_node(
    market: &Market,
    spec: &BedSpec,
    role: &str,
    name: &str,
    redis_url: &str,
) -> anyhow::Result<GatewayProc> {
    GatewayProc::spawn(&node_args(market, spec, Some((role, name, redis_url))))
        .await
        .with_context(|| format!("starting {name} ({role})"))
}

/// The node's health document.
async fn health(addr: SocketAddr) -> anyhow::Result<Value> {
    let body = http_get(addr, "/api/system/health").await?;
    Ok(serde_json::from_str(&body)?)
}

/// The leader as the node at `addr` knows it (its health's `cluster.leader`).
async fn leader_seen_by(addr: SocketAddr) -> Option<String> {
    let h = health(addr).await.ok()?;
    h["cluster"]["leader"].as_str().map(str::to_string)
}

/// Whether the node at `addr` says it leads.
async fn leads(addr: SocketAddr) -> bool {
    health(addr)
        .await
        .is_ok_and(|h| h["cluster"]["is_leader"] == Value::Bool(true))
}

/// Waits until the node at `addr` knows a leader that `accept` accepts; returns its name.
async fn wait_leader(
    addr: SocketAddr,
    within: Duration,
    accept: impl Fn(&str) -> bool,
) -> anyhow::Result<String> {
    let end = tokio::time::Instant::now() + within;
    loop {
        if let Some(l) = leader_seen_by(addr).await.filter(|l| accept(l)) {
            return Ok(l);
        }
        if tokio::time::Instant::now() >= end {
            bail!("the node at {addr} saw no (new) leader within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The median of `values` (NaN when empty).
fn median(values: &[f64]) -> f64 {
    quantile(values, 0.5)
}

/// The `q` quantile of `values` by the nearest rank (NaN when empty).
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v.get(rank - 1).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        assert!(median(&[]).is_nan());
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.0);
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.95), 19.0);
        assert_eq!(quantile(&v, 1.0), 20.0);
    }
}
