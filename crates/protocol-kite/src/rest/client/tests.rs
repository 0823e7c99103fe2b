//! The client against a tiny axum server on port 0: headers, routes, query and form encoding,
//! every fixture, and each class of failure.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{RawQuery, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{any, get};

use super::*;

const KEY: &str = "test_key";
const TOKEN: &str = "acc-s3cr3t-token";

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/kite-mocks/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

async fn serve(app: Router) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Url::parse(&format!("http://{addr}")).unwrap()
}

fn client(base: Url) -> KiteRest {
    KiteRest::new(base, KEY.to_owned()).unwrap()
}

fn token() -> AccessToken {
    AccessToken::from(TOKEN)
}

/// What the server saw of the last request.
#[derive(Debug, Clone, Default)]
struct Seen {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: String,
    count: usize,
}

/// A server that records each request and answers with a fixed response.
async fn canned(
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: impl Into<Vec<u8>>,
) -> (Url, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let body: Vec<u8> = body.into();
    let record = seen.clone();
    let app = Router::new().fallback(any(move |request: Request| {
        let record = record.clone();
        let body = body.clone();
        let headers = headers.clone();
        async move {
            let (parts, request_body) = request.into_parts();
            let bytes = axum::body::to_bytes(request_body, 1 << 20).await.unwrap();
            {
                let mut seen = record.lock().unwrap();
                seen.method = parts.method.to_string();
                seen.path = parts.uri.path().to_owned();
                seen.query = parts.uri.query().map(str::to_owned);
                seen.headers = parts.headers.clone();
                seen.body = String::from_utf8_lossy(&bytes).into_owned();
                seen.count += 1;
            }
            let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
            for (name, value) in headers {
                response.headers_mut().insert(name, value.parse().unwrap());
            }
            response
        }
    }));
    (serve(app).await, seen)
}

const JSON: (&str, &str) = ("content-type", "application/json");

fn pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

#[tokio::test]
async fn profile_sends_kite_headers_and_parses_both_fixtures() {
    for name in ["profile.json", "full_profile.json"] {
        let (base, seen) = canned(200, vec![JSON], fixture(name)).await;
        let profile = client(base).profile(&token()).await.unwrap();
        assert_eq!(profile.user_id, "AB1234", "{name}");
        assert_eq!(profile.user_shortname, "AxAx");
        assert_eq!(profile.avatar_url, None);
        assert!(profile.exchanges.contains(&"NSE".to_owned()));
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            (seen.method.as_str(), seen.path.as_str()),
            ("GET", "/user/profile")
        );
        assert_eq!(seen.headers["x-kite-version"], "3");
        assert_eq!(
            seen.headers[header::AUTHORIZATION],
            format!("token {KEY}:{TOKEN}").as_str()
        );
    }
}

#[tokio::test]
async fn routes_keep_the_base_path_prefix() {
    let (base, seen) = canned(200, vec![JSON], fixture("profile.json")).await;
    for prefix in ["kite", "kite/"] {
        let base = base.join(prefix).unwrap();
        client(base).profile(&token()).await.unwrap();
        assert_eq!(seen.lock().unwrap().path, "/kite/user/profile");
    }
}

#[tokio::test]
async fn quote_repeats_i_and_keys_by_the_requested_strings() {
    let (base, seen) = canned(200, vec![JSON], fixture("quote.json")).await;
    let wanted = [
        "NSE:INFY".to_owned(),
        "NSE:NIFTY 50".to_owned(),
        "BSE:M&M".to_owned(),
    ];
    let quotes = client(base).quote(&token(), &wanted).await.unwrap();
    let query = seen.lock().unwrap().query.clone().unwrap();
    let expected: Vec<(String, String)> =
        wanted.iter().map(|w| ("i".to_owned(), w.clone())).collect();
    assert_eq!(pairs(&query), expected);
    let infy = &quotes["NSE:INFY"];
    assert_eq!(infy.instrument_token, 408_065);
    assert_eq!(infy.last_price, 1412.95);
    assert_eq!(infy.volume, 7_360_198);
    assert_eq!(infy.ohlc.close, 1389.65);
    assert_eq!(infy.depth.sell[0].quantity, 5191);
    assert_eq!(infy.depth.sell[0].orders, 13);
    assert_eq!(infy.depth.buy.len(), 5);
    assert_eq!(
        infy.timestamp,
        crate::rest::time::parse("2021-06-08 15:45:56").ok()
    );
    assert_eq!(quotes.len(), 1, "absent instruments are absent");
}

#[tokio::test]
async fn ltp_and_ohlc_fixtures() {
    let wanted = ["NSE:INFY".to_owned()];
    let (base, seen) = canned(200, vec![JSON], fixture("ltp.json")).await;
    let ltp = client(base).ltp(&token(), &wanted).await.unwrap();
    assert_eq!(ltp["NSE:INFY"].last_price, 1074.35);
    assert_eq!(seen.lock().unwrap().path, "/quote/ltp");
    let (base, seen) = canned(200, vec![JSON], fixture("ohlc.json")).await;
    let ohlc = client(base).ohlc(&token(), &wanted).await.unwrap();
    assert_eq!(ohlc["NSE:INFY"].ohlc.high, 1085.9);
    assert_eq!(ohlc["NSE:INFY"].last_price, 1075.0);
    assert_eq!(seen.lock().unwrap().path, "/quote/ohlc");
}

#[tokio::test]
async fn instrument_limits_are_checked_before_sending() {
    let (base, seen) = canned(200, vec![JSON], fixture("ltp.json")).await;
    let kite = client(base);
    let many: Vec<String> = (0..1001).map(|i| format!("NSE:S{i}")).collect();
    let cases = [
        (kite.quote(&token(), &many[..501]).await.err(), 500),
        (kite.ltp(&token(), &many).await.err(), 1000),
        (kite.ohlc(&token(), &many).await.err(), 1000),
    ];
    for (error, max) in cases {
        assert!(
            matches!(error, Some(KiteError::TooManyInstruments { max: m, .. }) if m == max),
            "{error:?}"
        );
    }
    assert!(kite.ltp(&token(), &[]).await.unwrap().is_empty());
    assert_eq!(seen.lock().unwrap().count, 0, "nothing was sent");
    assert_eq!(kite.ltp(&token(), &many[..1000]).await.unwrap().len(), 1);
}

#[tokio::test]
async fn one_malformed_quote_does_not_cost_the_others() {
    let body = r#"{"status":"success","data":{"NSE:INFY":{"instrument_token":408065,"last_price":1.5},"NSE:BAD":{"last_price":"x"}}}"#;
    let (base, _) = canned(200, vec![JSON], body).await;
    let ltp = client(base)
        .ltp(&token(), &["NSE:INFY".into(), "NSE:BAD".into()])
        .await
        .unwrap();
    assert_eq!(ltp.len(), 1);
    let all_bad = r#"{"status":"success","data":{"NSE:BAD":{"last_price":"x"}}}"#;
    let (base, _) = canned(200, vec![JSON], all_bad).await;
    let error = client(base)
        .ltp(&token(), &["NSE:BAD".into()])
        .await
        .unwrap_err();
    assert!(
        matches!(error, KiteError::UnexpectedBody { .. }),
        "{error:?}"
    );
}

/// Counts `warn` events (a minimal subscriber, installed for one closure).
struct CountWarnings(Arc<std::sync::atomic::AtomicUsize>);

impl tracing::Subscriber for CountWarnings {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::WARN {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn a_malformed_quote_is_a_warning_once_per_instrument_not_per_call() {
    let map = |bad: &[&str]| -> HashMap<String, Value> {
        let mut m = HashMap::from([(
            "NSE:INFY".to_string(),
            serde_json::json!({"instrument_token": 408065, "last_price": 1.5}),
        )]);
        for b in bad {
            m.insert((*b).to_string(), serde_json::json!({"last_price": "x"}));
        }
        m
    };
    let warnings = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = || warnings.load(std::sync::atomic::Ordering::SeqCst);
    let reported = Reported::default();
    tracing::subscriber::with_default(CountWarnings(warnings.clone()), || {
        // Polled every couple of seconds in REST fallback.
        for _ in 0..5 {
            let quotes: HashMap<String, LtpQuote> =
                decode_quote_map(map(&["NSE:BAD"]), &reported).unwrap();
            assert_eq!(quotes.len(), 1);
        }
        assert_eq!(count(), 1);
        let quotes: HashMap<String, LtpQuote> =
            decode_quote_map(map(&["NSE:BAD", "NSE:WORSE"]), &reported).unwrap();
        assert_eq!(quotes.len(), 1);
        assert_eq!(count(), 2, "a new instrument is a new problem");
    });
}

#[tokio::test]
async fn generate_session_posts_the_checksum_form() {
    let (base, seen) = canned(200, vec![JSON], fixture("generate_session.json")).await;
    let session = client(base)
        .generate_session(
            &RequestToken::from("req_tok_123"),
            &ApiSecret::from("test_secret"),
        )
        .await
        .unwrap();
    assert_eq!(session.access_token.expose(), "XXXXXX");
    assert_eq!(
        crate::rest::time::format(&session.login_time),
        "2021-01-01 16:15:14"
    );
    assert_eq!(session.meta.demat_consent.as_deref(), Some("physical"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/session/token")
    );
    assert!(seen.headers.get(header::AUTHORIZATION).is_none());
    assert_eq!(
        seen.headers[header::CONTENT_TYPE],
        "application/x-www-form-urlencoded"
    );
    let form = pairs(&seen.body);
    let expected = [
        ("api_key", KEY),
        ("request_token", "req_tok_123"),
        (
            "checksum",
            "7ee373d3ce4cda1510ef4e40ab751f0d78aab356b93a714d4e993e8626168f83",
        ),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(form, expected);
}

#[tokio::test]
async fn invalidate_token_deletes_with_query_and_header() {
    let (base, seen) = canned(200, vec![JSON], fixture("session_logout.json")).await;
    assert!(client(base).invalidate_token(&token()).await.unwrap());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("DELETE", "/session/token")
    );
    let query = pairs(&seen.query.unwrap());
    assert!(query.contains(&("access_token".into(), TOKEN.into())));
    assert!(query.contains(&("api_key".into(), KEY.into())));
    assert!(seen.headers.contains_key(header::AUTHORIZATION));
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn instruments_plain_gzip_file_and_gzip_encoding() {
    let csv = fixture("instruments_all.csv");
    let cases = [
        (vec![("content-type", "text/csv")], csv.clone().into_bytes()),
        (
            vec![("content-type", "application/gzip")],
            gzip(csv.as_bytes()),
        ),
        (
            vec![("content-type", "text/csv"), ("content-encoding", "gzip")],
            gzip(csv.as_bytes()),
        ),
    ];
    for (headers, body) in cases {
        let (base, seen) = canned(200, headers.clone(), body).await;
        let rows = client(base).instruments().await.unwrap();
        assert_eq!(rows.len(), 99, "{headers:?}");
        assert_eq!(seen.lock().unwrap().path, "/instruments");
    }
    let (base, _) = canned(200, vec![], "instrument_token\n1\n").await;
    assert!(matches!(
        client(base).instruments().await,
        Err(KiteError::Instruments(_))
    ));
    let token_error = r#"{"status":"error","message":"m","error_type":"TokenException"}"#;
    let (base, _) = canned(403, vec![JSON], token_error).await;
    assert!(client(base).instruments().await.unwrap_err().is_auth());
}

/// (status, extra headers, body, check) for a profile call.
type Case = (
    u16,
    Vec<(&'static str, &'static str)>,
    &'static str,
    fn(&KiteError) -> bool,
);

#[tokio::test]
async fn failures_are_typed() {
    let cases: Vec<Case> = vec![
        (
            403,
            vec![JSON],
            r#"{"status":"error","message":"Incorrect `api_key` or `access_token`.","error_type":"TokenException","data":null}"#,
            |e| e.is_auth() && !e.is_retryable() && e.status() == Some(403),
        ),
        (
            200,
            vec![JSON],
            r#"{"status":"error","message":"x","error_type":"TokenException"}"#,
            |e| e.is_auth(),
        ),
        (429, vec![("retry-after", "2")], "Too many requests", |e| {
            e.is_retryable()
                && matches!(e, KiteError::RateLimited { retry_after: Some(d) } if d.as_secs() == 2)
        }),
        (
            429,
            vec![JSON],
            r#"{"status":"error","message":"slow down","error_type":"GeneralException"}"#,
            |e| e.is_retryable() && matches!(e, KiteError::RateLimited { retry_after: None }),
        ),
        (
            500,
            vec![JSON],
            r#"{"status":"error","message":"oops","error_type":"GeneralException"}"#,
            |e| e.is_retryable() && matches!(e, KiteError::Server { status: 500, .. }),
        ),
        (
            502,
            vec![("content-type", "text/html")],
            "<html>bad gateway</html>",
            |e| e.is_retryable() && matches!(e, KiteError::Server { status: 502, .. }),
        ),
        (
            400,
            vec![JSON],
            r#"{"status":"error","message":"bad","error_type":"InputException"}"#,
            |e| !e.is_retryable() && matches!(e, KiteError::Input { .. }),
        ),
        (
            403,
            vec![JSON],
            r#"{"status":"error","message":"no","error_type":"PermissionException"}"#,
            |e| !e.is_auth() && matches!(e, KiteError::Permission { .. }),
        ),
        (200, vec![JSON], "this is not json", |e| {
            !e.is_retryable() && matches!(e, KiteError::UnexpectedBody { status: 200, .. })
        }),
        (200, vec![JSON], r#"{"status":"success"}"#, |e| {
            matches!(e, KiteError::UnexpectedBody { .. })
        }),
        (
            200,
            vec![JSON],
            r#"{"status":"success","data":{"user_id":5}}"#,
            |e| matches!(e, KiteError::UnexpectedBody { .. }),
        ),
        (404, vec![], "", |e| {
            matches!(e, KiteError::UnexpectedBody { status: 404, .. })
        }),
    ];
    for (status, headers, body, check) in cases {
        let (base, _) = canned(status, headers, body).await;
        let error = client(base).profile(&token()).await.unwrap_err();
        assert!(check(&error), "{status} {body}: {error:?}");
    }
}

#[tokio::test]
async fn errors_never_show_the_token() {
    // a server that echoes the credentials back in its message
    let body = format!(
        r#"{{"status":"error","message":"token {TOKEN} for {KEY} rejected","error_type":"TokenException"}}"#
    );
    let (base, _) = canned(403, vec![JSON], body).await;
    let error = client(base).profile(&token()).await.unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");

    let body =
        r#"{"status":"error","message":"req-s3cr3t / api-s3cr3t","error_type":"TokenException"}"#;
    let (base, _) = canned(403, vec![JSON], body).await;
    let error = client(base)
        .generate_session(
            &RequestToken::from("req-s3cr3t"),
            &ApiSecret::from("api-s3cr3t"),
        )
        .await
        .unwrap_err();
    assert!(!format!("{error} {error:?}").contains("s3cr3t"));

    // a transport error on the route whose URL carries the token
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let kite = client(Url::parse(&format!("http://{closed}")).unwrap());
    let error = kite.invalidate_token(&token()).await.unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    let mut shown = format!("{error} {error:?}");
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        shown += &format!(" {inner} {inner:?}");
        source = inner.source();
    }
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(!format!("{kite:?}").contains(TOKEN));
}

#[tokio::test(start_paused = true)]
async fn a_silent_server_times_out() {
    let app = Router::new().route("/user/profile", get(std::future::pending::<String>));
    let base = serve(app).await;
    let kite = client(base).with_timeouts(Duration::from_secs(7), Duration::from_secs(60));
    let error = kite.profile(&token()).await.unwrap_err();
    assert!(matches!(error, KiteError::Timeout), "{error:?}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn raw_query_is_form_encoded() {
    // `+`/`%20` for spaces and `%3A` for colons, as the real server expects (kite.md §8.4)
    let app = Router::new().route(
        "/quote/ltp",
        get(|RawQuery(query): RawQuery| async move {
            let data = serde_json::json!({"status": "success", "data": {
                "echo": {"instrument_token": 1, "last_price": query.map_or(0, |q| q.len())}
            }});
            axum::Json(data)
        }),
    );
    let base = serve(app).await;
    let ltp = client(base)
        .ltp(&token(), &["NSE:NIFTY 50".into()])
        .await
        .unwrap();
    assert_eq!(ltp["echo"].last_price, "i=NSE%3ANIFTY+50".len() as f64);
}

#[test]
fn base_urls_must_be_http() {
    let bad = ["mailto:x@y.z", "ftp://h/", "data:text/plain,x"];
    for url in bad {
        let result = KiteRest::new(Url::parse(url).unwrap(), KEY.into());
        assert!(matches!(result, Err(KiteError::Setup(_))), "{url}");
    }
    let kite = KiteRest::new(Url::parse("http://h:1/a/b?x=1#f").unwrap(), KEY.into()).unwrap();
    assert_eq!(kite.base_url().as_str(), "http://h:1/a/b/");
}

/// A failed connection says why (issue 18: "network error talking to kite" hid the cause), and
/// the message names the host but never the credentials.
#[tokio::test]
async fn network_errors_name_their_root_cause() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = client(Url::parse(&format!("http://{addr}")).unwrap())
        .profile(&token())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "network error talking to kite: connection refused by {addr}"
        )),
        "{text}"
    );
    assert!(!text.contains(TOKEN) && !text.contains(KEY), "{text}");

    // `.invalid` never resolves (RFC 6761).
    let err = client(Url::parse("http://feedgate-test.invalid").unwrap())
        .profile(&token())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "network error talking to kite: could not resolve host feedgate-test.invalid"
        ),
        "{text}"
    );
}
