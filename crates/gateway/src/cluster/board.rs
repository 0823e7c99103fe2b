//! The leader's status in Redis (DESIGN.md §9): one key, [`STATUS_KEY`], holding what only the
//! leader knows (its auth, feed and recording sections, as compact JSON the status layer
//! writes and reads; this module never looks inside). The key lives [`STATUS_TTL`] (the lease)
//! after each write, so it vanishes with a dead leader: its absence means that no node has led
//! for a lease.
//!
//! A write is fenced by the election's term: a Lua script sets the key only while the term
//! counter still holds the writer's term, so a deposed leader's late write (it has not yet
//! noticed that its lease ran out) never overwrites its successor's status.

use super::store::{StoreError, TERM_KEY};
use redis::aio::ConnectionManager;
use std::time::Duration;

/// The key of the leader's status.
pub const STATUS_KEY: &str = "feedgate:status";
/// How long a status lives after a write: the lease (DESIGN.md §9).
pub const STATUS_TTL: Duration = Duration::from_millis(3000);

/// Sets the status only while the term counter is the writer's term: 1 when written, else 0.
const WRITE: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
";

/// Deletes the status only while the term counter is the writer's term (a clean step-down).
const CLEAR: &str = r"
if redis.call('GET', KEYS[2]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Reads and writes the leader's status.
#[derive(Clone)]
pub struct StatusBoard {
    conn: ConnectionManager,
    answer_within: Duration,
    write: redis::Script,
    clear: redis::Script,
}

impl std::fmt::Debug for StatusBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusBoard").finish_non_exhaustive()
    }
}

impl StatusBoard {
    pub fn new(conn: ConnectionManager, answer_within: Duration) -> Self {
        Self {
            conn,
            answer_within,
            write: redis::Script::new(WRITE),
            clear: redis::Script::new(CLEAR),
        }
    }

    /// Writes `json` as the status of `term`; `false` when `term` is no longer the latest
    /// (another node was elected since).
    pub async fn write(&self, term: u64, json: &str) -> Result<bool, StoreError> {
        let mut inv = self.write.key(STATUS_KEY);
        inv.key(TERM_KEY)
            .arg(json)
            .arg(term)
            .arg(u64::try_from(STATUS_TTL.as_millis()).unwrap_or(u64::MAX));
        let mut conn = self.conn.clone();
        let n: i64 = self.within(inv.invoke_async(&mut conn)).await?;
        Ok(n == 1)
    }

    /// Removes the status of `term`, if it is still the latest (a leader stepping down).
    pub async fn clear(&self, term: u64) -> Result<(), StoreError> {
        let mut inv = self.clear.key(STATUS_KEY);
        inv.key(TERM_KEY).arg(term);
        let mut conn = self.conn.clone();
        let _: i64 = self.within(inv.invoke_async(&mut conn)).await?;
        Ok(())
    }

    /// The status as the leader last wrote it, `None` when there is none (no leader for a
    /// lease).
    pub async fn read(&self) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        let mut get = redis::cmd("GET");
        get.arg(STATUS_KEY);
        self.within(get.query_async(&mut conn)).await
    }

    async fn within<T>(
        &self,
        f: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.answer_within, f).await {
            Ok(r) => r.map_err(StoreError::from),
            Err(_) => Err(StoreError::Timeout(self.answer_within)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_lives_as_long_as_a_lease() {
        assert_eq!(
            STATUS_TTL,
            crate::cluster::lease::LeaseTimes::default().lease
        );
    }
}
