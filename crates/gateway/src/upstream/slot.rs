//! A shard's slot in the shared status vector (`watch<Vec<ShardStatus>>`): the one place a
//! connection writes its status, and a guard that a stopped shard's late writes never land on
//! the shard that replaced it at the same index.

use crate::upstream::state::ShardStatus;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// One shard's entry in the shared status vector, writable only while the shard runs.
#[derive(Debug, Clone)]
pub struct ShardSlot {
    tx: Arc<watch::Sender<Vec<ShardStatus>>>,
    index: usize,
    /// The shard's own cancellation: a stopped shard's task may take a moment to wind down,
    /// and by then its index may belong to a new shard, whose status it must not overwrite.
    cancel: CancellationToken,
}

impl ShardSlot {
    pub fn new(
        tx: Arc<watch::Sender<Vec<ShardStatus>>>,
        index: usize,
        cancel: CancellationToken,
    ) -> Self {
        Self { tx, index, cancel }
    }

    /// Updates this shard's status; does nothing once the shard is stopped.
    pub fn send_modify(&self, f: impl FnOnce(&mut ShardStatus)) {
        self.tx.send_if_modified(|all| {
            // Checked under the watch's lock: the supervisor cancels before it truncates the
            // vector or starts a shard at this index, so a write that passes this check lands
            // before either.
            if self.cancel.is_cancelled() {
                return false;
            }
            match all.get_mut(self.index) {
                Some(s) => {
                    let before = s.clone();
                    f(s);
                    *s != before
                }
                None => false,
            }
        });
    }
}
