//! The token file in `FEEDGATE_DATA_DIR`: written with [`atomic::write_atomic_with_mode`]
//! (temp file in the same directory, fsync, rename, fsync of the directory) with mode 0600, so a
//! crash never leaves a torn file and no other user can read the token; temp files a crash
//! left behind are removed by [`TokenStore::sweep_leftovers`]. Also accepts a file holding just
//! the token, or JSON with only `access_token`, so a user or a script can drop a fresh token in
//! by hand.

use crate::config::{Broker, GatewayConfig};
use crate::store::atomic;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A stored token with where and when it came from.
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub token: SecretString,
    pub user_id: Option<String>,
    pub issued_at: Option<DateTime<Utc>>,
}

/// What the broker made of a token in use, as far as this node knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not checked yet (or the check could not reach the broker).
    Unchecked,
    Accepted,
    Refused,
}

/// The token a node uses, as the cluster shares it (DESIGN.md §9): the auth task publishes it,
/// the cluster's token sharing writes it to Redis (on the leader) and hands a newer one back.
#[derive(Debug, Clone)]
pub struct TokenInUse {
    pub token: StoredToken,
    /// How recent the token is: when it was issued where that is known, else when a node
    /// first put it in use. The newer of two tokens wins.
    pub since: DateTime<Utc>,
    /// The broker's documented expiry, when known (the shared copy expires with it).
    pub expires: Option<DateTime<Utc>>,
    pub verdict: Verdict,
}

impl TokenInUse {
    /// Holds the same token.
    pub fn same_token(&self, other: &TokenInUse) -> bool {
        crate::model::secret::same_secret(&self.token.token, &other.token.token)
    }
}

#[derive(Serialize, Deserialize)]
struct FileFormat {
    /// Written for people reading the file; a hand-written file may leave it out.
    #[serde(default)]
    broker: String,
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issued_at: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot write the token file {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the token file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the token file {path} is not a token: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// A file's modification time and length: enough to tell that it changed.
pub type FileFingerprint = (std::time::SystemTime, u64);

/// The token file of one broker.
#[derive(Debug, Clone)]
pub struct TokenStore {
    path: PathBuf,
    broker: &'static str,
}

impl TokenStore {
    /// `<data_dir>/<broker>_token.json`.
    pub fn new(data_dir: &Path, broker: &'static str) -> Self {
        Self {
            path: data_dir.join(format!("{broker}_token.json")),
            broker,
        }
    }

    pub fn at(path: PathBuf, broker: &'static str) -> Self {
        Self { path, broker }
    }

    /// The configured broker's token file, for the broker named `broker`: `FYERS_TOKEN_FILE`
    /// when set for Fyers, else the broker's file in the data directory.
    pub fn for_config(config: &GatewayConfig, broker: &'static str) -> Self {
        match (config.broker, &config.fyers.token_file) {
            (Broker::Fyers, Some(path)) => Self::at(path.clone(), broker),
            _ => Self::new(&config.data_dir, broker),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the token; `Ok(None)` when there is no file.
    pub fn load(&self) -> Result<Option<StoredToken>, StoreError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StoreError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        parse(&text)
            .map(Some)
            .map_err(|reason| StoreError::Invalid {
                path: self.path.clone(),
                reason,
            })
    }

    /// Writes the token atomically with mode 0600.
    pub fn save(&self, t: &StoredToken) -> Result<(), StoreError> {
        let err = |source| StoreError::Write {
            path: self.path.clone(),
            source,
        };
        let mut body = serde_json::to_vec_pretty(&FileFormat {
            broker: self.broker.to_string(),
            access_token: t.token.expose_secret().to_string(),
            user_id: t.user_id.clone(),
            issued_at: t.issued_at,
        })
        .map_err(|e| err(std::io::Error::other(e)))?;
        body.push(b'\n');
        atomic::write_atomic_with_mode(&self.path, &body, atomic::PRIVATE).map_err(err)
    }

    /// Removes temp files a crash left next to the token file (they may hold a token), including
    /// those of older feedgate versions (`.token-XXXXXX`). Returns how many.
    pub fn sweep_leftovers(&self) -> usize {
        atomic::sweep_temp_files_of(&self.path)
            + atomic::remove_matching(self.dir(), is_legacy_temp)
    }

    /// A cheap fingerprint of the file (modification time and length), so a file that cannot
    /// be read is reported once per change rather than on every poll.
    pub fn fingerprint(&self) -> Option<FileFingerprint> {
        let m = std::fs::metadata(&self.path).ok()?;
        Some((m.modified().ok()?, m.len()))
    }

    fn dir(&self) -> &Path {
        self.path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    }
}

/// The temp-file names older versions used: `.token-` and six random alphanumerics
/// (`tempfile`'s default), and nothing else, so no file of the user's is touched.
fn is_legacy_temp(name: &str) -> bool {
    name.strip_prefix(".token-")
        .is_some_and(|rest| rest.len() == 6 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// JSON as written by [`TokenStore::save`], or a bare token on one line.
fn parse(text: &str) -> Result<StoredToken, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("the file is empty".into());
    }
    if trimmed.starts_with('{') {
        let f: FileFormat = serde_json::from_str(trimmed)
            .map_err(|e| format!("invalid JSON ({e}); expected {{\"access_token\": \"…\"}}"))?;
        if f.access_token.trim().is_empty() {
            return Err("access_token is empty".into());
        }
        return Ok(StoredToken {
            token: SecretString::from(f.access_token.trim()),
            user_id: f.user_id,
            issued_at: f.issued_at,
        });
    }
    if trimmed.contains(char::is_whitespace) || trimmed.len() > 4096 {
        return Err("expected JSON or a single token on one line".into());
    }
    Ok(StoredToken {
        token: SecretString::from(trimmed),
        user_id: None,
        issued_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredToken {
        StoredToken {
            token: SecretString::from("tok-abc"),
            user_id: Some("AB1234".into()),
            issued_at: DateTime::parse_from_rfc3339("2026-11-23T08:40:00+05:30")
                .ok()
                .map(|d| d.to_utc()),
        }
    }

    /// What a loaded token holds, comparable (the token itself has no `PartialEq`).
    type Seen = (String, Option<String>, Option<DateTime<Utc>>);

    fn seen(t: Option<StoredToken>) -> Option<Seen> {
        t.map(|t| (t.token.expose_secret().to_owned(), t.user_id, t.issued_at))
    }

    #[test]
    fn round_trip_is_0600_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(&dir.path().join("nested"), "kite");
        assert!(store.load().unwrap().is_none());
        store.save(&sample()).unwrap();
        assert_eq!(seen(store.load().unwrap()), seen(Some(sample())));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names: Vec<_> = std::fs::read_dir(dir.path().join("nested"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["kite_token.json"]);
    }

    #[test]
    fn overwrite_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path(), "kite");
        store.save(&sample()).unwrap();
        let mut newer = sample();
        newer.token = SecretString::from("tok-new");
        store.save(&newer).unwrap();
        assert_eq!(
            store.load().unwrap().unwrap().token.expose_secret(),
            "tok-new"
        );
    }

    #[test]
    fn accepts_a_bare_token_and_rejects_garbage_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path(), "kite");
        std::fs::write(store.path(), "  plain-token-123\n").unwrap();
        assert_eq!(
            store.load().unwrap().unwrap().token.expose_secret(),
            "plain-token-123"
        );
        for bad in [
            "",
            "{\"nope\":1}",
            "secret words",
            "{\"access_token\":\"\"}",
        ] {
            std::fs::write(store.path(), bad).unwrap();
            let e = store.load().unwrap_err().to_string();
            assert!(e.contains("not a token"), "{bad}: {e}");
            assert!(!e.contains("secret"), "file contents never echoed: {e}");
        }
    }

    #[test]
    fn accepts_the_documented_json_with_only_the_access_token() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path(), "kite");
        std::fs::write(store.path(), "{\"access_token\": \" tok-by-hand \"}\n").unwrap();
        let t = store.load().unwrap().unwrap();
        assert_eq!(t.token.expose_secret(), "tok-by-hand");
        assert_eq!((t.user_id, t.issued_at), (None, None));
    }

    #[test]
    fn leftover_temp_files_are_swept_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::at(dir.path().join("fyers_token.json"), "fyers");
        store.save(&sample()).unwrap();
        let leftovers = [
            format!("{}fyers_token.json.Ab12Cd", atomic::TEMP_PREFIX),
            ".token-x7Yq2Z".to_string(),
        ];
        // Another store's temp file in the same directory may be mid-write: not ours to remove.
        let other = format!("{}last_values.json.Zz99Yy", atomic::TEMP_PREFIX);
        let kept = [
            ".token-backup.json",
            ".token-abc",
            "notes.txt",
            other.as_str(),
        ];
        for name in leftovers.iter().map(String::as_str).chain(kept) {
            std::fs::write(dir.path().join(name), "tok-half-written").unwrap();
        }
        assert_eq!(store.sweep_leftovers(), 2);
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                other.as_str(),
                ".token-abc",
                ".token-backup.json",
                "fyers_token.json",
                "notes.txt"
            ]
        );
        assert_eq!(seen(store.load().unwrap()), seen(Some(sample())));
    }
}
