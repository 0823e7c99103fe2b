//! Last known values on disk: the hub's latest tick per instrument, saved periodically and at
//! shutdown (atomically) and loaded at start, so an evening or weekend dashboard shows the last
//! prices (marked `src: "cache"`, with their age) instead of an empty table.

use crate::model::instruments::{Instrument, Registry};
use crate::model::tick::{Source, Tick};
use crate::store::atomic;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Most values kept (newest first): bounds the file for gateways that saw many instruments.
pub const MAX_VALUES: usize = 20_000;

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    saved_at_ms: i64,
    values: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    symbol: String,
    tick: Tick,
}

/// What a set of values is, cheaply: how many, and the newest and summed receive times. Every
/// tick that replaces a value (WebSocket, REST fallback, closed-hours quote) carries its own receive time, so the
/// same fingerprint means the same values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    len: usize,
    newest_ms: i64,
    sum_ms: i64,
}

impl Fingerprint {
    fn of<'a>(ticks: impl Iterator<Item = &'a Tick>) -> Self {
        ticks.fold(
            Self {
                len: 0,
                newest_ms: i64::MIN,
                sum_ms: 0,
            },
            |f, t| Self {
                len: f.len + 1,
                newest_ms: f.newest_ms.max(t.received_ms),
                sum_ms: f.sum_ms.wrapping_add(t.received_ms),
            },
        )
    }
}

/// The values file. Clones share what was last written (or read), so a periodic save of values
/// that have not moved (a closed market) can be skipped.
#[derive(Debug, Clone)]
pub struct LastValues {
    path: PathBuf,
    on_disk: Arc<Mutex<Option<Fingerprint>>>,
}

impl LastValues {
    pub fn new(data_dir: &Path) -> Self {
        atomic::sweep_temp_files(data_dir);
        Self {
            path: data_dir.join("last_values.json"),
            on_disk: Arc::default(),
        }
    }

    fn remember(&self, fingerprint: Fingerprint) {
        *self.on_disk.lock().unwrap_or_else(|p| p.into_inner()) = Some(fingerprint);
    }

    /// Like [`LastValues::save`], unless `items` are the values last saved or loaded: then
    /// nothing is written and the answer is `None` (the minute saves of a closed day would
    /// otherwise rewrite and fsync the same file 1440 times).
    pub fn save_if_changed(
        &self,
        items: &[(Arc<Instrument>, Tick)],
        now_ms: i64,
    ) -> std::io::Result<Option<usize>> {
        let fingerprint = Fingerprint::of(items.iter().map(|(_, t)| t));
        if *self.on_disk.lock().unwrap_or_else(|p| p.into_inner()) == Some(fingerprint) {
            return Ok(None);
        }
        self.save(items, now_ms).map(Some)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Saves the newest [`MAX_VALUES`] values.
    pub fn save(&self, items: &[(Arc<Instrument>, Tick)], now_ms: i64) -> std::io::Result<usize> {
        let mut values: Vec<Entry> = items
            .iter()
            .map(|(i, t)| Entry {
                symbol: i.symbol.to_string(),
                tick: *t,
            })
            .collect();
        values.sort_by_key(|e| std::cmp::Reverse(e.tick.received_ms));
        values.truncate(MAX_VALUES);
        let n = values.len();
        let body = serde_json::to_vec(&File {
            version: 1,
            saved_at_ms: now_ms,
            values,
        })
        .map_err(std::io::Error::other)?;
        atomic::write_atomic(&self.path, &body)?;
        self.remember(Fingerprint::of(items.iter().map(|(_, t)| t)));
        Ok(n)
    }

    /// Loads saved values whose token still means the same symbol, marked `src: cache`. A missing
    /// or unreadable file gives nothing (and a warning), never an error.
    pub fn load(&self, registry: &Registry) -> Vec<(Arc<Instrument>, Tick)> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot read last known values; starting without them");
                return Vec::new();
            }
        };
        let file: File = match serde_json::from_slice(&bytes) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "last known values file is damaged; starting without it");
                return Vec::new();
            }
        };
        let loaded: Vec<_> = file
            .values
            .into_iter()
            .filter_map(|e| {
                let inst = registry.by_token(e.tick.token)?;
                // Exchanges reuse tokens after expiry: only trust a value for the same symbol.
                (*inst.symbol == *e.symbol).then(|| {
                    let mut t = e.tick;
                    t.src = Source::Cache;
                    (inst.clone(), t)
                })
            })
            .collect();
        // Seeded into the hub as they are: until a tick moves them, the file holds them.
        self.remember(Fingerprint::of(loaded.iter().map(|(_, t)| t)));
        loaded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::instruments::InstrumentSpec;
    use crate::model::tick::Quote;

    fn registry(sym: &str) -> Registry {
        Registry::new([InstrumentSpec::nse_equity(1, sym, sym)])
    }

    fn tick() -> Tick {
        Tick {
            token: 1,
            divisor: 100,
            ltp: 81_240,
            quote: Some(Quote {
                close: 80_000,
                ..Quote::default()
            }),
            full: None,
            received_ms: 1_000,
            src: Source::Ws,
        }
    }

    #[test]
    fn round_trip_marks_values_as_cache() {
        let dir = tempfile::tempdir().unwrap();
        let store = LastValues::new(dir.path());
        let reg = registry("SBIN");
        let inst = reg.by_token(1).unwrap().clone();
        assert!(store.load(&reg).is_empty());
        assert_eq!(store.save(&[(inst, tick())], 5_000).unwrap(), 1);
        let back = store.load(&reg);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].1.src, Source::Cache);
        assert_eq!(back[0].1.ltp, 81_240);
        assert_eq!(back[0].1.received_ms, 1_000, "age is kept");
    }

    #[test]
    fn reused_tokens_and_damaged_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = LastValues::new(dir.path());
        let reg = registry("SBIN");
        store
            .save(&[(reg.by_token(1).unwrap().clone(), tick())], 5)
            .unwrap();
        assert!(
            store.load(&registry("OTHER")).is_empty(),
            "token now means another symbol"
        );
        std::fs::write(store.path(), b"{\"version\":1,\"saved_at").unwrap();
        assert!(store.load(&reg).is_empty(), "a torn file is not fatal");
    }
}
