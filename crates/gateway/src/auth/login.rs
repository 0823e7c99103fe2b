//! Login `state` values: each `/api/login` issues a fresh random value that travels through
//! the broker's redirect (`redirect_params`) and must come back, once, within a few minutes, on
//! `/api/auth/callback`. A callback with a missing, unknown, reused or expired state is a
//! forgery (or a stale tab) and changes nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How long a login may take from redirect to callback.
pub const STATE_TTL: Duration = Duration::from_secs(10 * 60);
/// Outstanding logins kept at most (oldest dropped first): bounds memory if someone hammers
/// `/api/login`.
const MAX_OUTSTANDING: usize = 64;

/// Outstanding states: state → (issued at, sequence number), plus the last sequence number
/// (it orders states issued in the same instant).
type Outstanding = (HashMap<String, (Instant, u64)>, u64);

#[derive(Debug, Default)]
pub struct LoginStates {
    inner: Mutex<Outstanding>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the login response carried no state parameter")]
    Missing,
    #[error("the login state is unknown, already used or expired; start the login again")]
    Unknown,
}

impl LoginStates {
    /// A new random state for one login.
    pub fn issue(&self) -> String {
        let bytes: [u8; 16] = rand::random();
        let state = hex::encode(bytes);
        let now = Instant::now();
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (m, seq) = &mut *guard;
        m.retain(|_, (t, _)| now.duration_since(*t) < STATE_TTL);
        if m.len() >= MAX_OUTSTANDING
            && let Some(oldest) = m.iter().min_by_key(|(_, v)| v.1).map(|(k, _)| k.clone())
        {
            m.remove(&oldest);
        }
        *seq += 1;
        m.insert(state.clone(), (now, *seq));
        state
    }

    /// Accepts a state exactly once, within its lifetime.
    pub fn consume(&self, state: Option<&str>) -> Result<(), StateError> {
        let state = state.filter(|s| !s.is_empty()).ok_or(StateError::Missing)?;
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match guard.0.remove(state) {
            Some((t, _)) if t.elapsed() < STATE_TTL => Ok(()),
            _ => Err(StateError::Unknown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn states_are_single_use_and_expire() {
        let s = LoginStates::default();
        let a = s.issue();
        assert_eq!(a.len(), 32);
        assert_ne!(a, s.issue(), "random");
        assert_eq!(s.consume(Some(&a)), Ok(()));
        assert_eq!(s.consume(Some(&a)), Err(StateError::Unknown), "single use");
        assert_eq!(s.consume(Some("forged")), Err(StateError::Unknown));
        assert_eq!(s.consume(None), Err(StateError::Missing));
        assert_eq!(s.consume(Some("")), Err(StateError::Missing));
        let b = s.issue();
        tokio::time::advance(STATE_TTL + Duration::from_secs(1)).await;
        assert_eq!(s.consume(Some(&b)), Err(StateError::Unknown), "expired");
    }

    #[tokio::test(start_paused = true)]
    async fn outstanding_states_are_bounded() {
        let s = LoginStates::default();
        let first = s.issue();
        for _ in 0..MAX_OUTSTANDING {
            s.issue();
        }
        assert_eq!(
            s.consume(Some(&first)),
            Err(StateError::Unknown),
            "oldest dropped"
        );
    }
}
