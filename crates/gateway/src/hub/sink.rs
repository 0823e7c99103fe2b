//! Where the hub delivers one client's ticks: the outbox of a `/ws/market` client (JSON text)
//! or of a `/kite` client (Kite packets). The hub encodes each tick once per kind and mode
//! wanted and hands the same bytes to every subscriber of that kind and mode.

use crate::hub::outbox::{Outbox, Slot};
use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use std::sync::Arc;

/// A client's outbox, by the protocol it speaks.
#[derive(Debug, Clone)]
pub enum Sink {
    Json(Arc<Outbox<Utf8Bytes>>),
    Kite(Arc<Outbox<Bytes>>),
}

impl Sink {
    pub fn alloc_slot(&self) -> Slot {
        match self {
            Self::Json(o) => o.alloc_slot(),
            Self::Kite(o) => o.alloc_slot(),
        }
    }

    pub fn free_slot(&self, slot: Slot) {
        match self {
            Self::Json(o) => o.free_slot(slot),
            Self::Kite(o) => o.free_slot(slot),
        }
    }

    /// Index of the kind in per-kind tables.
    pub fn kind(&self) -> usize {
        match self {
            Self::Json(_) => 0,
            Self::Kite(_) => 1,
        }
    }
}

impl From<Arc<Outbox<Utf8Bytes>>> for Sink {
    fn from(o: Arc<Outbox<Utf8Bytes>>) -> Self {
        Self::Json(o)
    }
}

impl From<Arc<Outbox<Bytes>>> for Sink {
    fn from(o: Arc<Outbox<Bytes>>) -> Self {
        Self::Kite(o)
    }
}

impl From<&Arc<Outbox<Utf8Bytes>>> for Sink {
    fn from(o: &Arc<Outbox<Utf8Bytes>>) -> Self {
        Self::Json(o.clone())
    }
}

impl From<&Arc<Outbox<Bytes>>> for Sink {
    fn from(o: &Arc<Outbox<Bytes>>) -> Self {
        Self::Kite(o.clone())
    }
}
