//! The token file in `FEEDGATE_DATA_DIR`: written atomically (temp file in the same directory,
//! fsync, rename, fsync of the directory) with mode 0600, so a crash never leaves a torn file
//! and no other user can read the token. Also accepts a file holding just the token, so a user
//! or a script can drop a fresh token in by hand.

use crate::secret::Secret;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A stored token with where and when it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub token: Secret,
    pub user_id: Option<String>,
    pub issued_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, Deserialize)]
struct FileFormat {
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
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(err)?;
        let body = serde_json::to_vec_pretty(&FileFormat {
            broker: self.broker.to_string(),
            access_token: t.token.expose().to_string(),
            user_id: t.user_id.clone(),
            issued_at: t.issued_at,
        })
        .map_err(|e| err(std::io::Error::other(e)))?;
        // tempfile creates the file with mode 0600 on Unix; set it explicitly anyway so a
        // permissive umask or platform default can never widen it.
        let mut tmp = tempfile::Builder::new()
            .prefix(".token-")
            .tempfile_in(dir)
            .map_err(err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(err)?;
        }
        tmp.write_all(&body).map_err(err)?;
        tmp.write_all(b"\n").map_err(err)?;
        tmp.as_file().sync_all().map_err(err)?;
        tmp.persist(&self.path).map_err(|e| err(e.error))?;
        // Make the rename itself durable.
        #[cfg(unix)]
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Removes the token (after a logout).
    pub fn clear(&self) -> Result<(), StoreError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::Write {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// A cheap fingerprint of the file (modification time and length) for change polling.
    pub fn fingerprint(&self) -> Option<(std::time::SystemTime, u64)> {
        let m = std::fs::metadata(&self.path).ok()?;
        Some((m.modified().ok()?, m.len()))
    }
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
            token: Secret::new(f.access_token.trim()),
            user_id: f.user_id,
            issued_at: f.issued_at,
        });
    }
    if trimmed.contains(char::is_whitespace) || trimmed.len() > 4096 {
        return Err("expected JSON or a single token on one line".into());
    }
    Ok(StoredToken {
        token: Secret::new(trimmed),
        user_id: None,
        issued_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredToken {
        StoredToken {
            token: Secret::new("tok-abc"),
            user_id: Some("AB1234".into()),
            issued_at: DateTime::parse_from_rfc3339("2026-11-23T08:40:00+05:30")
                .ok()
                .map(|d| d.to_utc()),
        }
    }

    #[test]
    fn round_trip_is_0600_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(&dir.path().join("nested"), "kite");
        assert_eq!(store.load().unwrap(), None);
        store.save(&sample()).unwrap();
        assert_eq!(store.load().unwrap(), Some(sample()));
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
        store.clear().unwrap();
        assert_eq!(store.load().unwrap(), None);
    }

    #[test]
    fn overwrite_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path(), "kite");
        store.save(&sample()).unwrap();
        let mut newer = sample();
        newer.token = Secret::new("tok-new");
        store.save(&newer).unwrap();
        assert_eq!(store.load().unwrap().unwrap().token.expose(), "tok-new");
    }

    #[test]
    fn accepts_a_bare_token_and_rejects_garbage_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path(), "kite");
        std::fs::write(store.path(), "  plain-token-123\n").unwrap();
        assert_eq!(
            store.load().unwrap().unwrap().token.expose(),
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
}
