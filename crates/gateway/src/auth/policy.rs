//! The one rule for using the access token (pure): who may use the current token, given what
//! auth knows of it and what the caller saw refused. Every REST caller (the bridge and
//! fallback, the closed-hours quotes) asks [`usable_token`]; the WebSocket's connection machine
//! applies the same rule with [`TokenUse::WebSocket`]'s answer built in (it never waits for
//! auth's verdict, because its own pre-flight check and refusal classification ask the broker
//! first, and it never retries an epoch it saw refused).

use crate::auth::machine::AuthState;
use crate::auth::task::AuthView;
use crate::model::secret::CurrentToken;

/// What the token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// A REST call: spent on a certain 403 if the token is dead, so it waits for auth's
    /// verdict on a token still being checked.
    Rest,
    /// A WebSocket attempt: checked over REST before it is made (pre-flight) and classified
    /// if refused, so it need not wait.
    WebSocket,
}

/// The token `usage` may use now, if any: never one whose epoch the caller saw refused
/// (`rejected`, kept until the token changes), never while a login is needed; a token still
/// being checked only by the WebSocket, or by REST once a check failed for want of a verdict
/// (the broker unreachable: the token may well work).
pub fn usable_token(
    token: Option<&CurrentToken>,
    auth: &AuthView,
    rejected: Option<u64>,
    usage: TokenUse,
) -> Option<CurrentToken> {
    let ready = match (auth.state, usage) {
        (AuthState::Expired | AuthState::Required, _) => false,
        (AuthState::Valid, _) | (AuthState::Refreshing, TokenUse::WebSocket) => true,
        (AuthState::Refreshing, TokenUse::Rest) => auth.failures > 0,
    };
    token
        .filter(|t| ready && Some(t.epoch) != rejected)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn view(state: AuthState, failures: u32) -> AuthView {
        AuthView {
            state,
            user_id: None,
            user_name: None,
            origin: None,
            issued_at: None,
            expiry_hint: None,
            failures,
            last_error: None,
            login_url: String::new(),
        }
    }

    #[test]
    fn the_one_table() {
        let token = CurrentToken {
            epoch: 2,
            token: SecretString::from("t"),
        };
        use AuthState::*;
        use TokenUse::*;
        // (state, failed checks, rejected epoch, use, usable)
        let cases = [
            (Valid, 0, None, Rest, true),
            (Valid, 0, None, WebSocket, true),
            (Valid, 0, Some(2), Rest, false),
            (Valid, 0, Some(2), WebSocket, false),
            (Valid, 0, Some(1), Rest, true),
            // Being checked: REST waits for the verdict, the WebSocket checks for itself.
            (Refreshing, 0, None, Rest, false),
            (Refreshing, 0, None, WebSocket, true),
            // The check could not reach the broker: the token may well work.
            (Refreshing, 1, None, Rest, true),
            (Expired, 1, None, Rest, false),
            (Expired, 1, None, WebSocket, false),
            (Required, 0, None, WebSocket, false),
        ];
        for (state, failures, rejected, usage, want) in cases {
            let got = usable_token(Some(&token), &view(state, failures), rejected, usage);
            assert_eq!(
                got.is_some(),
                want,
                "{state:?} {failures} {rejected:?} {usage:?}"
            );
        }
        assert!(usable_token(None, &view(Valid, 0), None, Rest).is_none());
    }
}
