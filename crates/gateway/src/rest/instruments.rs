//! Loading the instrument registry: fetched from the broker (Kite's `/instruments` dump),
//! cached in `FEEDGATE_DATA_DIR` ([`InstrumentCache`]) so a restart does not refetch and a broker
//! outage at start-up does not leave feedgate without symbols, and refreshed once a day (after 08:30 IST, when Kite
//! publishes the new dump), or as soon as the broker answers when start-up had to make do with
//! an older cache.

use crate::brokers::BrokerApi;
use crate::model::clock::SharedClock;
use crate::model::instruments::{InstrumentSpec, Registry};
use crate::store::instrument_cache::InstrumentCache;
use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::Asia::Kolkata;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum InstrumentsError {
    #[error(
        "cannot load instruments from the broker ({fetch}) and there is no usable cache at {cache}"
    )]
    Unavailable { fetch: String, cache: PathBuf },
}

/// The IST trading date whose dump is current at `now`: the dump changes at 08:30 IST.
pub fn dump_date(now: DateTime<Utc>) -> NaiveDate {
    let ist = now.with_timezone(&Kolkata);
    let date = ist.date_naive();
    if ist.hour() * 60 + ist.minute() < 8 * 60 + 30 {
        date.pred_opt().unwrap_or(date)
    } else {
        date
    }
}

/// Loads the registry through the broker and the cache, and keeps it current.
#[derive(Debug, Clone)]
pub struct InstrumentLoader {
    broker: Arc<dyn BrokerApi>,
    cache: InstrumentCache,
    clock: SharedClock,
}

impl InstrumentLoader {
    pub fn new(broker: Arc<dyn BrokerApi>, data_dir: &Path, clock: SharedClock) -> Self {
        let cache = InstrumentCache::new(data_dir, broker.name());
        Self {
            broker,
            cache,
            clock,
        }
    }

    fn read_cache(&self) -> Option<(NaiveDate, Vec<InstrumentSpec>)> {
        match self.cache.read() {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(path = %self.cache.path().display(), error = %e, "instrument cache unreadable; ignoring it");
                None
            }
        }
    }

    /// Writes the cache on a blocking thread (serialising and syncing some 20 MB); a failure
    /// only costs the cache.
    async fn write_cache(&self, date: NaiveDate, specs: Arc<Vec<InstrumentSpec>>) {
        let cache = self.cache.clone();
        let job = tokio::task::spawn_blocking(move || cache.write(date, &specs));
        let res = match job.await {
            Ok(res) => res,
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        if let Err(e) = res {
            tracing::warn!(path = %self.cache.path().display(), error = %e, "cannot write the instrument cache; continuing without it");
        }
    }

    /// Caches a fresh dump and builds its registry.
    async fn keep(&self, date: NaiveDate, specs: Vec<InstrumentSpec>) -> Registry {
        let specs = Arc::new(specs);
        self.write_cache(date, specs.clone()).await;
        // The writer has dropped its reference by now (finished, or never started).
        let specs = Arc::try_unwrap(specs).unwrap_or_else(|shared| (*shared).clone());
        Registry::new(specs)
    }

    /// Today's registry: the cache when it is today's, else a fresh fetch, else (with a warning)
    /// an older cache. Says which dump date it holds, so [`Self::refresh_daily`] knows whether
    /// it is behind.
    pub async fn load(&self) -> Result<Loaded, InstrumentsError> {
        let today = dump_date(self.clock.now());
        let cached = self.read_cache();
        if let Some((date, specs)) = &cached
            && *date == today
        {
            tracing::info!(
                instruments = specs.len(),
                "instruments loaded from today's cache"
            );
            return Ok(Loaded {
                registry: Registry::new(specs.clone()),
                date: today,
            });
        }
        match self.broker.instruments().await {
            Ok(specs) if !specs.is_empty() => {
                let n = specs.len();
                let registry = self.keep(today, specs).await;
                tracing::info!(instruments = n, "instruments fetched from the broker");
                Ok(Loaded {
                    registry,
                    date: today,
                })
            }
            res => {
                let fetch = match res {
                    Err(e) => e.to_string(),
                    Ok(_) => "the broker returned an empty list".into(),
                };
                match cached {
                    Some((date, specs)) => {
                        tracing::warn!(cache_date = %date, error = %fetch, "cannot refresh instruments; using an older cache (new listings are missing until the next refresh, tried every 10 minutes)");
                        Ok(Loaded {
                            registry: Registry::new(specs),
                            date,
                        })
                    }
                    None => Err(InstrumentsError::Unavailable {
                        fetch,
                        cache: self.cache.path().to_path_buf(),
                    }),
                }
            }
        }
    }

    /// Keeps the registry at the current dump: every 10 minutes, fetches the dump when the one
    /// held (`held`, from [`Self::load`]) is older than the current one. A failure is logged
    /// when it starts and when it ends, not every 10 minutes.
    pub async fn refresh_daily(
        self,
        held: NaiveDate,
        registry: watch::Sender<Arc<Registry>>,
        shutdown: CancellationToken,
    ) {
        let mut current = held;
        let mut failing = 0u32;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(REFRESH_EVERY) => {}
            }
            let date = dump_date(self.clock.now());
            if date <= current {
                continue;
            }
            let error = match self.broker.instruments().await {
                Ok(specs) if !specs.is_empty() => {
                    let n = specs.len();
                    let fresh = self.keep(date, specs).await;
                    tracing::info!(
                        instruments = n,
                        dump = %date,
                        failed_attempts = failing,
                        "instruments refreshed"
                    );
                    registry.send_replace(Arc::new(fresh));
                    current = date;
                    failing = 0;
                    continue;
                }
                Ok(_) => "the broker returned an empty list".to_string(),
                Err(e) => e.to_string(),
            };
            failing += 1;
            if failing == 1 {
                tracing::warn!(error = %error, held = %current, "instrument refresh failed; retrying every 10 minutes (further failures are logged at debug)");
            } else {
                tracing::debug!(error = %error, failures = failing, "instrument refresh failed again");
            }
        }
    }
}

/// How often [`InstrumentLoader::refresh_daily`] looks at the dump date (and retries).
const REFRESH_EVERY: Duration = Duration::from_secs(600);

/// A registry and the dump date it was built from.
#[derive(Debug)]
pub struct Loaded {
    pub registry: Registry,
    pub date: NaiveDate,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::brokers::{BrokerError, SessionGrant, UserProfile};
    use crate::model::clock::TokioClock;
    use crate::model::instruments::Instrument;
    use crate::model::tick::Tick;
    use futures_util::future::BoxFuture;
    use secrecy::SecretString;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// A broker whose instrument list answers are scripted (an empty script: unavailable).
    #[derive(Debug, Default)]
    struct Dumps(Mutex<VecDeque<Result<Vec<InstrumentSpec>, BrokerError>>>);

    impl Dumps {
        fn then(self, answer: Result<Vec<InstrumentSpec>, BrokerError>) -> Self {
            self.0.lock().unwrap().push_back(answer);
            self
        }
    }

    fn down() -> Result<Vec<InstrumentSpec>, BrokerError> {
        Err(BrokerError::Unavailable("HTTP 503".into()))
    }

    impl BrokerApi for Dumps {
        fn name(&self) -> &'static str {
            "kite"
        }
        fn profile(&self, _: SecretString) -> BoxFuture<'static, Result<UserProfile, BrokerError>> {
            Box::pin(async { Err(BrokerError::Invalid("not used".into())) })
        }
        fn quotes(
            &self,
            _: SecretString,
            _: Vec<Arc<Instrument>>,
            _: i64,
        ) -> BoxFuture<'static, Result<Vec<Tick>, BrokerError>> {
            Box::pin(async { Err(BrokerError::Invalid("not used".into())) })
        }
        fn instruments(&self) -> BoxFuture<'static, Result<Vec<InstrumentSpec>, BrokerError>> {
            let answer = self.0.lock().unwrap().pop_front().unwrap_or_else(down);
            Box::pin(async move { answer })
        }
        fn login_url(&self, _: &str) -> String {
            String::new()
        }
        fn exchange(&self, _: String) -> BoxFuture<'static, Result<SessionGrant, BrokerError>> {
            Box::pin(async { Err(BrokerError::Invalid("not used".into())) })
        }
        fn quote_batch(&self) -> usize {
            500
        }
        fn quote_interval(&self) -> Duration {
            Duration::from_secs(1)
        }
    }

    fn spec(token: u32, symbol: &str) -> InstrumentSpec {
        InstrumentSpec {
            token,
            exchange: "NFO".into(),
            tradingsymbol: symbol.into(),
            name: "NIFTY".into(),
            segment: "NFO-FUT".into(),
            instrument_type: "FUT".into(),
            tick_size: 0.05,
            lot_size: 75,
            divisor: 100,
            is_index: false,
            expiry: None,
            strike: 0.0,
        }
    }

    fn store(dir: &Path, broker: Dumps, now: &str) -> InstrumentLoader {
        InstrumentLoader::new(
            Arc::new(broker),
            dir,
            Arc::new(TokioClock::starting_at(t(now))),
        )
    }

    /// Everything logged on this thread while the guard lives.
    #[derive(Clone, Default)]
    struct Logs(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Logs {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Logs {
        fn capture(&self) -> tracing::subscriber::DefaultGuard {
            let logs = self.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(move || logs.clone())
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .finish();
            tracing::subscriber::set_default(subscriber)
        }

        fn lines_with(&self, needle: &str) -> usize {
            String::from_utf8_lossy(&self.0.lock().unwrap())
                .lines()
                .filter(|l| l.contains(needle))
                .count()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_start_on_an_older_cache_refreshes_as_soon_as_the_broker_answers() {
        let logs = Logs::default();
        let _guard = logs.capture();
        let dir = tempfile::tempdir().unwrap();
        // Friday's dump is cached.
        let friday = store(
            dir.path(),
            Dumps::default().then(Ok(vec![spec(1, "NIFTY26NOVFUT")])),
            "2026-11-20T10:00:00+05:30",
        );
        assert_eq!(friday.load().await.unwrap().date.to_string(), "2026-11-20");
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(files.len(), 1, "the cache and no leftovers: {files:?}");

        // Monday 10:00: the broker is down at start-up, so Friday's cache serves...
        let monday = store(
            dir.path(),
            Dumps::default()
                .then(down())
                .then(down())
                .then(down())
                .then(Ok(vec![spec(1, "NIFTY26NOVFUT"), spec(2, "NIFTY26DECFUT")])),
            "2026-11-23T10:00:00+05:30",
        );
        let loaded = monday.load().await.unwrap();
        assert_eq!(loaded.date.to_string(), "2026-11-20");
        assert_eq!(loaded.registry.len(), 1);
        // ...and Monday's dump replaces it once the broker answers, not on Tuesday.
        let (tx, mut rx) = watch::channel(Arc::new(loaded.registry));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(monday.refresh_daily(loaded.date, tx, shutdown.clone()));
        tokio::time::timeout(Duration::from_secs(31 * 60), rx.changed())
            .await
            .expect("refreshed within the 10-minute retries")
            .unwrap();
        assert_eq!(rx.borrow().len(), 2);
        assert_eq!(
            logs.lines_with("instrument refresh failed"),
            1,
            "two failed retries, one line"
        );
        assert_eq!(logs.lines_with("instruments refreshed"), 1);
        shutdown.cancel();
        task.await.unwrap();
        let cached = std::fs::read_to_string(dir.path().join("instruments-kite.json")).unwrap();
        assert!(cached.contains("\"2026-11-23\"") && cached.contains("NIFTY26DECFUT"));
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn dump_date_changes_at_0830_ist() {
        let d = |s| dump_date(t(s)).to_string();
        assert_eq!(d("2026-11-23T08:29:59+05:30"), "2026-11-22");
        assert_eq!(d("2026-11-23T08:30:00+05:30"), "2026-11-23");
        assert_eq!(d("2026-11-23T02:00:00Z"), "2026-11-22");
        assert_eq!(d("2026-11-23T03:00:00Z"), "2026-11-23");
    }
}
