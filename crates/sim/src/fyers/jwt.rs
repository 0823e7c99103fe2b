//! The JWTs the simulator issues as Fyers access and refresh tokens: `HS256` over a random
//! per-simulator key, with the claims the official client reads (`exp`, `hsm_key`) and the
//! others a real Fyers token carries (`iss`, `iat`, `nbf`, `sub`, `fy_id`, `appType`, …).
//! Nobody verifies the signature (clients cannot, the simulator looks tokens up by value); it is
//! there so the tokens look and parse exactly like real ones.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// SHA-256's block size, for HMAC.
const BLOCK: usize = 64;

/// What goes into one token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Claims<'a> {
    /// `access_token` or `refresh_token`.
    pub subject: &'a str,
    pub issued_at: i64,
    pub expires_at: i64,
    /// The data socket's credential; refresh tokens have none.
    pub hsm_key: Option<&'a str>,
    pub user_id: &'a str,
}

/// A signing key, random per simulator.
#[derive(Clone)]
pub(crate) struct Signer {
    key: [u8; 32],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(<redacted>)")
    }
}

impl Signer {
    pub(crate) fn random() -> Self {
        Self {
            key: rand::rng().random(),
        }
    }

    /// `header.payload.signature`, base64url without padding.
    pub(crate) fn sign(&self, claims: &Claims<'_>) -> String {
        let header = json!({"alg": "HS256", "typ": "JWT"});
        let mut payload = json!({
            "iss": "api.fyers.in",
            "iat": claims.issued_at,
            "exp": claims.expires_at,
            "nbf": claims.issued_at,
            "aud": ["d:1", "d:2", "x:0", "x:1", "x:2"],
            "sub": claims.subject,
            "at_hash": random_hex(16),
            "display_name": "",
            "oms": "K1",
            "fy_id": claims.user_id,
            "appType": 100,
            "poa_flag": "N",
        });
        if let (Some(key), Value::Object(map)) = (claims.hsm_key, &mut payload) {
            map.insert("hsm_key".to_owned(), Value::String(key.to_owned()));
        }
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        let signature = hmac_sha256(&self.key, signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// `bytes` random bytes as lowercase hex (`hsm_key` is 48 hex digits, like the spec's vector).
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    let raw: Vec<u8> = (0..bytes).map(|_| rng.random()).collect();
    hex::encode(raw)
}

/// HMAC-SHA256 (RFC 2104) with a key no longer than one block.
fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut padded = [0u8; BLOCK];
    padded[..key.len()].copy_from_slice(key);
    let mut inner = Sha256::new();
    inner.update(padded.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(padded.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use feedgate_fyers::AccessToken;
    use secrecy::ExposeSecret;

    #[test]
    fn hmac_matches_rfc_4231_case_2_shape() {
        // RFC 4231 test case 2 uses the 4-byte key "Jefe"; zero-padding it to 32 bytes gives the
        // same HMAC because keys shorter than a block are zero-padded anyway.
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        let mac = hmac_sha256(&key, b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn tokens_parse_with_the_protocol_crate() {
        let signer = Signer::random();
        let key = random_hex(24);
        let jwt = signer.sign(&Claims {
            subject: "access_token",
            issued_at: 1_700_000_000,
            expires_at: 1_700_086_400,
            hsm_key: Some(&key),
            user_id: "FG0001",
        });
        let token = AccessToken::parse(&format!("APP-100:{jwt}")).unwrap();
        assert_eq!(token.app_id(), Some("APP-100"));
        assert_eq!(token.expires_at(), 1_700_086_400);
        assert_eq!(token.issued_at(), Some(1_700_000_000));
        assert_eq!(token.hsm_key().expose_secret(), key);
        assert_eq!(key.len(), 48);
        let refresh = signer.sign(&Claims {
            subject: "refresh_token",
            issued_at: 1,
            expires_at: 2,
            hsm_key: None,
            user_id: "FG0001",
        });
        assert!(AccessToken::parse(&refresh).is_err(), "no hsm_key claim");
    }
}
