//! Unit tests for `token`.

use super::*;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

const KEY: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718";

fn jwt(payload: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    format!("{header}.{}.c2lnbmF0dXJl", URL_SAFE_NO_PAD.encode(payload))
}

fn valid_payload() -> String {
    format!(r#"{{"iat":1699990000,"exp":1700086400,"hsm_key":"{KEY}","fy_id":"XY12345"}}"#)
}

#[test]
fn parses_app_id_prefixed_and_bare_tokens() {
    let bare = jwt(&valid_payload());
    for (text, app_id) in [
        (format!("TESTAPP-100:{bare}"), Some("TESTAPP-100")),
        (bare.clone(), None),
        (format!("  {bare}\n"), None),
    ] {
        let token = AccessToken::parse(&text).unwrap();
        assert_eq!(token.app_id(), app_id);
        assert_eq!(token.jwt().expose_secret(), bare);
        assert_eq!(token.hsm_key().expose_secret(), KEY);
        assert_eq!(token.expires_at(), 1_700_086_400);
        assert_eq!(token.issued_at(), Some(1_699_990_000));
        assert_eq!(token.expose(), text.trim());
    }
}

#[test]
fn expiry_matches_the_official_check() {
    let token = AccessToken::parse(&jwt(&valid_payload())).unwrap();
    let exp = token.expires_at();
    // (now, expired, seconds_left)
    for (now, expired, left) in [(exp - 10, false, 10), (exp, false, 0), (exp + 1, true, -1)] {
        assert_eq!(token.is_expired(now), expired, "now = exp{:+}", now - exp);
        assert_eq!(token.seconds_left(now), left);
    }
}

#[test]
fn rejects_malformed_tokens_with_typed_errors() {
    let no_exp = jwt(&format!(r#"{{"hsm_key":"{KEY}"}}"#));
    let no_key = jwt(r#"{"exp":1700086400}"#);
    let empty_key = jwt(r#"{"exp":1700086400,"hsm_key":""}"#);
    let numeric_key = jwt(r#"{"exp":1700086400,"hsm_key":12}"#);
    let string_exp = jwt(&format!(r#"{{"exp":"soon","hsm_key":"{KEY}"}}"#));
    let array = jwt("[1,2]");
    let not_json = jwt("exp=1");
    let cases: Vec<(String, TokenError)> = vec![
        (String::new(), TokenError::Empty),
        ("   ".into(), TokenError::Empty),
        (
            "x".repeat(MAX_TOKEN_LEN + 1),
            TokenError::TooLong {
                len: MAX_TOKEN_LEN + 1,
            },
        ),
        (
            format!(":{}", jwt(&valid_payload())),
            TokenError::EmptyAppId,
        ),
        ("APP:only.two".into(), TokenError::NotAJwt),
        ("a.b.c.d".into(), TokenError::NotAJwt),
        ("a..c".into(), TokenError::NotAJwt),
        ("h.!!!.s".into(), TokenError::PayloadEncoding),
        (no_exp, TokenError::Claim("exp")),
        (no_key, TokenError::Claim("hsm_key")),
        (empty_key, TokenError::Claim("hsm_key")),
        (numeric_key, TokenError::Claim("hsm_key")),
        (string_exp, TokenError::Claim("exp")),
        (
            array,
            TokenError::PayloadJson {
                category: "not an object",
                column: 0,
            },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(AccessToken::parse(&text), Err(expected), "{text:.40}");
    }
    assert!(matches!(
        AccessToken::parse(&not_json),
        Err(TokenError::PayloadJson {
            category: "syntax",
            ..
        })
    ));
}

#[test]
fn accepts_padded_standard_base64_and_float_exp() {
    let payload = STANDARD.encode(format!(r#"{{"exp":1700086400.9,"hsm_key":"{KEY}"}}"#));
    let token = AccessToken::parse(&format!("eyJ.{payload}.")).unwrap();
    assert_eq!(token.expires_at(), 1_700_086_400);
    assert_eq!(token.issued_at(), None);
}

#[test]
fn secrets_stay_out_of_debug_and_errors() {
    let text = format!("TESTAPP-100:{}", jwt(&valid_payload()));
    let token = AccessToken::parse(&text).unwrap();
    let shown = format!("{token:?}");
    assert!(shown.contains("TESTAPP-100"), "{shown}");
    assert!(!shown.contains(KEY) && !shown.contains("eyJ"), "{shown}");
    // A payload whose JSON error would quote a value: the message must not.
    let leaky = jwt(&format!(r#"{{"exp":1,"hsm_key":"{KEY}" "#));
    let err = AccessToken::parse(&leaky).unwrap_err().to_string();
    assert!(!err.contains(KEY), "{err}");
    let auth = token.rest_authorization("TESTAPP-100");
    assert_eq!(auth.expose_secret(), text);
    let shown = format!("{auth:?}");
    assert!(
        !shown.contains("eyJ") && shown.contains("[REDACTED]"),
        "{shown}"
    );
}
