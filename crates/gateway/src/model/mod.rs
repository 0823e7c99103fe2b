//! The vocabulary every layer shares, with no I/O and no dependency on the rest of the crate:
//! the normalised tick and its exact prices, IST timestamps, candle maths, the instrument
//! registry, demand and run policy, the feed's liveness, wall-clock time, secrets and the
//! current token, access scopes, the log-once helper, who a client is behind trusted proxies,
//! the unconsumed-input clock, and broker order updates.

pub mod candle;
pub mod clock;
pub mod demand;
pub mod gauges;
pub mod instruments;
pub mod ist;
pub mod live;
pub mod order;
pub mod peer;
pub mod price;
pub mod read_clock;
pub mod repeats;
pub mod scope;
pub mod secret;
pub mod tick;
