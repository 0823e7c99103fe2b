//! Access control's pure part (DESIGN.md §10): the key file and its hashed secrets, reading a
//! presented key, checking it in constant time, scopes, per-key connection counts and the
//! per-address back-off. The HTTP glue (middleware, the WebSocket's first-message sign-in,
//! origin checks) is in `http::access`.

pub mod credential;
pub mod failures;
pub mod keyring;
pub mod keys;
pub mod origins;
pub mod sessions;
pub mod shared;
pub mod startup;

pub use credential::Presented;
pub use keyring::{ConnectionSlot, KeyRing, Principal};
