//! Authentication with the broker: the token store, the auth state machine, the expiry hint,
//! and (in [`task`]) the task that validates tokens, drives the login flow and publishes the
//! current token to the upstream.

pub mod expiry;
pub mod machine;
pub mod store;

pub use machine::{Auth, AuthAction, AuthEvent, AuthState, TokenOrigin};
pub use store::{StoredToken, TokenStore};
pub mod login;
pub mod task;

pub use login::{LoginStates, StateError};
pub use task::{AuthConfig, AuthHandle, AuthIo, AuthSnapshot, VerifyResult};
