//! The order-update fan-out: the clients that receive broker order updates (their key has the
//! `orders` scope), each as an [`OrderSink`], and the delivery of every update to all of them.
//! The upstream relays each update once ([`OrderRelay`]); a sink queues the text, unchanged,
//! for its client. A registry rather than a channel per client: an idle client pays nothing
//! but its entry, and a client without the scope not even that.

use crate::hub::core::ClientId;
use crate::hub::outbox::{Outbox, Payload};
use crate::model::order::{OrderRelay, OrderUpdate};
use axum::extract::ws::Utf8Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A client's way to receive order updates. `push_order` must not block (it runs on a broker
/// socket's reader): queue the text and return; a client that cannot take it is the client's
/// problem (its outbox marks it too slow), never the feed's.
pub trait OrderSink: Send + Sync {
    /// Queues one order update's text (the broker's frame, `{"type":"order","data":{…}}`).
    fn push_order(&self, text: &Utf8Bytes);
}

/// A client's outbox (`/ws/market` or `/kite`: both relay the broker's text unchanged): the
/// update goes out with its immediate messages (an overflow marks the client too slow and it
/// is disconnected with a reason).
impl<T: Payload> OrderSink for Outbox<T> {
    fn push_order(&self, text: &Utf8Bytes) {
        let _ = self.push_immediate(text.clone());
    }
}

/// The registry of order-update receivers, by client id (see the module docs). One per
/// gateway, reached through [`crate::hub::HubHandle::orders`].
#[derive(Default)]
pub struct OrderFanout {
    sinks: Mutex<HashMap<ClientId, Arc<dyn OrderSink>>>,
}

impl std::fmt::Debug for OrderFanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderFanout")
            .field("receivers", &self.len())
            .finish()
    }
}

impl OrderFanout {
    fn sinks(&self) -> MutexGuard<'_, HashMap<ClientId, Arc<dyn OrderSink>>> {
        // Every critical section is one map operation: the map is valid after any panic.
        self.sinks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// From now on `client` receives every order update through `sink` (replacing an
    /// earlier sink of the same id).
    pub fn register(&self, client: ClientId, sink: Arc<dyn OrderSink>) {
        self.sinks().insert(client, sink);
    }

    /// `client` receives no more order updates (harmless if it never registered).
    pub fn deregister(&self, client: ClientId) {
        self.sinks().remove(&client);
    }

    /// How many clients receive order updates.
    pub fn len(&self) -> usize {
        self.sinks().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hands `text` to every registered sink; returns how many. The sinks are pushed to
    /// outside the lock, so a client connecting or leaving never waits for a delivery.
    pub fn push(&self, text: &Utf8Bytes) -> usize {
        let sinks: Vec<Arc<dyn OrderSink>> = self.sinks().values().cloned().collect();
        for sink in &sinks {
            sink.push_order(text);
        }
        sinks.len()
    }
}

impl OrderRelay for OrderFanout {
    fn relay(&self, update: &OrderUpdate) {
        let receivers = self.push(&update.text);
        tracing::debug!(order_id = %update.order_id, receivers, "order update handed to clients");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::outbox::Drained;

    fn texts(outbox: &Outbox) -> Vec<String> {
        let mut d = Drained::default();
        outbox.drain_into(&mut d, true).unwrap();
        d.immediate.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn registered_clients_get_each_update_until_they_leave() {
        let fanout = OrderFanout::default();
        let (a, b, other) = (
            Arc::new(Outbox::new(1 << 16)),
            Arc::new(Outbox::new(1 << 16)),
            Arc::new(Outbox::new(1 << 16)),
        );
        fanout.register(1, a.clone());
        fanout.register(2, b.clone());
        assert_eq!(fanout.len(), 2);
        let update = OrderUpdate {
            text: Utf8Bytes::from_static(r#"{"type":"order","data":{"order_id":"1"}}"#),
            order_id: "1".into(),
            status: "OPEN".into(),
        };
        fanout.relay(&update);
        assert_eq!(texts(&a), [update.text.as_str()]);
        assert_eq!(texts(&b), [update.text.as_str()]);
        assert!(texts(&other).is_empty(), "not registered, nothing");
        fanout.deregister(1);
        fanout.deregister(1);
        assert_eq!(fanout.push(&Utf8Bytes::from_static("second")), 1);
        assert!(texts(&a).is_empty(), "gone");
        assert_eq!(texts(&b), ["second"]);
        assert!(!fanout.is_empty());
    }

    #[test]
    fn a_client_that_cannot_take_it_is_marked_too_slow_and_others_still_get_it() {
        let fanout = OrderFanout::default();
        let full = Arc::new(Outbox::new(4));
        full.push_immediate(Utf8Bytes::from_static("1234")).unwrap();
        let fine = Arc::new(Outbox::new(1 << 16));
        fanout.register(1, full.clone());
        fanout.register(2, fine.clone());
        fanout.push(&Utf8Bytes::from_static("order"));
        let mut d = Drained::default();
        assert!(full.drain_into(&mut d, true).is_err(), "overflowed");
        assert_eq!(texts(&fine), ["order"]);
    }
}
