//! The login checksum Kite requires on `POST /session/token` (kite.md §8.2).

use sha2::{Digest, Sha256};

use crate::rest::secret::{ApiSecret, RequestToken};

/// `hex(sha256(api_key + request_token + api_secret))`, lowercase. The same construction
/// (with the refresh token) signs `POST /session/refresh_token`.
pub fn checksum(api_key: &str, request_token: &RequestToken, api_secret: &ApiSecret) -> String {
    let mut hasher = Sha256::new();
    hasher.update(api_key.as_bytes());
    hasher.update(request_token.expose().as_bytes());
    hasher.update(api_secret.expose().as_bytes());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        let cases = [
            (
                "test_key",
                "req_tok_123",
                "test_secret",
                "7ee373d3ce4cda1510ef4e40ab751f0d78aab356b93a714d4e993e8626168f83",
            ),
            // sha256 of the empty string
            (
                "",
                "",
                "",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
        ];
        for (key, token, secret, expected) in cases {
            let got = checksum(key, &RequestToken::from(token), &ApiSecret::from(secret));
            assert_eq!(got, expected, "{key} {token} {secret}");
        }
    }

    #[test]
    fn plain_concatenation() {
        // Moving a character between the parts does not change the digest: it is a plain
        // concatenation, exactly as Kite computes it.
        let a = checksum("ab", &RequestToken::from("c"), &ApiSecret::from("d"));
        let b = checksum("a", &RequestToken::from("bc"), &ApiSecret::from("d"));
        assert_eq!(a, b);
    }
}
