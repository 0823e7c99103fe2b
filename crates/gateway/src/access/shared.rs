//! Dashboard sessions shared by the nodes of a cluster (DESIGN.md §9): a browser that signed
//! in through one edge keeps its session when the proxy sends it to another, or when its edge
//! dies. Each node keeps its own table ([`super::sessions`]); this is the seam to a table all
//! nodes read (Redis, in `cluster::sessions`), keyed by a digest of the session id so that
//! whoever reads Redis cannot take a session over, and holding only the key id: every node
//! resolves the principal from its own keys, so a key revoked there ends the session there.
//!
//! Signing out leaves a tombstone for the rest of the session's life: a node that still holds
//! the session in its own table drops it at the next request. Redis unreachable: each node
//! goes on with its own table, and a session found only there is written back once Redis
//! answers again (a sign-in during an outage is not lost).

use futures_util::future::BoxFuture;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// What the shared table says about a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Signed in with `key_id`, for `ttl` more.
    Found { key_id: String, ttl: Duration },
    /// Signed out on some node.
    SignedOut,
    /// Never written (or expired).
    Absent,
    /// The table did not answer.
    Unavailable,
}

/// The table every node reads (see the module docs).
pub trait SharedSessions: Send + Sync + std::fmt::Debug {
    /// Records a session for `ttl`; `false` when the table did not take it.
    fn put(&self, digest: String, key_id: Arc<str>, ttl: Duration) -> BoxFuture<'static, bool>;
    fn get(&self, digest: String) -> BoxFuture<'static, Lookup>;
    /// Replaces the session with a tombstone for `ttl`.
    fn sign_out(&self, digest: String, ttl: Duration) -> BoxFuture<'static, ()>;
}

/// The value a tombstone holds (no key id is a single dash).
pub const TOMBSTONE: &str = "-";

/// The shared table's name for a session id: SHA-256, hex.
pub fn digest(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_hides_the_id_and_is_stable() {
        let d = digest("abc");
        assert_eq!(d, digest("abc"));
        assert_ne!(d, digest("abd"));
        assert_eq!(d.len(), 64);
        assert!(!d.contains("abc"));
    }
}
