//! Fyers credentials issued by the simulator: access tokens (JWTs with `exp` and `hsm_key`,
//! looked up by the JWT for REST and by the `hsm_key` for the data socket), refresh tokens, and
//! the single-use, short-lived auth codes of the login redirect. Token strings never leave this
//! module except to the client they are issued to (as [`SecretString`]s), and the tables are
//! keyed by their [`TokenDigest`]s, never the strings; `/_sim/state` sees ids. Validity is the
//! token's own `exp` against the simulator's wall clock, and the `expire_token` fault.

use super::jwt::{Claims, Signer, random_hex};
use crate::auth::{TokenDigest, make_room};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// How long an auth code can be exchanged (Fyers: a few minutes).
pub(crate) const AUTH_CODE_TTL: Duration = Duration::from_secs(300);
/// Outstanding auth codes kept at most (the login page is unauthenticated; oldest evicted).
const MAX_AUTH_CODES: usize = 1_024;
/// Refresh tokens live about 15 days at Fyers.
const REFRESH_TTL_SECS: i64 = 15 * 24 * 3600;
/// `hsm_key` length in bytes (48 hex digits, like the spec's vector).
const HSM_KEY_BYTES: usize = 24;

/// One issued Fyers access token as `/_sim/state` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FyersTokenInfo {
    pub id: u64,
    /// Not invalidated by `expire_token` and not past `exp`.
    pub valid: bool,
    /// The JWT's `exp` claim (epoch seconds).
    pub expires_at: i64,
}

/// Why a credential is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// Never issued by this simulator.
    Unknown,
    /// Issued, but past its `exp`.
    Expired,
    /// Invalidated by the `expire_token` fault.
    Revoked,
}

/// A valid access token's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Accepted {
    pub id: u64,
    pub expires_at: i64,
}

/// A freshly issued access token.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub id: u64,
    /// The bare JWT.
    pub jwt: SecretString,
    pub expires_at: i64,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    expires_at: i64,
    revoked: bool,
}

impl Entry {
    fn check(&self, now_secs: i64) -> Result<Accepted, Rejected> {
        if self.revoked {
            Err(Rejected::Revoked)
        } else if self.expires_at < now_secs {
            // As the official client: usable up to and including the second of `exp`.
            Err(Rejected::Expired)
        } else {
            Ok(Accepted {
                id: self.id,
                expires_at: self.expires_at,
            })
        }
    }
}

/// Every Fyers credential the simulator issued.
#[derive(Debug)]
pub(crate) struct FyersTokens {
    signer: Signer,
    entries: Vec<Entry>,
    by_jwt: HashMap<TokenDigest, usize>,
    by_hsm_key: HashMap<TokenDigest, usize>,
    refresh: HashMap<TokenDigest, i64>,
    auth_codes: HashMap<TokenDigest, Instant>,
    next_id: u64,
}

impl Default for FyersTokens {
    fn default() -> Self {
        Self {
            signer: Signer::random(),
            entries: Vec::new(),
            by_jwt: HashMap::new(),
            by_hsm_key: HashMap::new(),
            refresh: HashMap::new(),
            auth_codes: HashMap::new(),
            next_id: 0,
        }
    }
}

impl FyersTokens {
    /// Issues an access token valid from `now_secs` until `expires_at` (epoch seconds).
    pub(crate) fn mint(&mut self, now_secs: i64, expires_at: i64, user_id: &str) -> Issued {
        self.next_id += 1;
        let hsm_key = random_hex(HSM_KEY_BYTES);
        let jwt = self.signer.sign(&Claims {
            subject: "access_token",
            issued_at: now_secs,
            expires_at,
            hsm_key: Some(&hsm_key),
            user_id,
        });
        let at = self.entries.len();
        self.entries.push(Entry {
            id: self.next_id,
            expires_at,
            revoked: false,
        });
        self.by_jwt.insert(TokenDigest::of(&jwt), at);
        self.by_hsm_key.insert(TokenDigest::of(&hsm_key), at);
        Issued {
            id: self.next_id,
            jwt: SecretString::from(jwt),
            expires_at,
        }
    }

    /// Issues a refresh token (about 15 days) to go with an access token.
    pub(crate) fn mint_refresh(&mut self, now_secs: i64, user_id: &str) -> SecretString {
        let expires_at = now_secs.saturating_add(REFRESH_TTL_SECS);
        let token = self.signer.sign(&Claims {
            subject: "refresh_token",
            issued_at: now_secs,
            expires_at,
            hsm_key: None,
            user_id,
        });
        self.refresh.insert(TokenDigest::of(&token), expires_at);
        SecretString::from(token)
    }

    /// Whether `token` is a refresh token issued here and still within its lifetime.
    pub(crate) fn check_refresh(&self, token: &str, now_secs: i64) -> Result<(), Rejected> {
        match self.refresh.get(&TokenDigest::of(token)) {
            None => Err(Rejected::Unknown),
            Some(expires_at) if *expires_at < now_secs => Err(Rejected::Expired),
            Some(_) => Ok(()),
        }
    }

    /// Checks a bare JWT (REST calls).
    pub(crate) fn check_jwt(&self, jwt: &str, now_secs: i64) -> Result<Accepted, Rejected> {
        self.lookup(&self.by_jwt, jwt, now_secs)
    }

    /// Checks an `hsm_key` (data-socket auth).
    pub(crate) fn check_hsm_key(&self, key: &str, now_secs: i64) -> Result<Accepted, Rejected> {
        self.lookup(&self.by_hsm_key, key, now_secs)
    }

    fn lookup(
        &self,
        index: &HashMap<TokenDigest, usize>,
        value: &str,
        now_secs: i64,
    ) -> Result<Accepted, Rejected> {
        index
            .get(&TokenDigest::of(value))
            .and_then(|&at| self.entries.get(at))
            .ok_or(Rejected::Unknown)?
            .check(now_secs)
    }

    /// Invalidates every issued access token (the `expire_token` fault).
    pub(crate) fn revoke_all(&mut self) {
        for entry in &mut self.entries {
            entry.revoked = true;
        }
    }

    pub(crate) fn infos(&self, now_secs: i64) -> Vec<FyersTokenInfo> {
        self.entries
            .iter()
            .map(|e| FyersTokenInfo {
                id: e.id,
                valid: e.check(now_secs).is_ok(),
                expires_at: e.expires_at,
            })
            .collect()
    }

    /// Issues an auth code valid for [`AUTH_CODE_TTL`] from `now`.
    pub(crate) fn issue_auth_code(&mut self, now: Instant) -> SecretString {
        make_room(&mut self.auth_codes, now, MAX_AUTH_CODES);
        let code = random_hex(20);
        self.auth_codes
            .insert(TokenDigest::of(&code), now + AUTH_CODE_TTL);
        SecretString::from(code)
    }

    /// Consumes an auth code: it works once, before it expires.
    pub(crate) fn redeem_auth_code(&mut self, code: &str, now: Instant) -> Result<(), Rejected> {
        match self.auth_codes.remove(&TokenDigest::of(code)) {
            None => Err(Rejected::Unknown),
            Some(expires) if expires <= now => Err(Rejected::Expired),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feedgate_fyers::AccessToken;
    use secrecy::ExposeSecret;

    #[test]
    fn access_tokens_by_jwt_and_hsm_key() {
        let mut store = FyersTokens::default();
        let issued = store.mint(1_000, 2_000, "FG0001");
        let parsed = AccessToken::parse(issued.jwt.expose_secret()).unwrap();
        let key = parsed.hsm_key().expose_secret().to_owned();
        let ok = Ok(Accepted {
            id: issued.id,
            expires_at: 2_000,
        });
        assert_eq!(store.check_jwt(issued.jwt.expose_secret(), 1_500), ok);
        assert_eq!(store.check_hsm_key(&key, 2_000), ok, "valid through exp");
        assert_eq!(store.check_hsm_key(&key, 2_001), Err(Rejected::Expired));
        assert_eq!(store.check_jwt("nope", 1_500), Err(Rejected::Unknown));
        assert_eq!(
            store.check_hsm_key(issued.jwt.expose_secret(), 1_500),
            Err(Rejected::Unknown),
            "a jwt is not an hsm_key"
        );
        let second = store.mint(1_000, 3_000, "FG0001");
        store.revoke_all();
        assert_eq!(
            store.check_jwt(second.jwt.expose_secret(), 1_500),
            Err(Rejected::Revoked)
        );
        let infos = store.infos(1_500);
        assert_eq!(infos.len(), 2);
        assert!(infos.iter().all(|i| !i.valid));
        assert!(!format!("{store:?}").contains(&key));
    }

    #[tokio::test(start_paused = true)]
    async fn auth_codes_are_single_use_short_lived_and_bounded() {
        let mut store = FyersTokens::default();
        let now = Instant::now();
        let code = store.issue_auth_code(now);
        assert_eq!(store.redeem_auth_code(code.expose_secret(), now), Ok(()));
        assert_eq!(
            store.redeem_auth_code(code.expose_secret(), now),
            Err(Rejected::Unknown)
        );
        let late = store.issue_auth_code(now);
        assert_eq!(
            store.redeem_auth_code(late.expose_secret(), now + AUTH_CODE_TTL),
            Err(Rejected::Expired)
        );
        let first = store.issue_auth_code(now);
        for _ in 0..MAX_AUTH_CODES {
            store.issue_auth_code(now + Duration::from_millis(1));
        }
        assert_eq!(store.auth_codes.len(), MAX_AUTH_CODES);
        assert_eq!(
            store.redeem_auth_code(first.expose_secret(), now),
            Err(Rejected::Unknown)
        );
    }
}
