//! Loading the instrument registry: fetched from the broker (Kite's `/instruments` dump),
//! cached in `FEEDGATE_DATA_DIR` so a restart does not refetch and a broker outage at start-up
//! does not leave feedgate without symbols, and refreshed once a day (after 08:30 IST, when Kite
//! publishes the new dump).

use crate::broker::BrokerApi;
use crate::clock::SharedClock;
use crate::instruments::{InstrumentSpec, Registry};
use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::Asia::Kolkata;
use serde::{Deserialize, Serialize};
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

#[derive(Serialize, Deserialize)]
struct CacheFile {
    broker: String,
    /// IST date of the dump.
    date: NaiveDate,
    instruments: Vec<CachedSpec>,
}

#[derive(Serialize, Deserialize)]
struct CachedSpec {
    token: u32,
    exchange: String,
    tradingsymbol: String,
    name: String,
    segment: String,
    instrument_type: String,
    tick_size: f64,
    lot_size: u32,
    divisor: u32,
    is_index: bool,
}

impl From<&InstrumentSpec> for CachedSpec {
    fn from(s: &InstrumentSpec) -> Self {
        Self {
            token: s.token,
            exchange: s.exchange.clone(),
            tradingsymbol: s.tradingsymbol.clone(),
            name: s.name.clone(),
            segment: s.segment.clone(),
            instrument_type: s.instrument_type.clone(),
            tick_size: s.tick_size,
            lot_size: s.lot_size,
            divisor: s.divisor,
            is_index: s.is_index,
        }
    }
}

impl From<CachedSpec> for InstrumentSpec {
    fn from(s: CachedSpec) -> Self {
        Self {
            token: s.token,
            exchange: s.exchange,
            tradingsymbol: s.tradingsymbol,
            name: s.name,
            segment: s.segment,
            instrument_type: s.instrument_type,
            tick_size: s.tick_size,
            lot_size: s.lot_size,
            divisor: s.divisor,
            is_index: s.is_index,
        }
    }
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

#[derive(Debug, Clone)]
pub struct InstrumentStore {
    broker: Arc<dyn BrokerApi>,
    path: PathBuf,
    clock: SharedClock,
}

impl InstrumentStore {
    pub fn new(broker: Arc<dyn BrokerApi>, data_dir: &Path, clock: SharedClock) -> Self {
        let path = data_dir.join(format!("instruments-{}.json", broker.name()));
        Self {
            broker,
            path,
            clock,
        }
    }

    fn read_cache(&self) -> Option<(NaiveDate, Vec<InstrumentSpec>)> {
        let text = std::fs::read(&self.path).ok()?;
        let f: CacheFile = match serde_json::from_slice(&text) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "instrument cache unreadable; ignoring it");
                return None;
            }
        };
        (f.broker == self.broker.name() && !f.instruments.is_empty())
            .then(|| (f.date, f.instruments.into_iter().map(Into::into).collect()))
    }

    fn write_cache(&self, date: NaiveDate, specs: &[InstrumentSpec]) {
        let f = CacheFile {
            broker: self.broker.name().to_string(),
            date,
            instruments: specs.iter().map(CachedSpec::from).collect(),
        };
        let res = (|| -> std::io::Result<()> {
            let dir = self.path.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir)?;
            let body = serde_json::to_vec(&f).map_err(std::io::Error::other)?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            std::io::Write::write_all(&mut tmp, &body)?;
            tmp.as_file().sync_all()?;
            tmp.persist(&self.path).map_err(|e| e.error)?;
            Ok(())
        })();
        if let Err(e) = res {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write the instrument cache; continuing without it");
        }
    }

    /// Today's registry: the cache when it is today's, else a fresh fetch, else (with a warning)
    /// an older cache.
    pub async fn load(&self) -> Result<Registry, InstrumentsError> {
        let today = dump_date(self.clock.now());
        let cached = self.read_cache();
        if let Some((date, specs)) = &cached
            && *date == today
        {
            tracing::info!(
                instruments = specs.len(),
                "instruments loaded from today's cache"
            );
            return Ok(Registry::new(specs.clone()));
        }
        match self.broker.instruments().await {
            Ok(specs) if !specs.is_empty() => {
                self.write_cache(today, &specs);
                tracing::info!(
                    instruments = specs.len(),
                    "instruments fetched from the broker"
                );
                Ok(Registry::new(specs))
            }
            res => {
                let fetch = match res {
                    Err(e) => e.to_string(),
                    Ok(_) => "the broker returned an empty list".into(),
                };
                match cached {
                    Some((date, specs)) => {
                        tracing::warn!(cache_date = %date, error = %fetch, "cannot refresh instruments; using an older cache (new listings are missing until the next refresh)");
                        Ok(Registry::new(specs))
                    }
                    None => Err(InstrumentsError::Unavailable {
                        fetch,
                        cache: self.path.clone(),
                    }),
                }
            }
        }
    }

    /// Refreshes the registry once per dump date, retrying every 10 minutes on failure.
    pub async fn refresh_daily(
        self,
        registry: watch::Sender<Arc<Registry>>,
        shutdown: CancellationToken,
    ) {
        let mut current = dump_date(self.clock.now());
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(600)) => {}
            }
            let date = dump_date(self.clock.now());
            if date == current {
                continue;
            }
            match self.broker.instruments().await {
                Ok(specs) if !specs.is_empty() => {
                    self.write_cache(date, &specs);
                    tracing::info!(instruments = specs.len(), "instruments refreshed");
                    registry.send_replace(Arc::new(Registry::new(specs)));
                    current = date;
                }
                Ok(_) => tracing::warn!("instrument refresh returned nothing; will retry"),
                Err(e) => {
                    tracing::warn!(error = %e, "instrument refresh failed; will retry in 10 minutes")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
