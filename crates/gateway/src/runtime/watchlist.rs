//! The always-subscribed watchlist (`FEEDGATE_INSTRUMENTS`): resolved against the registry at
//! start and again whenever the daily refresh publishes a new one (derivatives expire, new ones
//! list).

use super::Wiring;
use crate::hub::HubHandle;
use crate::model::instruments::{Instrument, Registry};
use crate::model::tick::Mode;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

impl Wiring {
    /// Sets the watchlist now (so the first connection subscribes it) and spawns the task that
    /// follows registry updates. The channel is marked seen before resolving, so a registry
    /// published meanwhile is followed.
    pub(super) async fn start_watchlist(
        &self,
        hub: &HubHandle,
        registry: &watch::Receiver<Arc<Registry>>,
    ) {
        let mut watchlist = Watchlist::new(self.config.instruments.clone());
        let mut updates = registry.clone();
        let current = updates.borrow_and_update().clone();
        let _ = hub.set_watchlist(watchlist.resolve(&current)).await;
        self.tracker
            .spawn(watchlist.follow(updates, hub.clone(), self.shutdown.clone()));
    }
}

/// The watchlist against the current registry.
#[derive(Debug)]
struct Watchlist {
    symbols: Vec<String>,
    /// Entries the last registry could not resolve (logged when that changes, not daily).
    skipped: Vec<String>,
}

impl Watchlist {
    fn new(symbols: Vec<String>) -> Self {
        Self {
            symbols,
            skipped: Vec::new(),
        }
    }

    /// The instruments the entries name in `registry`.
    fn resolve(&mut self, registry: &Registry) -> Vec<(Arc<Instrument>, Mode)> {
        let mut items = Vec::new();
        let mut skipped = Vec::new();
        for sym in &self.symbols {
            match registry.resolve(sym) {
                Ok(inst) => {
                    if self.skipped.contains(sym) {
                        tracing::info!(symbol = %sym, "FEEDGATE_INSTRUMENTS entry found in the new instrument list");
                    }
                    items.push((inst.clone(), Mode::Quote));
                }
                Err(e) => {
                    if !self.skipped.contains(sym) {
                        tracing::warn!(symbol = %sym, reason = %e, "FEEDGATE_INSTRUMENTS entry skipped");
                    }
                    skipped.push(sym.clone());
                }
            }
        }
        self.skipped = skipped;
        items
    }

    /// Resolves the watchlist again for every registry `registry` publishes.
    async fn follow(
        mut self,
        mut registry: watch::Receiver<Arc<Registry>>,
        hub: HubHandle,
        shutdown: CancellationToken,
    ) {
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                r = registry.changed() => if r.is_err() { return },
            }
            let current = registry.borrow_and_update().clone();
            if hub.set_watchlist(self.resolve(&current)).await.is_err() {
                return;
            }
        }
    }
}
