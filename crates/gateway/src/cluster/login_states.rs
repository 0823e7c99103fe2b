//! Pending broker logins of a cluster, in Redis, so that the callback verifies on whichever
//! node the browser reaches: `/api/login` stores `feedgate:login:<sha256(state)>` = the SHA-256
//! of the login's binding (the login cookie; empty with access control off) for the login's
//! lifetime (`SET PX`); the callback takes it back with `GETDEL`, so a state is accepted once,
//! cluster-wide, and compares the binding in constant time. Only hashes are stored: a reader
//! of Redis learns neither a state nor a binding.

use super::forward::LoginLink;
use super::store::StoreError;
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;

/// Why a callback's state was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClusterStateError {
    #[error("the login state is unknown, already used or expired; start the login again")]
    Unknown,
    #[error(
        "the login state does not match the login this browser started (sign in to the dashboard and start the login there)"
    )]
    Mismatch,
    #[error("cannot reach Redis to check the login: {0}; try again in a moment")]
    Redis(#[from] StoreError),
}

/// Where a pending login lives.
fn key(state: &str) -> String {
    format!(
        "feedgate:login:{}",
        hex::encode(Sha256::digest(state.as_bytes()))
    )
}

fn binding_hash(binding: Option<&str>) -> String {
    hex::encode(Sha256::digest(binding.unwrap_or("").as_bytes()))
}

/// Records a login started on this node, for `ttl`.
pub async fn remember(
    link: &LoginLink,
    state: &str,
    binding: Option<&str>,
    ttl: Duration,
) -> Result<(), StoreError> {
    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let mut cmd = redis::cmd("SET");
    cmd.arg(key(state))
        .arg(binding_hash(binding))
        .arg("PX")
        .arg(ms);
    link.query::<()>(&cmd).await
}

/// Accepts a callback's `state` once, cluster-wide, if `binding` is the one its login was
/// started with.
pub async fn consume(
    link: &LoginLink,
    state: &str,
    binding: Option<&str>,
) -> Result<(), ClusterStateError> {
    let mut cmd = redis::cmd("GETDEL");
    cmd.arg(key(state));
    let stored: Option<String> = link.query(&cmd).await?;
    let stored = stored.ok_or(ClusterStateError::Unknown)?;
    let given = binding_hash(binding);
    if bool::from(stored.as_bytes().ct_eq(given.as_bytes())) {
        Ok(())
    } else {
        Err(ClusterStateError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hashes_are_stored() {
        let k = key("state-value");
        assert!(k.starts_with("feedgate:login:") && !k.contains("state-value"));
        assert_eq!(k.len(), "feedgate:login:".len() + 64);
        assert_ne!(binding_hash(Some("a")), binding_hash(None));
        assert_eq!(binding_hash(None), binding_hash(Some("")));
    }
}
