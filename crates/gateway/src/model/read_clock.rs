//! Since when a connection has had unconsumed input: set by the socket wrapper at the first
//! read after the mark was cleared, cleared by whoever consumes a complete unit (hyper when it
//! starts waiting for a request head, the WebSocket task at every complete message). A clock
//! that stays set for too long means a client that started something and does not finish it
//! (a slowloris header, an unfinished WebSocket frame).
//!
//! Shared between the socket wrapper and the task reading the connection (the same task, so
//! the lock is never contended).

use std::sync::{Arc, Mutex, PoisonError};
use tokio::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct ReadClock(Arc<Mutex<Option<Instant>>>);

impl ReadClock {
    /// Bytes arrived at `now`: starts the clock unless it is already running.
    pub fn on_read(&self, now: Instant) {
        let mut mark = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        mark.get_or_insert(now);
    }

    /// A complete unit was consumed: nothing is pending any more.
    pub fn clear(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// When the oldest unconsumed bytes arrived, if any.
    pub fn pending_since(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn keeps_the_first_read_until_cleared() {
        let c = ReadClock::default();
        assert_eq!(c.pending_since(), None);
        let t0 = Instant::now();
        c.on_read(t0);
        c.on_read(t0 + Duration::from_secs(3));
        assert_eq!(c.pending_since(), Some(t0), "later reads do not move it");
        c.clear();
        assert_eq!(c.pending_since(), None);
        c.on_read(t0 + Duration::from_secs(5));
        assert_eq!(c.pending_since(), Some(t0 + Duration::from_secs(5)));
    }
}
