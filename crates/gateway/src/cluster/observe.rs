//! An edge's view of the election: it never contends, but reads the lock every second so its
//! health names the leader, the term and what is left of the lease (and says when Redis is
//! unreachable, logged once).

use super::elect::{ElectionView, note_redis};
use super::store::{Acquired, LockStore};
use crate::model::repeats::Repeats;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Between two reads of the lock.
pub const EVERY: Duration = Duration::from_secs(1);

/// Reads the lock every [`EVERY`] and publishes what it finds, until `shutdown`.
pub async fn run(
    store: LockStore,
    redis: String,
    view: watch::Sender<ElectionView>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut trouble = Repeats::default();
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let peeked = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            r = store.peek() => r,
        };
        let now = Instant::now();
        let next = match peeked {
            Ok(Acquired::Held { holder, term, ttl }) => {
                note_redis(&redis, &mut trouble, None);
                ElectionView {
                    leading: false,
                    leader: Some(holder).filter(|h| !h.is_empty()),
                    term: Some(term).filter(|&t| t > 0),
                    lease_until: ttl.map(|t| now + t),
                    redis_down: false,
                }
            }
            // `peek` never takes the lock.
            Ok(Acquired::Ours { .. }) => continue,
            Err(e) => ElectionView {
                redis_down: note_redis(&redis, &mut trouble, Some(&e)),
                ..view.borrow().clone()
            },
        };
        view.send_if_modified(|cur| std::mem::replace(cur, next.clone()) != next);
    }
}
