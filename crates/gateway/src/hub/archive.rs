//! Keeping data across restarts: saves the hub's last known values every minute (when they
//! moved) and at shutdown, and writes the day's candles to `candles/YYYY-MM-DD.csv` when the
//! feed stops after the post-close session, when the IST day changes, and at shutdown (each
//! write of a day keeps the file's minutes this run never saw, so a restart mid-day loses
//! nothing on disk). In a cluster only the leader writes candle files.

use crate::hub::HubHandle;
use crate::model::candle::{day_date, ist_day};
use crate::model::clock::SharedClock;
use crate::model::demand::RunPolicy;
use crate::store::candle_files::{CandleStore, DayCandles};
use crate::store::last_values::LastValues;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often last known values are saved while running.
pub const SAVE_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Archive {
    pub hub: HubHandle,
    pub values: LastValues,
    pub candles: CandleStore,
    pub clock: SharedClock,
    /// Candle files are written only while this is `true` (in a cluster, while this node
    /// leads: the files are the leader's); `None` writes always.
    pub candles_while: Option<watch::Receiver<bool>>,
}

impl Archive {
    /// Saves last known values now, unless they are what the file already holds.
    pub async fn save_values(&self) {
        let Ok(items) = self.hub.latest_all().await else {
            return;
        };
        if items.is_empty() {
            return;
        }
        let values = self.values.clone();
        let now = self.clock.now_ms();
        let res = tokio::task::spawn_blocking(move || values.save_if_changed(&items, now)).await;
        match res {
            Ok(Ok(Some(n))) => tracing::debug!(values = n, "last known values saved"),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot save last known values"),
            Err(e) => tracing::warn!(error = %e, "saving last known values failed"),
        }
    }

    /// Writes the current day's candles (grouped by their IST day), unless another node
    /// writes them.
    pub async fn save_candles(&self) {
        if self.candles_while.as_ref().is_some_and(|w| !*w.borrow()) {
            tracing::debug!("candle files are the cluster leader's to write");
            return;
        }
        let Ok(rows) = self.hub.day_candles().await else {
            return;
        };
        if rows.is_empty() {
            return;
        }
        let store = self.candles.clone();
        let res = tokio::task::spawn_blocking(move || write_days(&store, rows)).await;
        match res {
            Ok(Ok(paths)) => {
                for p in paths {
                    tracing::info!(path = %p.display(), "session candles saved");
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot save session candles"),
            Err(e) => tracing::warn!(error = %e, "saving session candles failed"),
        }
    }

    /// Everything, once (at shutdown).
    pub async fn save_all(&self) {
        self.save_values().await;
        self.save_candles().await;
    }

    /// Saves values every minute, and candles whenever the scheduler stops the feed and when
    /// the IST day changes (a feed left running past midnight, scheduler off, has no close).
    pub async fn run(self, mut run: watch::Receiver<RunPolicy>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(SAVE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut running = run.borrow().should_run;
        let today = |clock: &SharedClock| ist_day(clock.now_ms().div_euclid(1000));
        let mut day = today(&self.clock);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    self.save_values().await;
                    if today(&self.clock) != day {
                        day = today(&self.clock);
                        self.save_candles().await;
                    }
                }
                r = run.changed() => {
                    if r.is_err() {
                        break;
                    }
                    let now_running = run.borrow_and_update().should_run;
                    if running && !now_running {
                        // The feed stopped after the post-close session: back up the day.
                        self.save_candles().await;
                        self.save_values().await;
                    }
                    running = now_running;
                }
            }
        }
    }
}

/// Splits rows by the IST day of their candles and writes one file per day.
fn write_days(
    store: &CandleStore,
    rows: Vec<DayCandles>,
) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut by_day: std::collections::BTreeMap<i64, Vec<DayCandles>> = Default::default();
    for r in rows {
        let mut split: std::collections::BTreeMap<i64, Vec<crate::model::candle::Candle>> =
            Default::default();
        for c in r.candles {
            split.entry(ist_day(c.t)).or_default().push(c);
        }
        for (day, candles) in split {
            by_day.entry(day).or_default().push(DayCandles {
                symbol: r.symbol.clone(),
                token: r.token,
                divisor: r.divisor,
                candles,
            });
        }
    }
    let mut paths = Vec::new();
    for (day, rows) in by_day {
        let Some(date) = day_date(day) else {
            continue;
        };
        paths.push(store.write(date, &rows)?);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::candle::Candle;

    #[test]
    fn days_are_named_by_ist_date() {
        let dir = tempfile::tempdir().unwrap();
        let store = CandleStore::new(dir.path());
        // 2026-11-23 23:59 IST and 2026-11-24 00:00 IST.
        let late = 1_795_458_540;
        let rows = vec![DayCandles {
            symbol: "NSE:SBIN".into(),
            token: 1,
            divisor: 100,
            candles: vec![
                Candle {
                    t: late,
                    open: 1,
                    high: 1,
                    low: 1,
                    close: 1,
                    volume: 1,
                },
                Candle {
                    t: late + 60,
                    open: 2,
                    high: 2,
                    low: 2,
                    close: 2,
                    volume: 1,
                },
            ],
        }];
        let paths = write_days(&store, rows).unwrap();
        let names: Vec<String> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["2026-11-23.csv", "2026-11-24.csv"]);
    }

    #[tokio::test(start_paused = true)]
    async fn values_that_have_not_moved_are_not_rewritten() {
        use crate::model::instruments::{InstrumentSpec, Registry};
        use crate::model::tick::{Source, Tick};
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new([InstrumentSpec::nse_equity(1, "SBIN", "SBIN")]);
        let tick = |ltp, received_ms| Tick {
            token: 1,
            divisor: 100,
            ltp,
            quote: None,
            full: None,
            received_ms,
            src: Source::Ws,
        };
        // An earlier run's file.
        let sbin = registry.by_token(1).unwrap().clone();
        LastValues::new(dir.path())
            .save(&[(sbin, tick(81_240, 1_000))], 2_000)
            .unwrap();

        let clock: SharedClock = std::sync::Arc::new(crate::model::clock::TokioClock::starting_at(
            chrono::DateTime::from_timestamp(1_795_450_000, 0).unwrap(),
        ));
        let shutdown = CancellationToken::new();
        let tracker = tokio_util::task::TaskTracker::new();
        let (_live_tx, live) = watch::channel(crate::model::live::FeedLive::DOWN);
        let hub = crate::hub::spawn(
            crate::hub::HubConfig::default(),
            live,
            clock.clone(),
            shutdown.clone(),
            &tracker,
        );
        let values = LastValues::new(dir.path());
        hub.seed(values.load(&registry)).await.unwrap();
        let archive = Archive {
            hub: hub.clone(),
            values,
            candles: CandleStore::new(dir.path()),
            clock,
            candles_while: None,
        };
        let path = archive.values.path().to_path_buf();
        let written = || path.exists();

        // A closed evening: the minute saves find nothing new, since the load or since the
        // last save.
        std::fs::remove_file(&path).unwrap();
        archive.save_values().await;
        assert!(
            !written(),
            "the values loaded at start are what the file holds"
        );
        hub.tick_sender()
            .send(vec![tick(81_300, 5_000)])
            .await
            .unwrap();
        while hub.latest(vec![1]).await.unwrap()[0].map(|t| t.ltp) != Some(81_300) {
            tokio::task::yield_now().await;
        }
        archive.save_values().await;
        assert!(written(), "a new value is saved");
        std::fs::remove_file(&path).unwrap();
        for _ in 0..3 {
            archive.save_values().await;
        }
        assert!(!written(), "nothing moved since the last save");
        shutdown.cancel();
    }
}
