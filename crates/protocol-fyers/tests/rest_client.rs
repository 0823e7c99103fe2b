//! `FyersRest` against a tiny axum server on port 0: the headers, query strings and bodies the
//! official client sends, the models it reads, and the error classification for token
//! rejection, server failures, malformed and oversized bodies, refused connections and timeouts.

#![cfg(feature = "client")]
// Helpers outside #[test] fns unwrap too: a panic here is a failed assertion (clippy.toml).
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use feedgate_fyers::rest::{FyersEndpoints, FyersRest, ResponseStatus, RestError, TransportKind};
use feedgate_fyers::{AccessToken, FyersSymbol};
use secrecy::{ExposeSecret, SecretString};

const APP_ID: &str = "TESTAPP-100";
const HSM_KEY: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718";

fn jwt() -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#);
    let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":4102444800,"hsm_key":"{HSM_KEY}"}}"#));
    format!("{header}.{payload}.sig")
}

fn token() -> AccessToken {
    AccessToken::parse(&format!("{APP_ID}:{}", jwt())).unwrap()
}

fn symbols(list: &[&str]) -> Vec<FyersSymbol> {
    list.iter().map(|s| FyersSymbol::new(*s).unwrap()).collect()
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: Option<String>,
    authorization: Option<String>,
    version: Option<String>,
    body: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Serves the canned Fyers answers used by the happy-path test.
async fn fyers(
    State(log): State<Log>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    let seen = Seen {
        method,
        path: uri.path().to_owned(),
        query,
        authorization: header("authorization"),
        version: header("version"),
        body: String::from_utf8(body.to_vec()).unwrap(),
    };
    log.lock().unwrap().push(seen.clone());
    let body = match seen.path.as_str() {
        "/api/v3/profile" => r#"{"s":"ok","code":200,"message":"","data":{"fy_id":"XY12345","name":"TEST USER","email_id":"a@b.c"}}"#.to_owned(),
        "/data/quotes" => r#"{"s":"ok","code":200,"message":"","d":[{"n":"NSE:SBIN-EQ","s":"ok","v":{"lp":812.55,"tt":"1700000000","volume":5}}]}"#.to_owned(),
        "/data/symbol-token" => r#"{"s":"ok","validSymbol":{"NSE:SBIN-EQ":"10100000003045"},"invalidSymbol":["NSE:NOPE-EQ"]}"#.to_owned(),
        "/api/v3/validate-authcode" => r#"{"s":"ok","code":200,"message":"","access_token":"eyJ.new.token","refresh_token":"eyJ.refresh.token"}"#.to_owned(),
        "/sym_details/index_hsm_mapping.json" => r#"{"NSE:NIFTY50-INDEX":"Nifty 50"}"#.to_owned(),
        _ => return (StatusCode::NOT_FOUND, "no such path".to_owned()),
    };
    (StatusCode::OK, body)
}

/// Starts `router` on 127.0.0.1:0 and returns its root URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

fn client(root: &str) -> FyersRest {
    FyersRest::new(FyersEndpoints::from_api_root(root).unwrap(), APP_ID).unwrap()
}

#[tokio::test]
async fn happy_path_sends_what_the_official_client_sends() {
    let log: Log = Arc::default();
    let root = serve(Router::new().fallback(any(fyers)).with_state(log.clone())).await;
    let rest = client(&root);
    let token = token();

    let profile = rest.profile(&token).await.unwrap();
    assert_eq!(profile.fy_id.as_deref(), Some("XY12345"));

    let quotes = rest
        .quotes(&token, &symbols(&["NSE:SBIN-EQ", "NSE:IDEA-EQ"]))
        .await
        .unwrap();
    assert_eq!(quotes[0].s, ResponseStatus::Ok);
    assert_eq!(
        quotes[0].v.lp.map(|p| p.to_string()).as_deref(),
        Some("812.55")
    );
    assert_eq!(quotes[0].v.tt, Some(1_700_000_000));

    let tokens = rest
        .symbol_token(&token, &symbols(&["NSE:SBIN-EQ", "NSE:NOPE-EQ"]))
        .await
        .unwrap();
    assert_eq!(
        tokens.valid_symbol.get("NSE:SBIN-EQ").map(String::as_str),
        Some("10100000003045")
    );
    assert_eq!(tokens.invalid_symbol, ["NSE:NOPE-EQ"]);

    let pair = rest
        .validate_authcode(
            &SecretString::from("SECRET123"),
            &SecretString::from("the-code"),
        )
        .await
        .unwrap();
    assert_eq!(pair.access_token.expose_secret(), "eyJ.new.token");
    assert_eq!(
        pair.refresh_token
            .map(|t| t.expose_secret().to_owned())
            .as_deref(),
        Some("eyJ.refresh.token")
    );

    let names = rest.index_names().await.unwrap();
    assert_eq!(names.live_len(), 1);

    let seen = log.lock().unwrap().clone();
    let full = format!("{APP_ID}:{}", jwt());
    // (method, path, query, version header)
    let expect = [
        (Method::GET, "/api/v3/profile", None, Some("3")),
        (
            Method::GET,
            "/data/quotes",
            Some("symbols=NSE%3ASBIN-EQ%2CNSE%3AIDEA-EQ"),
            Some("3"),
        ),
        (Method::POST, "/data/symbol-token", None, Some("3")),
        (Method::POST, "/api/v3/validate-authcode", None, Some("3")),
        (
            Method::GET,
            "/sym_details/index_hsm_mapping.json",
            None,
            None,
        ),
    ];
    assert_eq!(seen.len(), expect.len());
    for (got, (method, path, query, version)) in seen.iter().zip(expect.iter()) {
        assert_eq!((&got.method, got.path.as_str()), (method, *path));
        assert_eq!(got.query.as_deref(), *query, "{path}");
        assert_eq!(got.version.as_deref(), *version, "{path}");
    }
    assert_eq!(seen[0].authorization.as_deref(), Some(full.as_str()));
    assert_eq!(seen[1].authorization.as_deref(), Some(full.as_str()));
    // symbol-token carries the bare JWT, as the official client does.
    assert_eq!(seen[2].authorization.as_deref(), Some(jwt().as_str()));
    assert_eq!(seen[2].body, r#"{"symbols":["NSE:SBIN-EQ","NSE:NOPE-EQ"]}"#);
    // validate-authcode is unauthenticated and carries the spec's appIdHash for SECRET123.
    assert_eq!(seen[3].authorization, None);
    assert_eq!(
        seen[3].body,
        r#"{"grant_type":"authorization_code","appIdHash":"b6dd47facecf1fb11e724ec6d891e7d7f1d923b28006f402c6c60ac2bee3c81c","code":"the-code"}"#
    );
    assert_eq!(seen[4].authorization, None);
}

/// A server that answers every request with `status` and `body`.
async fn canned(status: StatusCode, body: &'static str) -> String {
    serve(Router::new().fallback(any(move || async move { (status, body) }))).await
}

#[tokio::test]
async fn error_answers_are_typed() {
    let token = token();
    // (status, body, is_auth, is_retryable, fyers code)
    let cases = [
        (
            StatusCode::UNAUTHORIZED,
            r#"{"s":"error","code":-16,"message":"Could not authenticate the user"}"#,
            true,
            false,
            Some(-16),
        ),
        (
            StatusCode::OK,
            r#"{"s":"error","code":-17,"message":"Token is Invalid or Expired"}"#,
            true,
            false,
            Some(-17),
        ),
        (
            StatusCode::OK,
            r#"{"s":"error","code":-300,"message":"Invalid symbol"}"#,
            false,
            false,
            Some(-300),
        ),
        (
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"s":"error","code":-429,"message":"limit"}"#,
            false,
            true,
            Some(-429),
        ),
        (
            StatusCode::BAD_GATEWAY,
            "<html>bad gateway</html>",
            false,
            true,
            None,
        ),
        (StatusCode::FORBIDDEN, "", true, false, None),
    ];
    for (status, body, auth, retry, code) in cases {
        let rest = client(&canned(status, body).await);
        let err = rest.profile(&token).await.unwrap_err();
        assert_eq!(
            (err.is_auth(), err.is_retryable()),
            (auth, retry),
            "{status} {body}: {err}"
        );
        assert_eq!(err.api().and_then(|api| api.code), code, "{body}");
        assert_eq!(err.api().map(|api| api.http_status), Some(status.as_u16()));
    }
}

#[tokio::test]
async fn malformed_success_bodies_are_decode_errors_without_content() {
    let token = token();
    for body in [
        "not json at all",
        r#"{"s":"ok","code":200}"#,
        r#"{"s":"ok","d":{"not":"a list"}}"#,
    ] {
        let rest = client(&canned(StatusCode::OK, body).await);
        let err = match body.contains("\"d\"") {
            true => rest
                .quotes(&token, &symbols(&["NSE:SBIN-EQ"]))
                .await
                .unwrap_err(),
            false => rest.profile(&token).await.unwrap_err(),
        };
        assert!(
            matches!(
                err,
                RestError::Decode {
                    http_status: 200,
                    ..
                }
            ),
            "{body}: {err:?}"
        );
        assert!(!err.is_retryable() && !err.is_auth());
        assert!(!err.to_string().contains("not json"), "{err}");
    }
    // A token response whose access_token has the wrong type must not echo the value.
    let rest = client(
        &canned(
            StatusCode::OK,
            r#"{"s":"ok","access_token":{"jwt":"eyJ.leak.me"}}"#,
        )
        .await,
    );
    let err = rest
        .validate_authcode(&SecretString::from("s"), &SecretString::from("c"))
        .await
        .unwrap_err();
    assert!(matches!(err, RestError::Decode { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("leak"), "{err}");
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let big = "x".repeat(feedgate_fyers::rest::client::MAX_BODY_BYTES + 1);
    let big: &'static str = Box::leak(big.into_boxed_str());
    let rest = client(&canned(StatusCode::OK, big).await);
    let err = rest.profile(&token()).await.unwrap_err();
    assert!(
        matches!(
            err,
            RestError::BodyTooLarge {
                endpoint: "profile",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn refused_connections_and_timeouts_are_retryable_transport_errors() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let root = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = client(&root).profile(&token()).await.unwrap_err();
    assert!(
        matches!(
            err,
            RestError::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());

    // A server that never answers, and a client with a short deadline.
    let root = serve(Router::new().fallback(get(std::future::pending::<&'static str>))).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let rest = FyersRest::with_client(http, FyersEndpoints::from_api_root(&root).unwrap(), APP_ID);
    let err = rest.profile(&token()).await.unwrap_err();
    assert!(
        matches!(
            err,
            RestError::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn invalid_requests_fail_before_the_network() {
    let rest = client("http://127.0.0.1:9");
    let token = token();
    let too_many: Vec<_> = (0..51)
        .map(|i| FyersSymbol::new(format!("NSE:S{i}-EQ")).unwrap())
        .collect();
    assert!(matches!(
        rest.quotes(&token, &too_many).await,
        Err(RestError::InvalidRequest(_))
    ));
    assert!(matches!(
        rest.quotes(&token, &[]).await,
        Err(RestError::InvalidRequest(_))
    ));
    let too_many: Vec<_> = (0..501)
        .map(|i| FyersSymbol::new(format!("NSE:S{i}-EQ")).unwrap())
        .collect();
    assert!(matches!(
        rest.symbol_token(&token, &too_many).await,
        Err(RestError::InvalidRequest(_))
    ));
}

#[test]
fn endpoints_from_a_root() {
    for root in [
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8080/",
        "http://127.0.0.1:8080/api/v3",
    ] {
        let endpoints = FyersEndpoints::from_api_root(root).unwrap();
        assert_eq!(endpoints.api.as_str(), "http://127.0.0.1:8080/api/v3");
        assert_eq!(endpoints.data.as_str(), "http://127.0.0.1:8080/data");
        assert_eq!(
            endpoints.index_mapping.as_str(),
            "http://127.0.0.1:8080/sym_details/index_hsm_mapping.json"
        );
    }
    let prefixed = FyersEndpoints::from_api_root("https://proxy.example/fyers").unwrap();
    assert_eq!(prefixed.api.as_str(), "https://proxy.example/fyers/api/v3");
    let production = FyersEndpoints::production().unwrap();
    assert_eq!(production.api.as_str(), "https://api-t1.fyers.in/api/v3");
    assert_eq!(production.data.as_str(), "https://api-t1.fyers.in/data");
    assert_eq!(
        production.index_mapping.as_str(),
        "https://public.fyers.in/sym_details/index_hsm_mapping.json"
    );
    for bad in ["", "not a url", "ftp://x", "mailto:a@b"] {
        assert!(FyersEndpoints::from_api_root(bad).is_err(), "{bad}");
    }
}

#[test]
fn client_debug_shows_no_credentials() {
    let rest = client("http://127.0.0.1:9");
    let shown = format!("{rest:?} {:?}", token());
    assert!(
        !shown.contains(HSM_KEY) && !shown.contains(&jwt()),
        "{shown}"
    );
}
