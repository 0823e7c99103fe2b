//! Dashboard sessions: a random id (the cookie) → the signed-in key's principal, with an expiry
//! and a size cap; and each admin session's one pending broker login. The login's `state` is
//! bound to the session through a second random value (the login cookie), because the
//! broker's redirect back is a cross-site navigation that does not carry the `SameSite=Strict`
//! session cookie. Monotonic time, so tests drive expiry with paused time.

use super::Principal;
use crate::model::scope::Scope;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::time::Instant;

/// How long a sign-in lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// How long a broker login may take from redirect to callback.
pub const LOGIN_TTL: Duration = Duration::from_secs(10 * 60);
/// Sessions kept at most; the one closest to expiry goes first. Only a valid key creates one.
const CAPACITY: usize = 1024;

#[derive(Debug)]
struct Session {
    principal: Principal,
    expires: Instant,
    /// The pending login's binding value (the login cookie).
    login: Option<String>,
}

#[derive(Debug)]
struct PendingLogin {
    session: String,
    state: String,
    issued: Instant,
}

#[derive(Debug, Default)]
struct Tables {
    sessions: HashMap<String, Session>,
    /// Binding value → pending login.
    logins: HashMap<String, PendingLogin>,
}

#[derive(Debug, Default)]
pub struct Sessions {
    inner: Mutex<Tables>,
}

/// Why a callback's state was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LoginStateError {
    #[error(
        "the login was not started from this browser's admin session (sign in to the dashboard and start the login there)"
    )]
    NotBound,
    #[error("the login state does not match the login this browser started; start the login again")]
    Mismatch,
    #[error("the login took longer than 10 minutes; start it again")]
    Expired,
}

/// 256 random bits as hex: session ids, login bindings and states.
pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

impl Sessions {
    /// Signs `principal` in; returns the session id for the cookie.
    pub fn create(&self, principal: Principal, now: Instant) -> String {
        let id = random_token();
        self.insert(id.clone(), principal, now + SESSION_TTL, now);
        id
    }

    /// Takes in a session another node signed in (shared through the cluster), for `ttl`
    /// more; one already here keeps its pending login.
    pub fn adopt(&self, id: &str, principal: Principal, ttl: Duration, now: Instant) {
        let expires = now + ttl.min(SESSION_TTL);
        let mut t = self.lock();
        if let Some(s) = t.sessions.get_mut(id) {
            s.principal = principal;
            s.expires = expires;
            return;
        }
        drop(t);
        self.insert(id.to_owned(), principal, expires, now);
    }

    /// What is left of a live session's life.
    pub fn remaining(&self, id: &str, now: Instant) -> Option<Duration> {
        let t = self.lock();
        t.sessions
            .get(id)
            .filter(|s| s.expires > now)
            .map(|s| s.expires - now)
    }

    fn insert(&self, id: String, principal: Principal, expires: Instant, now: Instant) {
        let mut t = self.lock();
        t.sessions.retain(|_, s| s.expires > now);
        if t.sessions.len() >= CAPACITY
            && let Some(oldest) = t
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(id, _)| id.clone())
        {
            t.remove_session(&oldest);
        }
        let session = Session {
            principal,
            expires,
            login: None,
        };
        t.sessions.insert(id, session);
    }

    /// The principal of a live session.
    pub fn principal(&self, id: &str, now: Instant) -> Option<Principal> {
        let mut t = self.lock();
        match t.sessions.get(id) {
            Some(s) if s.expires > now => Some(s.principal.clone()),
            Some(_) => {
                t.remove_session(id);
                None
            }
            None => None,
        }
    }

    /// Signs a session out (and drops its pending login).
    pub fn remove(&self, id: &str) {
        self.lock().remove_session(id);
    }

    /// Starts a broker login for an admin session: `(state, binding)`; replaces the session's
    /// previous pending login. `None` when the session is not a live admin one.
    pub fn begin_login(&self, id: &str, now: Instant) -> Option<(String, String)> {
        let mut t = self.lock();
        let previous = match t.sessions.get(id) {
            Some(s) if s.expires > now && s.principal.scopes.allows(Scope::Admin) => {
                s.login.clone()
            }
            _ => return None,
        };
        if let Some(b) = previous {
            t.logins.remove(&b);
        }
        let (state, binding) = (random_token(), random_token());
        t.logins.insert(
            binding.clone(),
            PendingLogin {
                session: id.to_string(),
                state: state.clone(),
                issued: now,
            },
        );
        if let Some(s) = t.sessions.get_mut(id) {
            s.login = Some(binding.clone());
        }
        Some((state, binding))
    }

    /// Accepts a callback's `state` once, if it is the one the admin session behind `binding`
    /// started and that session is still signed in.
    pub fn finish_login(
        &self,
        binding: Option<&str>,
        state: &str,
        now: Instant,
    ) -> Result<(), LoginStateError> {
        let mut t = self.lock();
        let pending = binding
            .and_then(|b| t.logins.get(b))
            .ok_or(LoginStateError::NotBound)?;
        let equal: bool = pending.state.as_bytes().ct_eq(state.as_bytes()).into();
        if !equal {
            return Err(LoginStateError::Mismatch);
        }
        let (session, issued) = (pending.session.clone(), pending.issued);
        if let Some(b) = binding {
            t.logins.remove(b);
        }
        if let Some(s) = t.sessions.get_mut(&session) {
            s.login = None;
        }
        let admin = t
            .sessions
            .get(&session)
            .is_some_and(|s| s.expires > now && s.principal.scopes.allows(Scope::Admin));
        if !admin {
            return Err(LoginStateError::NotBound);
        }
        if now.duration_since(issued) >= LOGIN_TTL {
            return Err(LoginStateError::Expired);
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Tables {
    fn remove_session(&mut self, id: &str) {
        if let Some(b) = self.sessions.remove(id).and_then(|s| s.login) {
            self.logins.remove(&b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::scope::Scopes;
    use std::sync::Arc;

    fn principal(scope: Scope) -> Principal {
        Principal {
            key_id: Arc::from("k"),
            scopes: Scopes::NONE.with(scope),
            max_connections: None,
            max_symbols: None,
        }
    }

    #[test]
    fn sessions_expire_and_sign_out() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let id = s.create(principal(Scope::Read), t0);
        assert_eq!(id.len(), 64);
        assert!(s.principal(&id, t0).is_some());
        assert!(s.principal(&id, t0 + SESSION_TTL).is_none(), "expired");
        let id = s.create(principal(Scope::Read), t0);
        s.remove(&id);
        assert!(s.principal(&id, t0).is_none());
        assert!(s.principal("forged", t0).is_none());
    }

    #[test]
    fn a_login_state_belongs_to_one_admin_session_and_is_single_use() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let reader = s.create(principal(Scope::Read), t0);
        assert!(s.begin_login(&reader, t0).is_none(), "admin only");
        let a = s.create(principal(Scope::Admin), t0);
        let b = s.create(principal(Scope::Admin), t0);
        let (state_a, bind_a) = s.begin_login(&a, t0).unwrap();
        let (state_b, bind_b) = s.begin_login(&b, t0).unwrap();
        // Another session's state with this browser's binding, or no binding: refused.
        assert_eq!(
            s.finish_login(Some(&bind_a), &state_b, t0),
            Err(LoginStateError::Mismatch)
        );
        assert_eq!(
            s.finish_login(None, &state_a, t0),
            Err(LoginStateError::NotBound)
        );
        // Starting many logins elsewhere flushes nothing: b's login still completes.
        for _ in 0..100 {
            s.begin_login(&a, t0);
        }
        assert_eq!(s.finish_login(Some(&bind_b), &state_b, t0), Ok(()));
        assert_eq!(
            s.finish_login(Some(&bind_b), &state_b, t0),
            Err(LoginStateError::NotBound),
            "single use"
        );
        let (state, bind) = s.begin_login(&b, t0).unwrap();
        assert_eq!(
            s.finish_login(Some(&bind), &state, t0 + LOGIN_TTL),
            Err(LoginStateError::Expired)
        );
        let (state, bind) = s.begin_login(&b, t0).unwrap();
        s.remove(&b);
        assert_eq!(
            s.finish_login(Some(&bind), &state, t0),
            Err(LoginStateError::NotBound),
            "signed out"
        );
    }
}
