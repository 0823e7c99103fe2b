//! The cluster's shared dashboard sessions in Redis ([`crate::access::shared`]): one key per
//! session, `feedgate:session:<sha256 of the id>`, holding the key id (or a tombstone after a
//! sign-out) and expiring with the session. Every request that carries a session cookie asks
//! once, bounded by [`ANSWER_WITHIN`]: a Redis that hangs costs a page request at most that,
//! then the node goes on with its own table. Failures log once until Redis answers again.

use crate::access::shared::{Lookup, SharedSessions, TOMBSTONE};
use crate::model::repeats::Repeats;
use futures_util::future::BoxFuture;
use redis::aio::ConnectionManager;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a page request waits for Redis before it goes on with this node's own table.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(300);

const PREFIX: &str = "feedgate:session:";

/// Sessions in Redis.
#[derive(Clone)]
pub struct RedisSessions {
    conn: ConnectionManager,
    /// The Redis URL, redacted, for log lines.
    redis: String,
    trouble: Arc<Mutex<Repeats>>,
}

impl std::fmt::Debug for RedisSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessions")
            .field("redis", &self.redis)
            .finish_non_exhaustive()
    }
}

impl RedisSessions {
    pub fn new(conn: ConnectionManager, redis: String) -> Self {
        Self {
            conn,
            redis,
            trouble: Arc::default(),
        }
    }

    /// Runs `pipe` within [`ANSWER_WITHIN`]; a failure is logged once per kind.
    async fn query<T: redis::FromRedisValue>(&self, pipe: redis::Pipeline) -> Option<T> {
        let mut conn = self.conn.clone();
        let r = tokio::time::timeout(ANSWER_WITHIN, pipe.query_async::<T>(&mut conn)).await;
        let mut trouble = self.trouble.lock().unwrap_or_else(|e| e.into_inner());
        match r {
            Ok(Ok(v)) => {
                if let Some(repeats) = trouble.clear() {
                    tracing::info!(redis = %self.redis, repeats, "shared sessions: redis answers again");
                }
                Some(v)
            }
            Ok(Err(e)) => {
                if trouble.occur(&format!("{:?}", e.kind())) {
                    tracing::warn!(redis = %self.redis, error = %e, "shared sessions: redis failed; dashboard sessions are this node's own until it answers");
                }
                None
            }
            Err(_) => {
                if trouble.occur("timeout") {
                    tracing::warn!(redis = %self.redis, within_ms = ANSWER_WITHIN.as_millis() as u64, "shared sessions: redis did not answer; dashboard sessions are this node's own until it does");
                }
                None
            }
        }
    }
}

fn key(digest: &str) -> String {
    format!("{PREFIX}{digest}")
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl SharedSessions for RedisSessions {
    fn put(&self, digest: String, key_id: Arc<str>, ttl: Duration) -> BoxFuture<'static, bool> {
        let this = self.clone();
        Box::pin(async move {
            let mut pipe = redis::pipe();
            pipe.cmd("SET")
                .arg(key(&digest))
                .arg(key_id.as_ref())
                .arg("PX")
                .arg(millis(ttl))
                .ignore();
            this.query::<()>(pipe).await.is_some()
        })
    }

    fn get(&self, digest: String) -> BoxFuture<'static, Lookup> {
        let this = self.clone();
        Box::pin(async move {
            let mut pipe = redis::pipe();
            pipe.cmd("GET")
                .arg(key(&digest))
                .cmd("PTTL")
                .arg(key(&digest));
            match this.query::<(Option<String>, i64)>(pipe).await {
                None => Lookup::Unavailable,
                Some((None, _)) => Lookup::Absent,
                Some((Some(v), _)) if v == TOMBSTONE => Lookup::SignedOut,
                Some((Some(key_id), pttl)) => Lookup::Found {
                    key_id,
                    // Without an expiry (set by hand): as long as a fresh session.
                    ttl: u64::try_from(pttl)
                        .map_or(crate::access::sessions::SESSION_TTL, Duration::from_millis),
                },
            }
        })
    }

    fn sign_out(&self, digest: String, ttl: Duration) -> BoxFuture<'static, ()> {
        let this = self.clone();
        Box::pin(async move {
            let mut pipe = redis::pipe();
            pipe.cmd("SET")
                .arg(key(&digest))
                .arg(TOMBSTONE)
                .arg("PX")
                .arg(millis(ttl))
                .ignore();
            this.query::<()>(pipe).await;
        })
    }
}
