//! Sealing values the nodes share through Redis (the broker token, a forwarded login code):
//! ChaCha20-Poly1305 with a key derived by HKDF-SHA256 from `FEEDGATE_SECRET_KEY` under a fixed
//! info string, a random 96-bit nonce per value, and associated data that binds a value to the
//! place it was written for (the Redis key, the broker and its API key), so a value copied under
//! another key or account does not open. Pure: no I/O, no clock.
//!
//! A sealed value is `[version 1][nonce 12][ciphertext + tag 16]`, raw bytes (Redis values are
//! binary-safe).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The HKDF info string: a key derived for sealing cluster values is good for nothing else.
const INFO: &[u8] = b"feedgate cluster seal v1";
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why a sealed value did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the value is not a sealed feedgate value (too short or of an unknown version)")]
    Malformed,
    #[error(
        "the value does not open: it was sealed with another FEEDGATE_SECRET_KEY (every node of a cluster needs the same), for another broker account, or altered"
    )]
    WrongKey,
}

/// The sealing key (never shown: its `Debug` is redacted).
#[derive(Clone)]
pub struct SealKey {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey([REDACTED])")
    }
}

impl SealKey {
    /// The key derived from `FEEDGATE_SECRET_KEY`.
    pub fn derive(secret: &SecretString) -> Self {
        let hk = Hkdf::<Sha256>::new(None, secret.expose_secret().as_bytes());
        let mut okm = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit (255 × 32): expand cannot fail.
        let _ = hk.expand(INFO, &mut okm);
        let cipher = ChaCha20Poly1305::new(&Key::from(okm));
        okm.zeroize();
        Self { cipher }
    }

    /// Seals `plain`, bound to `aad`.
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let payload = Payload { msg: plain, aad };
        // Encryption fails only for messages near 256 GiB: ours are a few hundred bytes.
        let body = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + body.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        out
    }

    /// Opens a value [`SealKey::seal`] made with the same key and `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != VERSION {
            return Err(SealError::Malformed);
        }
        let (nonce, body) = sealed[1..].split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Malformed)?;
        self.cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: body, aad })
            .map_err(|_| SealError::WrongKey)
    }
}

/// Associated data from several parts, each length-prefixed so that no two lists of parts
/// make the same bytes (`("ab","c")` differs from `("a","bc")`).
pub fn aad(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(&u32::try_from(p.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(p.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> SealKey {
        SealKey::derive(&SecretString::from(s.to_string()))
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_sealed_value_opens_with_the_same_key_and_aad_only() {
        let k = key(SECRET);
        let ad = aad(&["feedgate:token", "kite", "api-key"]);
        let sealed = k.seal(b"the token", &ad);
        assert!(!sealed.windows(9).any(|w| w == b"the token"), "in clear");
        assert_eq!(k.open(&sealed, &ad).unwrap(), b"the token");
        assert_ne!(k.seal(b"the token", &ad), sealed, "a fresh nonce per value");
        // The same secret on another node derives the same key.
        assert_eq!(key(SECRET).open(&sealed, &ad).unwrap(), b"the token");

        let other = key("another secret, also long enough to be taken");
        assert_eq!(other.open(&sealed, &ad), Err(SealError::WrongKey));
        let elsewhere = aad(&["feedgate:token", "kite", "other-api-key"]);
        assert_eq!(k.open(&sealed, &elsewhere), Err(SealError::WrongKey));
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            assert!(k.open(&tampered, &ad).is_err(), "byte {i} altered");
        }
        assert_eq!(k.open(&sealed[..20], &ad), Err(SealError::Malformed));
        assert_eq!(k.open(b"", &ad), Err(SealError::Malformed));
        let mut v2 = sealed.clone();
        v2[0] = 2;
        assert_eq!(k.open(&v2, &ad), Err(SealError::Malformed));
    }

    #[test]
    fn aad_parts_cannot_be_shifted_and_the_key_is_not_shown() {
        assert_ne!(aad(&["ab", "c"]), aad(&["a", "bc"]));
        assert_eq!(format!("{:?}", key(SECRET)), "SealKey([REDACTED])");
        assert!(
            SealError::WrongKey
                .to_string()
                .contains("FEEDGATE_SECRET_KEY")
        );
    }
}
