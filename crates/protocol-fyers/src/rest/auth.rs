//! The Fyers login flow's pure parts (spec §10.4): the `generate-authcode` login URL the user
//! opens, and `appIdHash = hex(sha256("<client_id>:<secret>"))` for the `validate-authcode`
//! exchange (which [`super::FyersRest::validate_authcode`] performs).

use sha2::{Digest, Sha256};
use url::Url;

use super::models::{GRANT_AUTHORIZATION_CODE, ValidateAuthcodeRequest};
use secrecy::{ExposeSecret, SecretString};

/// The real login URL (`FYERS_LOGIN_URL` default).
pub const GENERATE_AUTHCODE_URL: &str = "https://api-t1.fyers.in/api/v3/generate-authcode";

/// `hex(sha256("<client_id>:<secret>"))`; `client_id` includes its `-100` suffix.
pub fn app_id_hash(client_id: &str, secret: &SecretString) -> SecretString {
    let mut hasher = Sha256::new();
    hasher.update(client_id.as_bytes());
    hasher.update(b":");
    hasher.update(secret.expose_secret().as_bytes());
    SecretString::from(hex::encode(hasher.finalize()))
}

/// The `validate-authcode` body for an auth code.
pub fn validate_authcode_request(
    client_id: &str,
    secret: &SecretString,
    auth_code: SecretString,
) -> ValidateAuthcodeRequest {
    ValidateAuthcodeRequest {
        grant_type: GRANT_AUTHORIZATION_CODE.to_owned(),
        app_id_hash: app_id_hash(client_id, secret),
        code: auth_code,
    }
}

/// Parameters of the login URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthcodeParams<'a> {
    /// App id including `-100`.
    pub client_id: &'a str,
    /// Where Fyers redirects after login (must match the app's registration).
    pub redirect_uri: &'a str,
    /// Opaque value echoed back in the redirect (check it against CSRF).
    pub state: &'a str,
    /// Optional `scope`.
    pub scope: Option<&'a str>,
    /// Optional `nonce`.
    pub nonce: Option<&'a str>,
}

/// The login URL: `login_url` with `client_id`, `redirect_uri`, `response_type=code`, `state`
/// (and `scope`, `nonce` when given) appended in the official client's order and encoding.
pub fn generate_authcode_url(login_url: &Url, params: &AuthcodeParams<'_>) -> Url {
    let mut url = login_url.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("client_id", params.client_id)
            .append_pair("redirect_uri", params.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("state", params.state);
        if let Some(scope) = params.scope {
            query.append_pair("scope", scope);
        }
        if let Some(nonce) = params.nonce {
            query.append_pair("nonce", nonce);
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_id_hash_matches_the_spec_vector() {
        let secret = SecretString::from("SECRET123");
        let hash = app_id_hash("TESTAPP-100", &secret);
        assert_eq!(
            hash.expose_secret(),
            "b6dd47facecf1fb11e724ec6d891e7d7f1d923b28006f402c6c60ac2bee3c81c"
        );
        let body = validate_authcode_request("TESTAPP-100", &secret, SecretString::from("c"));
        assert_eq!(body.app_id_hash.expose_secret(), hash.expose_secret());
        assert_eq!(body.grant_type, "authorization_code");
    }

    #[test]
    fn login_url_matches_the_spec_example() {
        let base = Url::parse(GENERATE_AUTHCODE_URL).unwrap();
        let params = AuthcodeParams {
            client_id: "TESTAPP-100",
            redirect_uri: "https://example.com/cb",
            state: "xyz",
            scope: None,
            nonce: None,
        };
        assert_eq!(
            generate_authcode_url(&base, &params).as_str(),
            "https://api-t1.fyers.in/api/v3/generate-authcode?client_id=TESTAPP-100&redirect_uri=https%3A%2F%2Fexample.com%2Fcb&response_type=code&state=xyz"
        );
        let with_extras = AuthcodeParams {
            scope: Some("openid"),
            nonce: Some("n 1"),
            ..params
        };
        let url = generate_authcode_url(&base, &with_extras);
        assert!(
            url.as_str().ends_with("&state=xyz&scope=openid&nonce=n+1"),
            "{url}"
        );
    }
}
