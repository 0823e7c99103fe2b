//! The keys a running gateway accepts: those of `keys.json` (re-read when the file changes, so
//! `feedgate keys add` and `revoke` take effect without a restart) and those of
//! `FEEDGATE_API_KEYS`; checks a presented key in constant time, and counts each key's open
//! WebSocket connections against its `max_connections`.

use super::credential::Presented;
use super::keys::{self, KeyRecord};
use crate::config::EnvKey;
use crate::model::scope::Scopes;
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use subtle::ConstantTimeEq;
use tokio::time::Instant;

/// How often the key file's modification time is looked at, at most.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// Who a caller is, once their key checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key id (`"-"` when access control is off): for logs and connection counting.
    pub key_id: Arc<str>,
    pub scopes: Scopes,
    pub max_connections: Option<u32>,
    pub max_symbols: Option<u32>,
}

impl Principal {
    /// The caller when access control is off: may do everything.
    pub fn open() -> Self {
        Self {
            key_id: Arc::from("-"),
            scopes: Scopes::ALL,
            max_connections: None,
            max_symbols: None,
        }
    }
}

#[derive(Debug)]
struct Entry {
    hash: [u8; 32],
    principal: Principal,
}

#[derive(Debug, Default)]
struct Loaded {
    file_keys: HashMap<String, Entry>,
    seen: Option<(SystemTime, u64, u64)>,
    checked: Option<Instant>,
}

/// The accepted keys (see the module docs). Cheap to clone.
#[derive(Debug, Clone)]
pub struct KeyRing {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: Option<PathBuf>,
    env_keys: HashMap<String, Entry>,
    loaded: Mutex<Loaded>,
    open_connections: Mutex<HashMap<Arc<str>, u32>>,
}

/// A hash no secret has (compared against when the id is unknown, so an unknown id costs the
/// same work as a wrong secret).
const NO_HASH: [u8; 32] = [0xa5; 32];

impl KeyRing {
    /// Keys from `path` (`None`: only the environment's) and from `FEEDGATE_API_KEYS`.
    pub fn new(path: Option<PathBuf>, env: &[EnvKey]) -> Self {
        let env_keys = env
            .iter()
            .map(|k| {
                let entry = Entry {
                    hash: keys::hash_secret(&k.id, k.secret.expose_secret().as_bytes()),
                    principal: Principal {
                        key_id: Arc::from(k.id.as_str()),
                        scopes: k.scopes,
                        max_connections: None,
                        max_symbols: None,
                    },
                };
                (k.id.clone(), entry)
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                path,
                env_keys,
                loaded: Mutex::new(Loaded::default()),
                open_connections: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The key file of a data directory.
    pub fn file_in(data_dir: &std::path::Path) -> PathBuf {
        data_dir.join(keys::FILE_NAME)
    }

    /// How many keys are accepted now (the start-up check refuses a public listener with none).
    pub fn len(&self) -> usize {
        let mut loaded = self.lock_loaded();
        self.refresh(&mut loaded, true);
        loaded.file_keys.len() + self.inner.env_keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The principal of a valid key, `None` for an unknown id or a wrong secret alike.
    pub fn verify(&self, p: &Presented) -> Option<Principal> {
        let presented = keys::hash_secret(&p.id, p.secret.expose_secret().as_bytes());
        let mut loaded = self.lock_loaded();
        self.refresh(&mut loaded, false);
        let entry = self
            .inner
            .env_keys
            .get(&p.id)
            .or_else(|| loaded.file_keys.get(&p.id));
        let stored = entry.map_or(&NO_HASH, |e| &e.hash);
        let equal: bool = presented.ct_eq(stored).into();
        entry.filter(|_| equal).map(|e| e.principal.clone())
    }

    /// The principal of the key `id`, if it is accepted now (a session shared by another
    /// node names only its key).
    pub fn principal_of(&self, id: &str) -> Option<Principal> {
        let mut loaded = self.lock_loaded();
        self.refresh(&mut loaded, false);
        self.inner
            .env_keys
            .get(id)
            .or_else(|| loaded.file_keys.get(id))
            .map(|e| e.principal.clone())
    }

    /// Takes one of the key's connection slots; `None` when `max_connections` are open. The
    /// slot is given back when the guard drops.
    pub fn connect(&self, p: &Principal) -> Option<ConnectionSlot> {
        let mut open = self
            .inner
            .open_connections
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let n = open.entry(p.key_id.clone()).or_insert(0);
        if p.max_connections.is_some_and(|max| *n >= max) {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            ring: self.clone(),
            key_id: p.key_id.clone(),
        })
    }

    fn lock_loaded(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.inner.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Re-reads the key file when it changed (looked at once a second at most, or now when
    /// `force`). A file that cannot be read keeps the keys last read, and says why.
    fn refresh(&self, loaded: &mut Loaded, force: bool) {
        let Some(path) = &self.inner.path else {
            return;
        };
        let now = Instant::now();
        if !force
            && loaded
                .checked
                .is_some_and(|t| now.duration_since(t) < RELOAD_CHECK)
        {
            return;
        }
        let first = loaded.checked.is_none();
        loaded.checked = Some(now);
        let seen = fingerprint(path);
        if !first && seen == loaded.seen {
            return;
        }
        match keys::load(path) {
            Ok(records) => {
                loaded.file_keys = records.into_iter().map(entry_of).collect();
                loaded.seen = seen;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the key file; keeping the keys read before")
            }
        }
    }
}

/// What tells a changed key file: modification time, size and (the file is replaced by a
/// rename on every write) its inode.
fn fingerprint(path: &std::path::Path) -> Option<(SystemTime, u64, u64)> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((m.modified().ok()?, m.len(), ino))
}

fn entry_of(r: KeyRecord) -> (String, Entry) {
    let mut hash = NO_HASH;
    let ok = hex::decode_to_slice(&r.hash, &mut hash).is_ok();
    let entry = Entry {
        // A damaged hash matches no secret.
        hash: if ok { hash } else { NO_HASH },
        principal: Principal {
            key_id: Arc::from(r.id.as_str()),
            scopes: r.scopes,
            max_connections: r.max_connections,
            max_symbols: r.max_symbols,
        },
    };
    (r.id, entry)
}

/// One open connection of a key; gives its slot back on drop.
#[derive(Debug)]
pub struct ConnectionSlot {
    ring: KeyRing,
    key_id: Arc<str>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self
            .ring
            .inner
            .open_connections
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::keys::{KeySpec, generate, save};
    use crate::model::scope::Scope;
    use secrecy::SecretString;

    fn read() -> Scopes {
        Scopes::NONE.with(Scope::Read)
    }

    #[test]
    fn env_keys_verify_and_wrong_or_unknown_look_the_same() {
        let ring = KeyRing::new(
            None,
            &[EnvKey {
                id: "desk".into(),
                secret: SecretString::from("0123456789abcdef0123"),
                scopes: read(),
            }],
        );
        let ok = Presented::parse_pair("desk:0123456789abcdef0123").unwrap();
        assert_eq!(ring.verify(&ok).unwrap().scopes, read());
        let wrong = Presented::parse_pair("desk:0123456789abcdef0124").unwrap();
        let unknown = Presented::parse_pair("nobody:0123456789abcdef0123").unwrap();
        assert_eq!(ring.verify(&wrong), None);
        assert_eq!(ring.verify(&unknown), None);
    }

    #[tokio::test(start_paused = true)]
    async fn file_keys_are_reread_after_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = KeyRing::file_in(dir.path());
        let ring = KeyRing::new(Some(path.clone()), &[]);
        assert!(ring.is_empty());
        let spec = KeySpec {
            name: "a".into(),
            scopes: read(),
            max_connections: Some(1),
            max_symbols: Some(5),
        };
        let k = generate(spec, chrono::Utc::now());
        save(&path, std::slice::from_ref(&k.record)).unwrap();
        let p = Presented::parse_pair(k.credential.expose_secret()).unwrap();
        tokio::time::advance(RELOAD_CHECK).await;
        let who = ring
            .verify(&p)
            .expect("the new key is accepted without a restart");
        assert_eq!(who.max_symbols, Some(5));
        let slot = ring.connect(&who).expect("first connection");
        assert!(ring.connect(&who).is_none(), "max_connections = 1");
        drop(slot);
        assert!(ring.connect(&who).is_some(), "the slot came back");
        save(&path, &[]).unwrap();
        tokio::time::advance(RELOAD_CHECK).await;
        assert_eq!(ring.verify(&p), None, "a revoked key stops working");
    }
}
