//! The broker token shared through Redis (pure part): its sealed form under `feedgate:token`
//! and the rule that decides, on every node, whether to take the shared token, write its own,
//! or do nothing. The I/O is [`super::token_io`].
//!
//! The rule: the newer token wins. A node takes the shared token when it differs from its own
//! and its own is missing, refused by the broker, or older. Only the leader writes, and only a
//! token the broker accepted that is at least as new as the shared one (so a stale
//! `ZERODHA_ACCESS_TOKEN` of a freshly started node never replaces a login, and a refused token
//! is never shared).

use super::sealed::{SealError, SealKey, aad};
use crate::store::token_file::{StoredToken, TokenInUse, Verdict};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Where the sealed token lives.
pub const TOKEN_KEY: &str = "feedgate:token";

/// What a node does about the shared token.
#[derive(Debug, Clone)]
pub enum Step {
    Nothing,
    /// Take this token (through the auth task, which checks it like any other).
    Take(TokenInUse),
    /// Write this node's own token (the leader only).
    Write,
}

/// The step for a node holding `own`, seeing `shared` in Redis.
pub fn decide(own: Option<&TokenInUse>, shared: Option<&TokenInUse>, leading: bool) -> Step {
    match (own, shared) {
        (None, Some(s)) => Step::Take(s.clone()),
        (Some(o), Some(s))
            if !o.same_token(s) && (o.verdict == Verdict::Refused || s.since > o.since) =>
        {
            Step::Take(s.clone())
        }
        (Some(o), s)
            if leading
                && o.verdict == Verdict::Accepted
                && s.is_none_or(|s| !o.same_token(s) && o.since >= s.since) =>
        {
            Step::Write
        }
        _ => Step::Nothing,
    }
}

/// The associated data of the shared token: the key it lives under and the broker account, so
/// a value copied from another cluster's account or key does not open.
pub fn token_aad(account: &Account) -> Vec<u8> {
    aad(&[TOKEN_KEY, &account.broker, &account.api_key])
}

/// The broker account the cluster's token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// `kite` or `fyers`.
    pub broker: String,
    /// The broker API key (Kite) or app id (Fyers): not a secret.
    pub api_key: String,
}

/// The sealed JSON.
#[derive(Serialize, Deserialize)]
struct Sealed {
    access_token: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    issued_at: Option<DateTime<Utc>>,
    since: DateTime<Utc>,
    #[serde(default)]
    expires: Option<DateTime<Utc>>,
}

/// `t` sealed for Redis.
pub fn seal(key: &SealKey, account: &Account, t: &TokenInUse) -> Vec<u8> {
    let body = Sealed {
        access_token: t.token.token.expose_secret().to_string(),
        user_id: t.token.user_id.clone(),
        issued_at: t.token.issued_at,
        since: t.since,
        expires: t.expires,
    };
    let plain = serde_json::to_vec(&body).unwrap_or_default();
    key.seal(&plain, &token_aad(account))
}

/// A sealed token read from Redis (its verdict unknown to this node).
pub fn open(key: &SealKey, account: &Account, sealed: &[u8]) -> Result<TokenInUse, SealError> {
    let plain = key.open(sealed, &token_aad(account))?;
    let body: Sealed = serde_json::from_slice(&plain).map_err(|_| SealError::Malformed)?;
    Ok(TokenInUse {
        token: StoredToken {
            token: SecretString::from(body.access_token),
            user_id: body.user_id,
            issued_at: body.issued_at,
        },
        since: body.since,
        expires: body.expires,
        verdict: Verdict::Unchecked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn tok(value: &str, since_h: u32, verdict: Verdict) -> TokenInUse {
        TokenInUse {
            token: StoredToken {
                token: SecretString::from(value.to_string()),
                user_id: Some("AB1234".into()),
                issued_at: None,
            },
            since: Utc.with_ymd_and_hms(2026, 12, 7, since_h, 0, 0).unwrap(),
            expires: None,
            verdict,
        }
    }

    fn step(own: Option<&TokenInUse>, shared: Option<&TokenInUse>, leading: bool) -> &'static str {
        match decide(own, shared, leading) {
            Step::Nothing => "nothing",
            Step::Take(_) => "take",
            Step::Write => "write",
        }
    }

    #[test]
    fn the_newer_token_wins_and_only_an_accepted_one_is_written_by_the_leader() {
        let old = tok("old", 8, Verdict::Accepted);
        let new = tok("new", 9, Verdict::Unchecked);
        assert_eq!(step(None, Some(&new), false), "take");
        assert_eq!(step(Some(&old), Some(&new), false), "take");
        assert_eq!(step(Some(&old), Some(&new), true), "take", "a new leader");
        let refused = tok("later-but-refused", 10, Verdict::Refused);
        assert_eq!(step(Some(&refused), Some(&new), false), "take");
        let same = tok("new", 7, Verdict::Accepted);
        assert_eq!(step(Some(&same), Some(&new), true), "nothing");
        let login = tok("login", 10, Verdict::Accepted);
        assert_eq!(step(Some(&login), Some(&new), true), "write");
        assert_eq!(step(Some(&login), Some(&new), false), "nothing", "standby");
        assert_eq!(step(Some(&login), None, true), "write");
        assert_eq!(step(Some(&login), None, false), "nothing");
        let unchecked = tok("fresh", 10, Verdict::Unchecked);
        assert_eq!(step(Some(&unchecked), None, true), "nothing");
        assert_eq!(step(Some(&refused), None, true), "nothing");
        assert_eq!(step(None, None, true), "nothing");
    }

    #[test]
    fn the_sealed_token_opens_for_the_same_account_only() {
        let key = SealKey::derive(&SecretString::from("k".repeat(40)));
        let account = Account {
            broker: "kite".into(),
            api_key: "apikey".into(),
        };
        let t = tok("secret-token", 9, Verdict::Accepted);
        let sealed = seal(&key, &account, &t);
        let back = open(&key, &account, &sealed).unwrap();
        assert!(back.same_token(&t));
        assert_eq!((back.since, back.verdict), (t.since, Verdict::Unchecked));
        let other = Account {
            api_key: "another".into(),
            ..account
        };
        assert_eq!(open(&key, &other, &sealed).err(), Some(SealError::WrongKey));
    }
}
