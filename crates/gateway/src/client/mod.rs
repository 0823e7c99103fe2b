//! Client connections on `/ws/market`: the per-connection task and its limits.

pub mod limits;
pub mod session;

pub use limits::ClientLimits;
pub use session::{ClientContext, serve};

#[cfg(test)]
mod tests;
