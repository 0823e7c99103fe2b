//! `GET /api/cluster`'s document (DESIGN.md §9): this node, the leader as the lock in Redis
//! names it, the nodes Redis knows of (the leader through its lock; the edges through
//! `feedgate:edges` and their demand keys) and each edge's demand, plus the Redis round trip
//! when asked. Standby ingest nodes leave no trace in Redis, so they are not listed. Redis
//! unreachable is an answer (`redis_ok: false`, the leader as this node last saw it), not
//! an error.

use super::ClusterHandle;
use super::demand_io::{EDGES_KEY, demand_key};
use super::lease::LeaseTimes;
use super::store::{LOCK_KEY, StoreError, TERM_KEY};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overview {
    pub clustered: bool,
    pub node: String,
    pub role: &'static str,
    pub leader: Option<Leader>,
    pub nodes: Vec<NodeEntry>,
    pub edges: Vec<EdgeDemand>,
    /// The Redis URL, password redacted.
    pub redis: String,
    pub redis_ok: bool,
    /// Why Redis did not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_error: Option<String>,
    /// One PING's round trip (ms), when asked for and answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_rtt_ms: Option<f64>,
}

/// The leader as its lock says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leader {
    pub node: String,
    pub term: Option<u64>,
    /// Since the leader last took or renewed its lease (ms); `None` from this node's own view.
    pub lease_age_ms: Option<u64>,
    /// What is left of the lease (ms).
    pub lease_ms: Option<u64>,
}

/// A node Redis knows of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeEntry {
    pub node: String,
    pub role: &'static str,
    /// This is the node answering.
    pub this: bool,
}

/// One live edge's published demand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdgeDemand {
    pub node: String,
    pub instruments: usize,
    /// Instruments per mode (`ltp`, `quote`, `full`).
    pub modes: BTreeMap<String, usize>,
}

/// What one read of Redis found.
type Found = (Option<String>, Option<u64>, i64, Vec<String>);

/// Reads the cluster from Redis through `handle`'s connection; `ping` adds a timed PING.
pub async fn read(handle: &ClusterHandle, ping: bool) -> Overview {
    let mut out = Overview {
        clustered: true,
        node: handle.node.clone(),
        role: handle.role.as_str(),
        leader: None,
        nodes: Vec::new(),
        edges: Vec::new(),
        redis: handle.redis.clone(),
        redis_ok: true,
        redis_error: None,
        redis_rtt_ms: None,
    };
    match query(handle).await {
        Ok((found, demands)) => fill(&mut out, found, demands),
        Err(e) => {
            out.redis_ok = false;
            out.redis_error = Some(e.to_string());
            let v = handle.view.borrow();
            let now = tokio::time::Instant::now();
            out.leader = v.leader.clone().map(|node| Leader {
                node,
                term: v.term,
                lease_age_ms: None,
                lease_ms: v
                    .lease_until
                    .map(|t| millis(t.saturating_duration_since(now))),
            });
            out.nodes.push(NodeEntry {
                node: out.node.clone(),
                role: out.role,
                this: true,
            });
        }
    }
    if ping && out.redis_ok {
        let started = tokio::time::Instant::now();
        let mut pipe = redis::pipe();
        pipe.cmd("PING");
        match handle.link.query::<(String,)>(&pipe).await {
            Ok(_) => out.redis_rtt_ms = Some(started.elapsed().as_secs_f64() * 1000.0),
            Err(e) => {
                out.redis_ok = false;
                out.redis_error = Some(e.to_string());
            }
        }
    }
    out
}

async fn query(handle: &ClusterHandle) -> Result<(Found, Vec<Option<String>>), StoreError> {
    let mut pipe = redis::pipe();
    pipe.cmd("GET")
        .arg(LOCK_KEY)
        .cmd("GET")
        .arg(TERM_KEY)
        .cmd("PTTL")
        .arg(LOCK_KEY)
        .cmd("SMEMBERS")
        .arg(EDGES_KEY);
    let (holder, term, pttl, mut edges): Found = handle.link.query(&pipe).await?;
    edges.sort();
    let demands = if edges.is_empty() {
        Vec::new()
    } else {
        let mut pipe = redis::pipe();
        let mut mget = redis::cmd("MGET");
        for edge in &edges {
            mget.arg(demand_key(edge));
        }
        pipe.add_command(mget);
        let (demands,): (Vec<Option<String>>,) = handle.link.query(&pipe).await?;
        demands
    };
    Ok(((holder, term, pttl, edges), demands))
}

/// Joins what Redis said into `out`.
fn fill(out: &mut Overview, (holder, term, pttl, edges): Found, demands: Vec<Option<String>>) {
    let lease = LeaseTimes::default().lease;
    // The lock's value is `<nonce> <node>`.
    let leader = holder.map(|v| v.split_once(' ').map_or(v.as_str(), |(_, n)| n).to_string());
    if let Some(node) = &leader {
        let left = u64::try_from(pttl).ok().map(Duration::from_millis);
        out.leader = Some(Leader {
            node: node.clone(),
            term,
            lease_age_ms: left.map(|l| millis(lease.saturating_sub(l))),
            lease_ms: left.map(millis),
        });
        out.nodes.push(NodeEntry {
            node: node.clone(),
            role: "ingest",
            this: *node == out.node,
        });
    }
    for (edge, published) in edges.into_iter().zip(demands) {
        // An edge whose key expired is gone (the leader drops it from the set in time).
        let Some(text) = published else { continue };
        let by_symbol: BTreeMap<String, String> = serde_json::from_str(&text).unwrap_or_default();
        let mut modes = BTreeMap::new();
        for mode in by_symbol.values() {
            *modes.entry(mode.clone()).or_insert(0) += 1;
        }
        out.nodes.push(NodeEntry {
            node: edge.clone(),
            role: "edge",
            this: edge == out.node,
        });
        out.edges.push(EdgeDemand {
            node: edge,
            instruments: by_symbol.len(),
            modes,
        });
    }
    if !out.nodes.iter().any(|n| n.this) {
        out.nodes.push(NodeEntry {
            node: out.node.clone(),
            role: out.role,
            this: true,
        });
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank() -> Overview {
        Overview {
            clustered: true,
            node: "edge-a".into(),
            role: "edge",
            leader: None,
            nodes: Vec::new(),
            edges: Vec::new(),
            redis: "redis://x".into(),
            redis_ok: true,
            redis_error: None,
            redis_rtt_ms: None,
        }
    }

    #[test]
    fn joins_the_lock_and_the_edges() {
        let mut o = blank();
        let found = (
            Some("00ff in-1".to_string()),
            Some(7),
            2500,
            vec!["edge-a".to_string(), "edge-gone".to_string()],
        );
        let demands = vec![
            Some(r#"{"NSE:INFY":"quote","NSE:SBIN":"ltp","NSE:TCS":"quote"}"#.to_string()),
            None,
        ];
        fill(&mut o, found, demands);
        assert_eq!(
            o.leader,
            Some(Leader {
                node: "in-1".into(),
                term: Some(7),
                lease_age_ms: Some(500),
                lease_ms: Some(2500)
            })
        );
        let names: Vec<_> = o
            .nodes
            .iter()
            .map(|n| (n.node.as_str(), n.role, n.this))
            .collect();
        assert_eq!(names, [("in-1", "ingest", false), ("edge-a", "edge", true)]);
        assert_eq!(o.edges.len(), 1);
        assert_eq!(o.edges[0].instruments, 3);
        assert_eq!(o.edges[0].modes["quote"], 2);
        assert_eq!(o.edges[0].modes["ltp"], 1);
    }

    #[test]
    fn no_lock_no_leader_but_this_node_listed() {
        let mut o = blank();
        fill(&mut o, (None, None, -2, Vec::new()), Vec::new());
        assert_eq!(o.leader, None);
        assert_eq!(o.nodes.len(), 1);
        assert!(o.nodes[0].this);
    }
}
