//! The instruments the Kite REST reads keep live: each instrument read is subscribed upstream
//! (in full mode, so `/quote` has depth) through the hub's kept set, and dropped once nobody
//! has read it for `FEEDGATE_KITE_REST_IDLE_S`. [`Kept`] is the pure bookkeeping; [`run`] is
//! the task that sends the set to the hub whenever it changes and expires it on time.
//!
//! At most [`MAX_KEPT`] instruments are kept: the upstream's room is shared with the streaming
//! clients, and its assignment is sticky, so REST reads of a whole instrument list must not
//! crowd them out. Reads beyond it are still answered (from a broker quote each time).

use crate::hub::HubHandle;
use crate::model::instruments::Instrument;
use crate::model::tick::{Mode, Token};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Most instruments kept live at once: one Kite socket's worth of the three an api_key has.
pub const MAX_KEPT: usize = 3000;

/// Last read per kept instrument, and whether the hub has the current set.
#[derive(Debug)]
pub struct Kept {
    last: HashMap<Token, (Arc<Instrument>, Instant)>,
    changed: bool,
    cap: usize,
    /// The cap refused an instrument since the set last had room (logged once per episode).
    full: bool,
}

impl Default for Kept {
    fn default() -> Self {
        Self::with_cap(MAX_KEPT)
    }
}

impl Kept {
    pub fn with_cap(cap: usize) -> Self {
        Self {
            last: HashMap::new(),
            changed: false,
            cap,
            full: false,
        }
    }

    /// Records a read of `insts` at `now`; returns the tokens that were not kept before the
    /// read (newly kept, or not kept at all because the set is full).
    pub fn touch(&mut self, insts: &[Arc<Instrument>], now: Instant) -> Vec<Token> {
        let mut fresh = Vec::new();
        let mut refused = 0usize;
        for inst in insts {
            if let Some((_, at)) = self.last.get_mut(&inst.token) {
                *at = (*at).max(now);
                continue;
            }
            fresh.push(inst.token);
            if self.last.len() < self.cap {
                self.last.insert(inst.token, (inst.clone(), now));
                self.changed = true;
            } else {
                refused += 1;
            }
        }
        if refused > 0 && !std::mem::replace(&mut self.full, true) {
            tracing::warn!(
                kept = self.last.len(),
                refused,
                "Kite REST reads keep {} instruments live at most; further ones are fetched from the broker on each read",
                self.cap
            );
        }
        fresh
    }

    /// Drops instruments not read for `idle` by `now`; true if any went.
    pub fn expire(&mut self, now: Instant, idle: Duration) -> bool {
        let before = self.last.len();
        self.last
            .retain(|_, (_, at)| now.duration_since(*at) < idle);
        let gone = self.last.len() != before;
        self.changed |= gone;
        self.full &= !gone;
        gone
    }

    /// When the next instrument expires, if any is kept.
    pub fn next_expiry(&self, idle: Duration) -> Option<Instant> {
        self.last.values().map(|(_, at)| *at + idle).min()
    }

    /// The set to send to the hub, if it changed since the last call.
    pub fn take_changed(&mut self) -> Option<Vec<(Arc<Instrument>, Mode)>> {
        if !std::mem::take(&mut self.changed) {
            return None;
        }
        Some(
            self.last
                .values()
                .map(|(inst, _)| (inst.clone(), Mode::Full))
                .collect(),
        )
    }

    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

/// The kept set shared by the handlers (who touch it) and [`run`] (who publishes it).
#[derive(Debug, Default)]
pub struct Keeper {
    kept: Mutex<Kept>,
    wake: Notify,
}

impl Keeper {
    /// Records a read; returns the tokens not kept before it (their hub value, if any, may be
    /// old).
    pub fn touch(&self, insts: &[Arc<Instrument>]) -> Vec<Token> {
        let mut kept = self.lock();
        let fresh = kept.touch(insts, Instant::now());
        if kept.changed {
            self.wake.notify_one();
        }
        fresh
    }

    /// How many instruments are kept now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Publishes the kept set to the hub on every change and expires idle instruments.
pub async fn run(keeper: Arc<Keeper>, hub: HubHandle, idle: Duration, shutdown: CancellationToken) {
    loop {
        let (changed, next) = {
            let mut k = keeper.lock();
            k.expire(Instant::now(), idle);
            (k.take_changed(), k.next_expiry(idle))
        };
        if let Some(items) = changed {
            let n = items.len();
            if hub.keep(items).await.is_err() {
                return;
            }
            metrics::gauge!("feedgate_kite_rest_kept_instruments").set(n as f64);
            tracing::debug!(instruments = n, "instruments kept live for Kite REST reads");
        }
        let expiry = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            () = keeper.wake.notified() => {}
            () = expiry => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::instruments::{InstrumentSpec, Registry};

    fn insts() -> Vec<Arc<Instrument>> {
        let reg = Registry::new([
            InstrumentSpec::nse_equity(1, "AAA", "AAA"),
            InstrumentSpec::nse_equity(2, "BBB", "BBB"),
        ]);
        vec![
            reg.by_token(1).unwrap().clone(),
            reg.by_token(2).unwrap().clone(),
        ]
    }

    #[test]
    fn reads_keep_instruments_until_idle() {
        let idle = Duration::from_secs(300);
        let t0 = Instant::now();
        let [a, b] = <[_; 2]>::try_from(insts()).unwrap();
        let mut k = Kept::default();
        assert_eq!(k.touch(&[a.clone(), b.clone()], t0), [1, 2]);
        let set = k.take_changed().unwrap();
        assert!(set.iter().all(|(_, m)| *m == Mode::Full) && set.len() == 2);
        assert!(k.take_changed().is_none(), "sent once");
        assert!(k.touch(std::slice::from_ref(&a), t0 + idle / 2).is_empty());
        assert!(k.take_changed().is_none(), "a re-read changes nothing");
        assert_eq!(k.next_expiry(idle), Some(t0 + idle));
        assert!(!k.expire(t0 + idle - Duration::from_millis(1), idle));
        assert!(k.expire(t0 + idle, idle), "b idle for the whole period");
        assert_eq!(k.take_changed().unwrap().len(), 1);
        assert_eq!(k.next_expiry(idle), Some(t0 + idle / 2 + idle));
        assert!(k.expire(t0 + idle * 2, idle));
        assert!(k.is_empty() && k.next_expiry(idle).is_none());
        assert_eq!(
            k.take_changed().unwrap().len(),
            0,
            "an empty set is sent too"
        );
    }

    #[test]
    fn the_set_is_capped() {
        let t0 = Instant::now();
        let [a, b] = <[_; 2]>::try_from(insts()).unwrap();
        let mut k = Kept::with_cap(1);
        assert_eq!(k.touch(&[a.clone(), b.clone()], t0), [1, 2], "both new");
        assert_eq!(k.take_changed().unwrap().len(), 1, "only the first kept");
        assert_eq!(k.touch(&[a, b], t0), [2], "b is still not kept");
        assert!(k.take_changed().is_none());
    }
}
