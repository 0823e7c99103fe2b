//! The leader lock in Redis: acquire (SET NX PX, then INCR of the term key for the fencing
//! token), renew (compare-and-pexpire), release (compare-and-delete), each one Lua script so
//! that no other client's command falls between the compare and the act.
//!
//! The connection is the `redis` crate's `ConnectionManager`: one multiplexed connection that
//! reconnects by itself with exponential backoff, created lazily so a gateway starts (and
//! retries) while Redis is down. Every request has a deadline, so a silent Redis is a failure
//! the election sees, never a hang.

use crate::config::RedisUrl;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// The lock key (value: `<nonce> <node>`) and the term counter.
pub const LOCK_KEY: &str = "feedgate:leader";
pub const TERM_KEY: &str = "feedgate:term";

/// Takes the lock if free (or still ours), and counts a new term.
/// Returns `{1, term, 0, ''}` or `{0, term, pttl, holder}`.
const ACQUIRE: &str = r"
local mine = ARGV[1]
if redis.call('GET', KEYS[1]) == mine then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, redis.call('INCR', KEYS[2]), 0, ''}
end
if redis.call('SET', KEYS[1], mine, 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('INCR', KEYS[2]), 0, ''}
end
return {0, tonumber(redis.call('GET', KEYS[2]) or '0'), redis.call('PTTL', KEYS[1]),
        redis.call('GET', KEYS[1]) or ''}
";

/// Extends the lock only if it is still ours: 1 when extended, else 0.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Deletes the lock only if it is still ours: 1 when deleted, else 0.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Reads the lock without taking it: `{term, pttl, holder}` (holder `''` when free).
const PEEK: &str = r"
return {tonumber(redis.call('GET', KEYS[2]) or '0'), redis.call('PTTL', KEYS[1]),
        redis.call('GET', KEYS[1]) or ''}
";

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no answer from Redis within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    /// Caught by the configuration first; here for a configuration built in code.
    #[error("FEEDGATE_SECRET_KEY is missing: a clustered role needs it")]
    NoSecretKey,
}

impl StoreError {
    /// A short kind for "log once" bookkeeping (the message may vary per attempt).
    pub fn kind(&self) -> String {
        match self {
            StoreError::Timeout(_) => "timeout".into(),
            StoreError::Redis(e) => format!("{:?}", e.kind()),
            StoreError::NoSecretKey => "no secret key".into(),
        }
    }
}

/// What an acquisition found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    /// The lock is ours, in this term.
    Ours { term: u64 },
    /// Another node holds it.
    Held {
        holder: String,
        term: u64,
        ttl: Option<Duration>,
    },
}

/// A lock held by `value` (`<nonce> <node>`), as its node name, the term and its time to live.
fn held(value: String, term: u64, pttl: i64) -> Acquired {
    Acquired::Held {
        holder: value
            .split_once(' ')
            .map_or(value.as_str(), |(_, node)| node)
            .to_string(),
        term,
        ttl: u64::try_from(pttl).ok().map(Duration::from_millis),
    }
}

/// The lock as this node sees it.
#[derive(Clone)]
pub struct LockStore {
    conn: ConnectionManager,
    /// This process's lock value: a random nonce (a restarted node is a new contender) and
    /// the node's name.
    value: String,
    lease_ms: u64,
    answer_within: Duration,
    acquire: redis::Script,
    renew: redis::Script,
    release: redis::Script,
    peek: redis::Script,
}

impl std::fmt::Debug for LockStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockStore")
            .field("value", &self.value)
            .field("lease_ms", &self.lease_ms)
            .finish_non_exhaustive()
    }
}

/// Connects lazily to `url` with reconnect backoff from 100 ms to 2 s; each connection attempt
/// and each answer waits at most `answer_within`.
pub fn connect(url: &RedisUrl, answer_within: Duration) -> Result<ConnectionManager, StoreError> {
    let client = redis::Client::open(url.expose())?;
    let config = ConnectionManagerConfig::new()
        .set_min_delay(Duration::from_millis(100))
        .set_max_delay(Duration::from_secs(2))
        .set_connection_timeout(Some(answer_within))
        .set_response_timeout(Some(answer_within));
    Ok(ConnectionManager::new_lazy_with_config(client, config)?)
}

/// One PING over a fresh connection, within `within`: the round trip (for `feedgate check`).
pub async fn ping(url: &RedisUrl, within: Duration) -> Result<Duration, StoreError> {
    let client = redis::Client::open(url.expose())?;
    let started = tokio::time::Instant::now();
    let once = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(within, once).await {
        Ok(Ok(_)) => Ok(started.elapsed()),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(StoreError::Timeout(within)),
    }
}

impl LockStore {
    pub fn new(
        conn: ConnectionManager,
        node: &str,
        lease: Duration,
        answer_within: Duration,
    ) -> Self {
        Self {
            conn,
            value: format!("{:016x} {node}", rand::random::<u64>()),
            lease_ms: u64::try_from(lease.as_millis()).unwrap_or(u64::MAX),
            answer_within,
            acquire: redis::Script::new(ACQUIRE),
            renew: redis::Script::new(RENEW),
            release: redis::Script::new(RELEASE),
            peek: redis::Script::new(PEEK),
        }
    }

    pub async fn acquire(&self) -> Result<Acquired, StoreError> {
        let (won, term, pttl, holder): (i64, u64, i64, String) = self.call(&self.acquire).await?;
        Ok(if won == 1 {
            Acquired::Ours { term }
        } else {
            held(holder, term, pttl)
        })
    }

    /// Who holds the lock, without contending (for an edge's view): [`Acquired::Held`] with an
    /// empty holder when nobody does.
    pub async fn peek(&self) -> Result<Acquired, StoreError> {
        let (term, pttl, holder): (u64, i64, String) = self.call(&self.peek).await?;
        Ok(held(holder, term, pttl))
    }

    /// `true` when the lock was ours and is extended.
    pub async fn renew(&self) -> Result<bool, StoreError> {
        let n: i64 = self.call(&self.renew).await?;
        Ok(n == 1)
    }

    /// `true` when the lock was ours and is gone.
    pub async fn release(&self) -> Result<bool, StoreError> {
        let n: i64 = self.call(&self.release).await?;
        Ok(n == 1)
    }

    /// Runs one script on the lock with this node's value and the lease, within the deadline.
    async fn call<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        let mut inv = script.key(LOCK_KEY);
        inv.key(TERM_KEY).arg(&self.value).arg(self.lease_ms);
        match tokio::time::timeout(self.answer_within, inv.invoke_async(&mut conn)).await {
            Ok(r) => r.map_err(StoreError::from),
            Err(_) => Err(StoreError::Timeout(self.answer_within)),
        }
    }
}
