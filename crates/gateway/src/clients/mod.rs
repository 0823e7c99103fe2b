//! Client connections on `/ws/market` (JSON) and `/kite` (Kite's ticker protocol): the
//! per-connection tasks and their limits.

pub mod conn;
pub mod kite;
pub mod limits;
mod socket;

pub use conn::{ClientContext, serve};
pub use kite::serve_kite;
pub use limits::ClientLimits;

#[cfg(test)]
mod tests;
