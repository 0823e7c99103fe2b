//! The key file, `FEEDGATE_DATA_DIR/keys.json` (mode 0600, written atomically): each key's id,
//! name, scopes, limits and the hash of its secret. Secrets are shown once by
//! `feedgate keys add` and never stored.
//!
//! The hash is SHA-256 over a domain tag, the key id and the secret. A slow password hash
//! (argon2, bcrypt) exists to make guessing *low-entropy human passwords* expensive after a
//! leak; feedgate's secrets are 256 random bits, which no amount of guessing reaches, so a fast
//! hash is as safe and keeps every authenticated request cheap.

use crate::model::scope::Scopes;
use crate::store::atomic;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The key file's name inside the data directory.
pub const FILE_NAME: &str = "keys.json";

/// The file's format version.
const VERSION: u32 = 1;

/// One stored key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    /// Hex SHA-256, see [`hash_secret`].
    pub hash: String,
    #[serde(with = "scopes_serde")]
    pub scopes: Scopes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_symbols: Option<u32>,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyFileBody {
    version: u32,
    keys: Vec<KeyRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a feedgate key file: {detail}")]
    Format { path: PathBuf, detail: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The keys in `path`; none when the file does not exist.
pub fn load(path: &Path) -> Result<Vec<KeyRecord>, KeyFileError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(KeyFileError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let body: KeyFileBody = serde_json::from_slice(&bytes).map_err(|e| KeyFileError::Format {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    if body.version != VERSION {
        return Err(KeyFileError::Format {
            path: path.to_path_buf(),
            detail: format!("version {} (this feedgate reads {VERSION})", body.version),
        });
    }
    Ok(body.keys)
}

/// Replaces the file with `keys` (atomically, mode 0600).
pub fn save(path: &Path, keys: &[KeyRecord]) -> Result<(), KeyFileError> {
    let body = KeyFileBody {
        version: VERSION,
        keys: keys.to_vec(),
    };
    let mut bytes = serde_json::to_vec_pretty(&body).map_err(|e| KeyFileError::Format {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    bytes.push(b'\n');
    atomic::write_atomic(path, &bytes).map_err(|source| KeyFileError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The stored form of a secret (hex). Keyed by the id so two keys never share a hash.
pub fn hash_secret(id: &str, secret: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"feedgate-key-v1\0");
    h.update(id.as_bytes());
    h.update(b"\0");
    h.update(secret);
    h.finalize().into()
}

/// A new key: its record and the secret to show once.
#[derive(Debug)]
pub struct NewKey {
    pub record: KeyRecord,
    /// `ID:SECRET`, as presented by clients. Printed once, then forgotten.
    pub credential: secrecy::SecretString,
}

/// What `feedgate keys add` asks for.
#[derive(Debug, Clone)]
pub struct KeySpec {
    pub name: String,
    pub scopes: Scopes,
    pub max_connections: Option<u32>,
    pub max_symbols: Option<u32>,
}

/// Makes a key: a random id (`fgk_` + 16 hex digits) and a random 256-bit secret (64 hex
/// digits), from the operating system's generator.
pub fn generate(spec: KeySpec, now: DateTime<Utc>) -> NewKey {
    let id = format!("fgk_{}", hex::encode(rand::random::<[u8; 8]>()));
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let record = KeyRecord {
        hash: hex::encode(hash_secret(&id, secret.as_bytes())),
        id: id.clone(),
        name: spec.name,
        scopes: spec.scopes,
        max_connections: spec.max_connections,
        max_symbols: spec.max_symbols,
        created: now,
    };
    NewKey {
        record,
        credential: secrecy::SecretString::from(format!("{id}:{secret}")),
    }
}

mod scopes_serde {
    use crate::model::scope::Scopes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(s: &Scopes, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq(s.names())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Scopes, D::Error> {
        let names = Vec::<String>::deserialize(de)?;
        Scopes::parse_list(&names.join("+"))
            .map_err(|bad| serde::de::Error::custom(format!("unknown scope {bad:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::scope::Scope;
    use secrecy::ExposeSecret;

    fn spec() -> KeySpec {
        KeySpec {
            name: "desk".into(),
            scopes: Scopes::NONE.with(Scope::Read),
            max_connections: Some(2),
            max_symbols: None,
        }
    }

    #[test]
    fn round_trip_keeps_no_secret_and_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        assert!(load(&path).unwrap().is_empty());
        let k = generate(spec(), Utc::now());
        save(&path, std::slice::from_ref(&k.record)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let cred = k.credential.expose_secret();
        let secret = cred.split_once(':').unwrap().1;
        assert_eq!(secret.len(), 64);
        assert!(!text.contains(secret), "the secret is never stored");
        assert_eq!(load(&path).unwrap(), vec![k.record.clone()]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(
            hex::encode(hash_secret(&k.record.id, secret.as_bytes())),
            k.record.hash
        );
    }

    #[test]
    fn a_foreign_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "{\"version\":9,\"keys\":[]}").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("keys.json") && e.contains("version 9"), "{e}");
    }
}
