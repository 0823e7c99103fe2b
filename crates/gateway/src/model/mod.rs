//! The vocabulary every layer shares, with no I/O and no dependency on the rest of the crate:
//! the normalised tick and its exact prices, IST timestamps, candle maths, the instrument
//! registry, demand and run policy, wall-clock time, secrets and the current token, access
//! scopes, and the log-once helper.

pub mod candle;
pub mod clock;
pub mod demand;
pub mod gauges;
pub mod instruments;
pub mod ist;
pub mod price;
pub mod repeats;
pub mod scope;
pub mod secret;
pub mod tick;
