//! The Fyers symbol book: token → Fyers symbol (and divisor) for every instrument of the symbol
//! master, shared by the REST adapter (quotes) and the data socket (symbol → topic). Filled when
//! the instrument list is fetched; persisted next to the instrument cache, because a restart
//! that finds today's instrument cache does not fetch the master again; downloaded once more as
//! a last resort when neither is available.
//!
//! Registry specs cannot carry the Fyers symbol (they are broker-neutral), hence this book.

use super::master::{self, Entry, Row};
use crate::brokers::BrokerError;
use crate::model::tick::Token;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The master files fetched, in order (`<base>/<name>.csv`). A file the server does not have
/// (404) is skipped: mirrors and the simulator serve a subset.
pub const MASTER_FILES: &[&str] = &[
    "NSE_CM", "NSE_FO", "NSE_CD", "NSE_COM", "BSE_CM", "BSE_FO", "BSE_CD", "MCX_COM",
];
/// Largest master file read (the real NSE_FO is some tens of MB).
const MAX_MASTER_BYTES: usize = 256 << 20;
/// Time for one master file.
const MASTER_TIMEOUT: Duration = Duration::from_secs(120);
/// A lookup that misses does not download the master again sooner than this.
const REDOWNLOAD_AFTER: Duration = Duration::from_secs(600);

/// Where the master lives and where the book is kept.
#[derive(Debug, Clone)]
pub struct BookSource {
    pub http: reqwest::Client,
    /// `FYERS_SYMBOLS_URL`, e.g. `https://public.fyers.in/sym_details`.
    pub base_url: String,
    /// The persisted book; `None` keeps it in memory only.
    pub path: Option<PathBuf>,
}

#[derive(Debug, Default)]
struct State {
    entries: Arc<HashMap<Token, Entry>>,
    /// The persisted file was read (or found missing) once.
    file_tried: bool,
    last_download: Option<Instant>,
}

/// The shared book; cheap to clone.
#[derive(Debug, Clone)]
pub struct SymbolBook {
    source: BookSource,
    state: Arc<Mutex<State>>,
    /// Serialises downloads and file reads so concurrent lookups do one load.
    loading: Arc<tokio::sync::Mutex<()>>,
}

impl SymbolBook {
    pub fn new(source: BookSource) -> Self {
        Self {
            source,
            state: Arc::default(),
            loading: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn snapshot(&self) -> Arc<HashMap<Token, Entry>> {
        self.lock().entries.clone()
    }

    /// Downloads and parses every master file: the registry specs, and the book replaced (and
    /// persisted) with their entries.
    pub async fn download(&self) -> Result<Vec<Row>, BrokerError> {
        let _one = self.loading.lock().await;
        self.download_locked().await
    }

    async fn download_locked(&self) -> Result<Vec<Row>, BrokerError> {
        self.lock().last_download = Some(Instant::now());
        let mut rows: Vec<Row> = Vec::new();
        let mut found = Vec::new();
        let mut skipped = 0usize;
        for name in MASTER_FILES {
            let Some(body) = self.fetch(name).await? else {
                continue;
            };
            let (mut file_rows, file_skipped) = master::parse_file(&body);
            found.push(*name);
            skipped += file_skipped;
            rows.append(&mut file_rows);
        }
        if found.is_empty() {
            return Err(BrokerError::Unavailable(format!(
                "no fyers symbol master file under {}",
                self.source.base_url
            )));
        }
        // Two rows with one token: the first wins (see `master`'s token notes).
        let mut entries = HashMap::with_capacity(rows.len());
        let mut duplicates = 0usize;
        rows.retain(|r| match entries.entry(r.spec.token) {
            std::collections::hash_map::Entry::Occupied(_) => {
                duplicates += 1;
                false
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(r.entry.clone());
                true
            }
        });
        if skipped + duplicates > 0 {
            tracing::info!(
                skipped,
                duplicates,
                "fyers symbol master rows that cannot be streamed were left out"
            );
        }
        tracing::debug!(files = ?found, instruments = rows.len(), "fyers symbol master parsed");
        self.persist(&entries);
        let mut st = self.lock();
        st.entries = Arc::new(entries);
        st.file_tried = true;
        Ok(rows)
    }

    /// One master file; `None` when the server does not have it.
    async fn fetch(&self, name: &str) -> Result<Option<Vec<u8>>, BrokerError> {
        let url = format!("{}/{name}.csv", self.source.base_url.trim_end_matches('/'));
        let unavailable =
            |what: String| BrokerError::Unavailable(format!("fyers symbol master {name}: {what}"));
        let response = self
            .source
            .http
            .get(&url)
            .timeout(MASTER_TIMEOUT)
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            tracing::debug!(file = name, "fyers symbol master file not served; skipped");
            return Ok(None);
        }
        if !status.is_success() {
            return Err(unavailable(format!("http {}", status.as_u16())));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_MASTER_BYTES as u64)
        {
            return Err(unavailable("larger than the limit".into()));
        }
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_MASTER_BYTES {
                return Err(unavailable("larger than the limit".into()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(body))
    }

    /// The entries of `tokens` that the book knows, loading the persisted book or, as a last
    /// resort (at most every ten minutes), the master when some are missing.
    pub async fn lookup(&self, tokens: &[Token]) -> HashMap<Token, Entry> {
        let found = pick(&self.snapshot(), tokens);
        if found.len() == tokens.len() {
            return found;
        }
        let _one = self.loading.lock().await;
        let file_tried = self.lock().file_tried;
        if !file_tried {
            let from_file = self.read_file();
            let mut st = self.lock();
            st.file_tried = true;
            if let Some(entries) = from_file {
                tracing::info!(
                    instruments = entries.len(),
                    "fyers symbol book loaded from disk"
                );
                st.entries = Arc::new(entries);
            }
        }
        let found = pick(&self.snapshot(), tokens);
        let recent = self
            .lock()
            .last_download
            .is_some_and(|t| t.elapsed() < REDOWNLOAD_AFTER);
        if found.len() == tokens.len() || recent {
            return found;
        }
        tracing::info!(
            missing = tokens.len() - found.len(),
            "instruments missing from the fyers symbol book; downloading the symbol master"
        );
        if let Err(e) = self.download_locked().await {
            tracing::warn!(error = %e, "cannot download the fyers symbol master; those instruments cannot be streamed for now");
        }
        pick(&self.snapshot(), tokens)
    }

    fn read_file(&self) -> Option<HashMap<Token, Entry>> {
        let path = self.source.path.as_ref()?;
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the fyers symbol book");
                return None;
            }
        };
        match serde_json::from_slice::<Vec<(Token, Entry)>>(&text) {
            Ok(list) => Some(list.into_iter().collect()),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "the fyers symbol book is unreadable; ignoring it");
                None
            }
        }
    }

    /// Writes the book atomically ([`crate::store::atomic`]); failures only cost a re-download
    /// later.
    fn persist(&self, entries: &HashMap<Token, Entry>) {
        let Some(path) = &self.source.path else {
            return;
        };
        let res = write_atomically(path, entries);
        if let Err(e) = res {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the fyers symbol book; a restart will download the master again");
        }
    }
}

fn pick(entries: &HashMap<Token, Entry>, tokens: &[Token]) -> HashMap<Token, Entry> {
    tokens
        .iter()
        .filter_map(|t| entries.get(t).map(|e| (*t, e.clone())))
        .collect()
}

fn write_atomically(path: &Path, entries: &HashMap<Token, Entry>) -> std::io::Result<()> {
    let mut list: Vec<(&Token, &Entry)> = entries.iter().collect();
    list.sort_by_key(|(t, _)| **t);
    let body = serde_json::to_vec(&list).map_err(std::io::Error::other)?;
    crate::store::atomic::write_atomic(path, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const CM: &str = "10100000003045,STATE BANK OF INDIA,0,1,0.05,,,,,NSE:SBIN-EQ,10,10,3045,SBIN,3045,-1.0,XX,,None,0,None\n\
101000000026000,Nifty 50,10,1,0.05,,,,,NSE:NIFTY50-INDEX,10,10,26000,NIFTY50,26000,-1.0,XX,,None,0,None\n";

    /// A master server with only NSE_CM; counts requests for it.
    async fn server(hits: Arc<AtomicUsize>) -> String {
        let app = axum::Router::new().route(
            "/sym/NSE_CM.csv",
            get(move || {
                hits.fetch_add(1, Ordering::SeqCst);
                async { CM }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/sym")
    }

    fn book(base_url: String, path: Option<PathBuf>) -> SymbolBook {
        SymbolBook::new(BookSource {
            http: reqwest::Client::new(),
            base_url,
            path,
        })
    }

    #[tokio::test]
    async fn downloads_persists_and_reloads_without_the_network() {
        let hits = Arc::new(AtomicUsize::new(0));
        let base = server(hits.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fyers-symbols.json");
        let first = book(base.clone(), Some(path.clone()));
        let rows = first.download().await.unwrap();
        assert_eq!(rows.len(), 2, "missing files (404) are skipped");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        let sbin = first.lookup(&[779_521]).await;
        assert_eq!(sbin[&779_521].symbol, "NSE:SBIN-EQ");

        // A restart: the book comes from disk, no download.
        let second = book("http://127.0.0.1:9/none".into(), Some(path));
        let got = second.lookup(&[779_521, (26_000 << 8) | 9]).await;
        assert_eq!(got.len(), 2);
        assert!(got[&((26_000 << 8) | 9)].is_index);
    }

    #[tokio::test]
    async fn a_miss_downloads_once_then_waits() {
        let hits = Arc::new(AtomicUsize::new(0));
        let base = server(hits.clone()).await;
        let b = book(base, None);
        let got = b.lookup(&[779_521, 42]).await;
        assert_eq!(got.len(), 1, "42 is nowhere");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        let again = b.lookup(&[42]).await;
        assert!(again.is_empty());
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "no second download within ten minutes"
        );
    }

    #[tokio::test]
    async fn no_master_at_all_is_an_error() {
        let hits = Arc::new(AtomicUsize::new(0));
        let base = server(hits).await;
        let b = book(format!("{base}/elsewhere"), None);
        assert!(matches!(
            b.download().await,
            Err(BrokerError::Unavailable(_))
        ));
    }
}
