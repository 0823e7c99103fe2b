//! Authentication with the broker: the auth state machine ([`machine`]), the login `state`
//! values ([`login`]), the one rule for using the token ([`policy`]), and the task that
//! validates tokens, drives the login flow and publishes the current token to the upstream
//! ([`task`]), and completing a login ([`exchange`]). The token file itself is
//! [`crate::store::token_file`].

pub mod exchange;
pub mod login;
pub mod machine;
pub mod policy;
pub mod task;

pub use login::{LoginStates, StateError};
pub use machine::{Auth, AuthAction, AuthEvent, AuthState, TokenOrigin};
pub use policy::{TokenUse, usable_token};
pub use task::{AuthConfig, AuthError, AuthHandle, AuthIo, AuthView, SharedToken, VerifyResult};
