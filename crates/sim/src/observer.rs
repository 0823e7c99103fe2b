//! [`SendObserver`]: an opt-in hook that sees every market-data frame a ticker connection is
//! about to write. Benchmarks use it to record the instant each update left the simulator, so
//! end-to-end latency is measured from the real send and not from the exchange timestamps
//! (whole seconds on the wire). The simulator itself never needs it; without one, nothing in
//! the send path changes.

use bytes::Bytes;
use std::fmt;
use std::sync::Arc;

/// Called on a ticker connection's task with the market-batch frames it is about to write
/// (shared `Bytes`, not copies). The write starts as soon as the call returns, so an observer
/// that reads the clock as its last step records the send instant. It runs on the hot path of
/// the simulator: keep it short and never block in it. Snapshots sent on subscribe and
/// heartbeats are not observed.
#[derive(Clone)]
pub struct SendObserver(Arc<ObserveFn>);

/// What an observer runs: the frames about to be written.
type ObserveFn = dyn Fn(&[Bytes]) + Send + Sync;

impl SendObserver {
    pub fn new(f: impl Fn(&[Bytes]) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    pub(crate) fn observe(&self, frames: &[Bytes]) {
        (self.0)(frames);
    }
}

impl fmt::Debug for SendObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendObserver(..)")
    }
}

/// Two observers are equal when they are the same closure (clones of one observer).
impl PartialEq for SendObserver {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
