//! Client connections on `/ws/market`: the per-connection task and its limits.

pub mod conn;
pub mod limits;

pub use conn::{ClientContext, serve};
pub use limits::ClientLimits;

#[cfg(test)]
mod tests;
