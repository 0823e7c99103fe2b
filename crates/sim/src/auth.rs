//! Issued credentials: single-use, short-lived request tokens from the login page and the access
//! tokens they are exchanged for. Token strings never leave this module except to the client
//! they are issued to (as a [`SecretString`]); everything else sees numeric ids. The tables are
//! keyed by each token's SHA-256 [`TokenDigest`], so they never hold a token itself. Time is
//! `tokio::time`.

use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// How long a request token can be exchanged (Kite: "a few minutes").
pub(crate) const REQUEST_TOKEN_TTL: Duration = Duration::from_secs(300);
/// Outstanding request tokens kept at most; the login page is unauthenticated, so a flood must
/// not grow memory without bound (the oldest are evicted).
const MAX_REQUEST_TOKENS: usize = 1_024;
const TOKEN_LEN: usize = 32;

/// The key a token is looked up by: SHA-256 of the token string. A table of these answers
/// "was this token issued?" without holding the token (nor printing it in `Debug`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TokenDigest([u8; 32]);

impl TokenDigest {
    pub(crate) fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }
}

fn random_token() -> SecretString {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(TOKEN_LEN)
        .map(char::from)
        .collect::<String>()
        .into()
}

/// One issued access token as shown in `/_sim/state`: never the token string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: u64,
    pub valid: bool,
}

/// Why a request token could not be exchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RedeemError {
    /// Never issued, already used, or evicted.
    Unknown,
    Expired,
}

#[derive(Debug)]
struct AccessEntry {
    id: u64,
    valid: bool,
}

/// Request and access tokens.
#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    access: Vec<AccessEntry>,
    by_token: HashMap<TokenDigest, usize>,
    requests: HashMap<TokenDigest, Instant>,
    next_id: u64,
}

impl TokenStore {
    /// Mints a new valid access token; returns its id and the token.
    pub(crate) fn mint_access(&mut self) -> (u64, SecretString) {
        self.next_id += 1;
        let token = random_token();
        self.by_token
            .insert(TokenDigest::of(token.expose_secret()), self.access.len());
        self.access.push(AccessEntry {
            id: self.next_id,
            valid: true,
        });
        (self.next_id, token)
    }

    pub(crate) fn is_valid(&self, token: &str) -> bool {
        self.by_token
            .get(&TokenDigest::of(token))
            .and_then(|&i| self.access.get(i))
            .is_some_and(|e| e.valid)
    }

    /// Invalidates every issued access token (the `expire_token` fault).
    pub(crate) fn expire_all(&mut self) {
        for entry in &mut self.access {
            entry.valid = false;
        }
    }

    /// Invalidates one access token (logout). Returns whether it was valid.
    pub(crate) fn revoke(&mut self, token: &str) -> bool {
        match self
            .by_token
            .get(&TokenDigest::of(token))
            .and_then(|&i| self.access.get_mut(i))
        {
            Some(entry) => std::mem::replace(&mut entry.valid, false),
            None => false,
        }
    }

    pub(crate) fn infos(&self) -> Vec<TokenInfo> {
        self.access
            .iter()
            .map(|e| TokenInfo {
                id: e.id,
                valid: e.valid,
            })
            .collect()
    }

    /// Issues a request token valid for [`REQUEST_TOKEN_TTL`] from `now`.
    pub(crate) fn issue_request(&mut self, now: Instant) -> SecretString {
        make_room(&mut self.requests, now, MAX_REQUEST_TOKENS);
        let token = random_token();
        self.requests.insert(
            TokenDigest::of(token.expose_secret()),
            now + REQUEST_TOKEN_TTL,
        );
        token
    }

    /// Consumes a request token: it works once, before it expires.
    pub(crate) fn redeem_request(&mut self, token: &str, now: Instant) -> Result<(), RedeemError> {
        match self.requests.remove(&TokenDigest::of(token)) {
            None => Err(RedeemError::Unknown),
            Some(expires) if expires <= now => Err(RedeemError::Expired),
            Some(_) => Ok(()),
        }
    }
}

/// Makes room for one more short-lived one-use secret (Kite request tokens, Fyers auth codes)
/// in `live`: forgets the expired ones, then, while `cap` are still held, the one expiring first,
/// so a client that keeps starting logins cannot grow the map.
pub(crate) fn make_room(live: &mut HashMap<TokenDigest, Instant>, now: Instant, cap: usize) {
    live.retain(|_, expires| *expires > now);
    while live.len() >= cap {
        let oldest = live
            .iter()
            .min_by_key(|(_, expires)| **expires)
            .map(|(digest, _)| *digest);
        match oldest {
            Some(digest) => live.remove(&digest),
            None => break,
        };
    }
}

/// Kite's login checksum: lowercase hex of SHA-256(api_key + request_token + api_secret).
pub(crate) fn checksum(api_key: &str, request_token: &str, api_secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(api_key.as_bytes());
    hasher.update(request_token.as_bytes());
    hasher.update(api_secret.as_bytes());
    hex::encode(hasher.finalize())
}

/// Equality that does not stop at the first differing byte, for comparing checksums.
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_the_verified_vector() {
        // kite.md §8.2.
        assert_eq!(
            checksum("test_key", "req_tok_123", "test_secret"),
            "7ee373d3ce4cda1510ef4e40ab751f0d78aab356b93a714d4e993e8626168f83"
        );
    }

    #[test]
    fn constant_time_eq_cases() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
        assert!(constant_time_eq("", ""));
    }

    #[tokio::test(start_paused = true)]
    async fn request_tokens_are_single_use_and_expire() {
        let mut store = TokenStore::default();
        let now = Instant::now();
        let token = store.issue_request(now);
        assert_eq!(store.redeem_request(token.expose_secret(), now), Ok(()));
        assert_eq!(
            store.redeem_request(token.expose_secret(), now),
            Err(RedeemError::Unknown)
        );
        let late = store.issue_request(now);
        let after = now + REQUEST_TOKEN_TTL;
        assert_eq!(
            store.redeem_request(late.expose_secret(), after),
            Err(RedeemError::Expired)
        );
        assert_eq!(store.redeem_request("nope", now), Err(RedeemError::Unknown));
    }

    #[tokio::test(start_paused = true)]
    async fn request_tokens_are_bounded() {
        let mut store = TokenStore::default();
        let now = Instant::now();
        let first = store.issue_request(now);
        for _ in 0..MAX_REQUEST_TOKENS {
            store.issue_request(now + Duration::from_millis(1));
        }
        assert_eq!(store.requests.len(), MAX_REQUEST_TOKENS);
        assert_eq!(
            store.redeem_request(first.expose_secret(), now),
            Err(RedeemError::Unknown),
            "the oldest was evicted"
        );
    }

    #[test]
    fn access_tokens_expire_and_revoke() {
        let mut store = TokenStore::default();
        let (id1, t1) = store.mint_access();
        let (id2, t2) = store.mint_access();
        assert_ne!(t1.expose_secret(), t2.expose_secret());
        assert_eq!(t1.expose_secret().len(), TOKEN_LEN);
        assert!(store.is_valid(t1.expose_secret()) && store.is_valid(t2.expose_secret()));
        assert!(!store.is_valid("bogus"));
        assert!(store.revoke(t1.expose_secret()));
        assert!(!store.revoke(t1.expose_secret()));
        assert!(!store.is_valid(t1.expose_secret()));
        store.expire_all();
        assert!(!store.is_valid(t2.expose_secret()));
        let (id3, t3) = store.mint_access();
        assert!(store.is_valid(t3.expose_secret()));
        let infos = store.infos();
        assert_eq!(
            infos,
            vec![
                TokenInfo {
                    id: id1,
                    valid: false
                },
                TokenInfo {
                    id: id2,
                    valid: false
                },
                TokenInfo {
                    id: id3,
                    valid: true
                },
            ]
        );
        assert!(!format!("{store:?}").contains(t3.expose_secret()));
    }
}
