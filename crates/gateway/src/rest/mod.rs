//! Work done over the broker's REST API on feedgate's own initiative, within the broker's rate
//! limits: the shared quote rate gate and quote request, the REST bridge and fallback while the
//! socket is not delivering, one-off
//! quotes for instruments without a value while the market is closed, and loading (and daily
//! refreshing) the instrument list, and backfilling today's candles from the broker's history.

pub mod backfill;
pub mod closed_quotes;
pub mod fallback;
pub mod history;
pub mod instruments;
pub(crate) mod quote_call;
pub mod rate_gate;

/// A task's loop ends: shutdown, or a channel it needs was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stopped;
