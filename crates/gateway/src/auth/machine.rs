//! The auth state machine (pure): `required → refreshing → valid ⇄ expired`, driven by typed
//! events, producing actions for the auth task to perform. Time is passed in; nothing here
//! performs I/O.
//!
//! | state | meaning |
//! |---|---|
//! | `required` | no token at all: a login is needed |
//! | `refreshing` | a new token arrived and is being validated |
//! | `valid` | the broker accepted the token (profile call or a working feed) |
//! | `expired` | the broker rejected the token: log in again |
//!
//! The broker's documented expiry (Kite: 06:00 IST the next day) is only a *hint* to
//! re-validate; a token is declared expired only when the broker says so.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthState {
    Valid,
    Expired,
    Required,
    Refreshing,
}

impl AuthState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Expired => "expired",
            Self::Required => "required",
            Self::Refreshing => "refreshing",
        }
    }

    /// A person must log in for data to flow.
    pub fn requires_login(self) -> bool {
        matches!(self, Self::Expired | Self::Required)
    }
}

/// Where a token came from (for logs and health).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenOrigin {
    Environment,
    TokenFile,
    Login,
    /// Shared by the cluster's leader through Redis (a login completed elsewhere).
    Cluster,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthEvent {
    /// Start-up found no token anywhere.
    NoToken,
    /// A new token was stored (login callback, file change, env at start).
    TokenStored { origin: TokenOrigin },
    /// A profile call accepted the token.
    Validated,
    /// The broker rejected the token (403 `TokenException`, or a WS 403 classified as auth).
    Rejected,
    /// A validation attempt could not reach a verdict (network, 5xx).
    CheckFailed,
    /// Market data arrived over the feed with this token: proof it works.
    FeedWorking,
    /// The documented expiry time passed (hint only).
    ExpiryHintPassed,
    /// Scheduled pre-market check time.
    PreMarketCheck,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthAction {
    /// Check the current token with the broker's profile endpoint.
    Validate,
    /// Tell the person (once) that a login is needed.
    AnnounceLoginRequired,
    /// Tell the person (once) that the token works again.
    AnnounceValid,
}

/// The machine's state plus its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub state: AuthState,
    /// Consecutive validation failures (rejections or inconclusive checks).
    pub failures: u32,
    pub origin: Option<TokenOrigin>,
}

impl Default for Auth {
    fn default() -> Self {
        Self {
            state: AuthState::Required,
            failures: 0,
            origin: None,
        }
    }
}

impl Auth {
    /// Applies an event; returns the actions to perform.
    pub fn on(&mut self, event: AuthEvent) -> Vec<AuthAction> {
        use AuthAction::*;
        use AuthState::*;
        let before = self.state;
        let mut actions = Vec::new();
        match event {
            AuthEvent::NoToken => {
                self.state = Required;
                self.origin = None;
            }
            AuthEvent::TokenStored { origin } => {
                self.state = Refreshing;
                self.origin = Some(origin);
                self.failures = 0;
                actions.push(Validate);
            }
            AuthEvent::Validated | AuthEvent::FeedWorking => {
                if before != Required {
                    self.state = Valid;
                    self.failures = 0;
                }
            }
            AuthEvent::Rejected => {
                if before != Required {
                    self.state = Expired;
                    self.failures += 1;
                }
            }
            AuthEvent::CheckFailed => {
                // No verdict: keep the state (a network blip must not log anyone out), count it.
                self.failures += 1;
            }
            AuthEvent::ExpiryHintPassed | AuthEvent::PreMarketCheck => {
                if matches!(before, Valid | Refreshing) {
                    actions.push(Validate);
                }
            }
        }
        if self.state != before {
            if self.state.requires_login() {
                actions.push(AnnounceLoginRequired);
            } else if self.state == Valid && before.requires_login() {
                actions.push(AnnounceValid);
            }
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AuthAction::*;
    use AuthEvent::*;
    use AuthState::*;

    fn at(state: AuthState) -> Auth {
        Auth {
            state,
            failures: 0,
            origin: Some(TokenOrigin::TokenFile),
        }
    }

    #[test]
    fn transition_table() {
        let login = TokenStored {
            origin: TokenOrigin::Login,
        };
        let cases: Vec<(AuthState, AuthEvent, AuthState, Vec<AuthAction>)> = vec![
            (Required, NoToken, Required, vec![]),
            (Required, login.clone(), Refreshing, vec![Validate]),
            (Expired, login.clone(), Refreshing, vec![Validate]),
            (Valid, login.clone(), Refreshing, vec![Validate]),
            (Refreshing, Validated, Valid, vec![]),
            (Refreshing, Rejected, Expired, vec![AnnounceLoginRequired]),
            (Valid, Rejected, Expired, vec![AnnounceLoginRequired]),
            (Expired, Validated, Valid, vec![AnnounceValid]),
            (Expired, FeedWorking, Valid, vec![AnnounceValid]),
            (Valid, CheckFailed, Valid, vec![]),
            (Expired, CheckFailed, Expired, vec![]),
            (Valid, ExpiryHintPassed, Valid, vec![Validate]),
            (Expired, ExpiryHintPassed, Expired, vec![]),
            (Valid, PreMarketCheck, Valid, vec![Validate]),
            (Required, Validated, Required, vec![]),
            (Required, Rejected, Required, vec![]),
            (Valid, NoToken, Required, vec![AnnounceLoginRequired]),
        ];
        for (from, ev, to, actions) in cases {
            let mut a = at(from);
            let got = a.on(ev.clone());
            assert_eq!((a.state, got), (to, actions), "{from:?} + {ev:?}");
        }
    }

    #[test]
    fn failures_are_counted_and_reset_by_success_or_a_new_token() {
        let mut a = at(Valid);
        a.on(CheckFailed);
        a.on(Rejected);
        assert_eq!(a.failures, 2);
        a.on(TokenStored {
            origin: TokenOrigin::Login,
        });
        assert_eq!(a.failures, 0);
        a.on(Rejected);
        a.on(Validated);
        assert_eq!(a.failures, 0);
    }

    #[test]
    fn requires_login_only_when_expired_or_missing() {
        assert!(Expired.requires_login() && Required.requires_login());
        assert!(!Valid.requires_login() && !Refreshing.requires_login());
    }
}
