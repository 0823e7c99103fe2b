//! Order updates from every broker socket of the upstream, each relayed once. Kite sends every
//! postback on every socket of the api_key, so with several shards the same update arrives
//! several times: the shards share one [`OrderGate`] that drops a repeat of a recent update
//! (the same text) and relays, logs and counts the rest.

use crate::model::gauges::Gauges;
use crate::model::order::{OrderRelay, OrderUpdate};
use std::collections::{HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// Updates remembered for spotting repeats. The copies of one postback arrive within
/// moments of each other; a thousand updates is far more than can come in between.
pub const RECENT: usize = 1024;

/// The fingerprints of the last [`RECENT`] distinct updates (pure, bounded).
#[derive(Debug, Default)]
pub struct Recent {
    order: VecDeque<u64>,
    seen: HashSet<u64>,
}

impl Recent {
    /// Whether `text` is new among the recent updates; remembers it either way.
    pub fn first_time(&mut self, text: &str) -> bool {
        // A fixed-key SipHash: 64 bits make a collision among a thousand updates a chance of
        // about one in 10^16.
        let mut hasher = DefaultHasher::new();
        text.hash(&mut hasher);
        let fingerprint = hasher.finish();
        if !self.seen.insert(fingerprint) {
            return false;
        }
        self.order.push_back(fingerprint);
        if self.order.len() > RECENT
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }
}

/// Shared by every shard of the upstream (see the module docs).
#[derive(Debug)]
pub struct OrderGate {
    recent: Mutex<Recent>,
    relay: Arc<dyn OrderRelay>,
    gauges: Arc<Gauges>,
}

impl OrderGate {
    pub fn new(relay: Arc<dyn OrderRelay>, gauges: Arc<Gauges>) -> Self {
        Self {
            recent: Mutex::default(),
            relay,
            gauges,
        }
    }

    /// An update shard `shard` received: relayed, logged and counted unless it is a copy of
    /// one already relayed. Returns whether it was relayed.
    pub fn offer(&self, shard: usize, update: &OrderUpdate) -> bool {
        let new = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .first_time(update.text.as_str());
        if !new {
            tracing::debug!(shard, order_id = %update.order_id, "order update already relayed from another socket");
            return false;
        }
        tracing::info!(
            shard,
            order_id = %update.order_id,
            status = %update.status,
            "order update from the broker"
        );
        self.gauges.order_updates.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("feedgate_order_updates_total").increment(1);
        self.relay.relay(update);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ws::Utf8Bytes;

    #[derive(Debug, Default)]
    struct Collect(Mutex<Vec<String>>);

    impl OrderRelay for Collect {
        fn relay(&self, update: &OrderUpdate) {
            self.0.lock().unwrap().push(update.text.to_string());
        }
    }

    fn update(text: &str) -> OrderUpdate {
        OrderUpdate {
            text: Utf8Bytes::from(text),
            order_id: "1".into(),
            status: "OPEN".into(),
        }
    }

    #[test]
    fn each_update_is_relayed_once_whichever_sockets_deliver_it() {
        let relay = Arc::new(Collect::default());
        let gauges = Arc::new(Gauges::default());
        let gate = OrderGate::new(relay.clone(), gauges.clone());
        assert!(gate.offer(0, &update("a")));
        assert!(!gate.offer(1, &update("a")), "the copy on another shard");
        assert!(!gate.offer(2, &update("a")));
        assert!(gate.offer(1, &update("b")), "a different update");
        assert!(!gate.offer(0, &update("b")));
        assert_eq!(*relay.0.lock().unwrap(), ["a", "b"]);
        assert_eq!(gauges.order_updates.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn recent_is_bounded_and_forgets_the_oldest() {
        let mut recent = Recent::default();
        for i in 0..=RECENT {
            assert!(recent.first_time(&i.to_string()));
        }
        assert_eq!(recent.order.len(), RECENT);
        assert_eq!(recent.seen.len(), RECENT);
        assert!(recent.first_time("0"), "the oldest was forgotten");
        assert!(
            !recent.first_time(&RECENT.to_string()),
            "the newest is kept"
        );
    }
}
