//! Kite's REST reads served by feedgate (DESIGN.md §11, issue 15 item 4) over real sockets
//! against the simulator: Kite's envelope and field names, its errors with their HTTP codes,
//! keys in Kite's terms, the per-call caps, values equal to the hub's, one batched broker call
//! for instruments nobody subscribes to, the kept subscription's idle expiry (paused time), the
//! instrument CSV, and the same endpoints on a Fyers account.

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;

const INFY: &str = "NSE:INFY";
const SBIN: &str = "NSE:SBIN";
const RELIANCE: &str = "NSE:RELIANCE";
/// After the close: no socket, only REST (with `DEV_MODE=false`).
const NIGHT: &str = "2026-11-23T21:00:00+05:30";

/// The keys of `NSE:INFY` in Zerodha's `quote.json` mock.
const QUOTE_KEYS: [&str; 17] = [
    "instrument_token",
    "timestamp",
    "last_trade_time",
    "last_price",
    "last_quantity",
    "buy_quantity",
    "sell_quantity",
    "volume",
    "average_price",
    "oi",
    "oi_day_high",
    "oi_day_low",
    "net_change",
    "lower_circuit_limit",
    "upper_circuit_limit",
    "ohlc",
    "depth",
];

fn query(path: &str, symbols: &[&str]) -> String {
    let q: Vec<String> = symbols
        .iter()
        .map(|s| {
            format!(
                "i={}",
                url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
            )
        })
        .collect();
    format!("{path}?{}", q.join("&"))
}

/// `GET path` with Kite's headers and, if given, `Authorization: token KEY`.
async fn kite_get(env: &Env, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut r = env
        .http
        .get(format!("{}{path}", env.base()))
        .header("x-kite-version", "3");
    if let Some(k) = key {
        r = r.header("authorization", format!("token {k}"));
    }
    r.send().await.expect("request")
}

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).expect("JSON body"))
}

fn assert_error(got: &(u16, Value), status: u16, error_type: &str, needle: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["status"], "error", "{}", got.1);
    assert_eq!(got.1["error_type"], error_type, "{}", got.1);
    assert_eq!(got.1["data"], Value::Null, "{}", got.1);
    let msg = got.1["message"].as_str().unwrap_or_default();
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
}

/// Kite's shapes, unknown instruments left out, values equal to the hub's, and reads beyond
/// the broker's 1/s served without asking it again.
#[tokio::test(start_paused = true)]
async fn quotes_come_in_kites_shapes_from_the_hubs_values() {
    let env = EnvBuilder::new().start().await;
    let (status, v) = json_of(
        kite_get(
            &env,
            &query("/quote", &[INFY, "NSE:NOPE", "BSE:SENSEX"]),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "success");
    let data = v["data"].as_object().expect("a map");
    assert!(
        data.get("NSE:NOPE").is_none(),
        "unknown instruments are left out: {v}"
    );
    let infy = &data[INFY];
    let mut keys: Vec<&str> = infy
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut want = QUOTE_KEYS.to_vec();
    want.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(infy["depth"]["buy"].as_array().unwrap().len(), 5);
    assert_eq!(infy["depth"]["sell"].as_array().unwrap().len(), 5);
    assert!(infy["last_price"].as_f64().unwrap() > 0.0);
    assert_eq!(infy["timestamp"].as_str().unwrap().len(), 19, "{infy}");
    assert!(data.contains_key("BSE:SENSEX"), "{v}");
    let fetched = env.quote_requests();
    assert_eq!(
        fetched,
        (1, 0),
        "one broker call for the instruments without a value"
    );

    // Kept live: the upstream subscribes them in full mode.
    let token = infy["instrument_token"].as_u64().unwrap();
    assert!(
        wait_until(WAIT, || async {
            env.upstream_subscriptions()
                .iter()
                .flatten()
                .any(|s| *s == format!("{token}:Full"))
        })
        .await,
        "{:?}",
        env.upstream_subscriptions()
    );

    // ltp and ohlc shapes.
    let (_, ltp) = json_of(kite_get(&env, &query("/quote/ltp", &[INFY]), None).await).await;
    let mut k: Vec<_> = ltp["data"][INFY]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    k.sort();
    assert_eq!(k, ["instrument_token", "last_price"]);
    let (_, ohlc) =
        json_of(kite_get(&env, &query("/quote/ohlc", &[INFY, "408065"]), None).await).await;
    let mut k: Vec<_> = ohlc["data"][INFY]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    k.sort();
    assert_eq!(k, ["instrument_token", "last_price", "ohlc"]);
    assert!(
        ohlc["data"].get("408065").is_some(),
        "the token form: {ohlc}"
    );

    // The same values as the hub's (/api/quotes), read at one instant.
    let mut agreed = false;
    for _ in 0..10 {
        let (_, q) = json_of(kite_get(&env, &query("/quote", &[INFY]), None).await).await;
        let hub = env.get_json(&format!("/api/quotes?symbols={INFY}")).await;
        let (q, h) = (&q["data"][INFY], &hub["data"][INFY]);
        if q["last_price"] == h["ltp"] && q["volume"] == h["volume"] {
            assert_eq!(q["ohlc"]["close"], h["close"], "{q} {h}");
            agreed = true;
            break;
        }
    }
    assert!(agreed, "/quote agrees with the hub");

    // `X-Kite-Version` is accepted, never required.
    assert_eq!(env.get(&query("/quote/ltp", &[INFY])).await.status(), 200);

    // Many reads a second, no 429, no further broker call.
    for _ in 0..20 {
        let r = kite_get(&env, &query("/quote/ltp", &[INFY, "BSE:SENSEX"]), None).await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(env.quote_requests(), fetched, "served from the hub");
    env.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn bad_requests_are_input_exceptions() {
    let env = EnvBuilder::new().start().await;
    let get = |p: String| {
        let env = &env;
        async move { json_of(kite_get(env, &p, None).await).await }
    };
    assert_error(
        &get("/quote".into()).await,
        400,
        "InputException",
        "No instruments",
    );
    assert_error(
        &get("/quote/ltp?x=1".into()).await,
        400,
        "InputException",
        "No instruments",
    );
    assert_error(
        &get("/quote?i=INFY".into()).await,
        400,
        "InputException",
        "Invalid instrument",
    );
    let many = |n: usize| -> Vec<String> { (0..n).map(|i| format!("NSE:X{i}")).collect() };
    let refs = |v: &[String]| -> Vec<String> { v.to_vec() };
    let q501 = refs(&many(501));
    let q501: Vec<&str> = q501.iter().map(String::as_str).collect();
    assert_error(
        &get(query("/quote", &q501)).await,
        400,
        "InputException",
        "Max permitted is 500",
    );
    let (status, v) = get(query("/quote/ltp", &q501)).await;
    assert_eq!(
        (status, &v["data"]),
        (200, &serde_json::json!({})),
        "ltp allows 1000"
    );
    let q1001 = many(1001);
    let q1001: Vec<&str> = q1001.iter().map(String::as_str).collect();
    assert_error(
        &get(query("/quote/ohlc", &q1001)).await,
        400,
        "InputException",
        "Max permitted is 1000",
    );
    env.shutdown().await;
}

/// With keys: none or a wrong one is a `TokenException` (pykiteconnect's session hook), a key
/// without `read` a `PermissionException`, the wrong-key back-off a 429 in Kite's envelope.
#[tokio::test(start_paused = true)]
async fn keys_are_refused_in_kites_terms() {
    let env = EnvBuilder::new().with_keys().start().await;
    let path = query("/quote/ltp", &[INFY]);
    for path in [path.as_str(), "/instruments", "/instruments/NSE"] {
        let none = json_of(kite_get(&env, path, None).await).await;
        assert_error(
            &none,
            403,
            "TokenException",
            "Incorrect `api_key` or `access_token`",
        );
        let bearer_style = env
            .http
            .get(format!("{}{path}", env.base()))
            .header("authorization", format!("Bearer {ORDERS}"))
            .send()
            .await
            .unwrap();
        assert_error(
            &json_of(bearer_style).await,
            403,
            "PermissionException",
            "read scope",
        );
    }
    let (status, v) = json_of(kite_get(&env, &path, Some(READER)).await).await;
    assert_eq!(status, 200, "{v}");
    let wrong = json_of(kite_get(&env, &path, Some("reader:not-the-secret-000000")).await).await;
    assert_error(&wrong, 403, "TokenException", "Incorrect");
    assert_eq!(
        wrong.1,
        json_of(kite_get(&env, &path, Some("nobody:not-the-secret-000000")).await)
            .await
            .1
    );
    for _ in 0..feedgate_gateway::access::failures::FREE_FAILURES {
        kite_get(&env, &path, Some("reader:guess-000000000000")).await;
    }
    let r = kite_get(&env, &path, Some(READER)).await;
    assert_eq!(header(&r, "retry-after"), "1");
    assert_error(
        &json_of(r).await,
        429,
        "NetworkException",
        "Too many requests",
    );
    env.shutdown().await;
}

/// Requests for a host feedgate does not serve are refused as on `/api` (DNS rebinding).
#[tokio::test(start_paused = true)]
async fn the_host_check_applies() {
    let env = EnvBuilder::new().start().await;
    let r = env
        .http
        .get(format!("{}{}", env.base(), query("/quote", &[INFY])))
        .header("host", "evil.example:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 421);
    env.shutdown().await;
}

/// An instrument stays subscribed upstream while it is read, and is dropped
/// `FEEDGATE_KITE_REST_IDLE_S` after its last read.
#[tokio::test(start_paused = true)]
async fn read_instruments_stay_live_until_idle() {
    let env = EnvBuilder::new()
        .var("FEEDGATE_KITE_REST_IDLE_S", "60")
        .start()
        .await;
    let (_, v) = json_of(kite_get(&env, &query("/quote/ltp", &[INFY]), None).await).await;
    let token = v["data"][INFY]["instrument_token"]
        .as_u64()
        .expect("a value");
    let subscribed = |env: &Env| {
        env.upstream_subscriptions()
            .iter()
            .flatten()
            .any(|s| s.starts_with(&format!("{token}:")))
    };
    assert!(wait_until(WAIT, || async { subscribed(&env) }).await);
    let first = tokio::time::Instant::now();
    let_time_pass(Duration::from_secs(30)).await;
    kite_get(&env, &query("/quote/ltp", &[INFY]), None).await;
    let second = tokio::time::Instant::now();
    // Past the first read's idle time, within the second's.
    tokio::time::sleep_until(first + Duration::from_secs(75)).await;
    assert!(subscribed(&env), "read again 30 s later: still kept");
    tokio::time::sleep_until(second + Duration::from_secs(59)).await;
    assert!(subscribed(&env), "not yet idle for 60 s");
    assert!(
        wait_until(Duration::from_secs(5), || async { !subscribed(&env) }).await,
        "dropped once idle: {:?}",
        env.upstream_subscriptions()
    );
    env.shutdown().await;
}

/// At night (no socket) many concurrent reads of instruments without a value share one broker
/// call, and every read gets its values.
#[tokio::test(start_paused = true)]
async fn concurrent_reads_of_new_instruments_share_one_broker_call() {
    let env = EnvBuilder::new()
        .var("DEV_MODE", "false")
        .start_at(NIGHT)
        .start()
        .await;
    assert!(
        wait_until(WAIT, || async { auth_state(&env).await == "valid" }).await,
        "the token is usable"
    );
    let sets: [&[&str]; 3] = [
        &[INFY, SBIN],
        &[SBIN, RELIANCE],
        &[INFY, RELIANCE, "NSE:NOPE"],
    ];
    let reads = (0..30).map(|n| {
        let env = &env;
        let path = query(["/quote", "/quote/ltp", "/quote/ohlc"][n % 3], sets[n % 3]);
        async move { (n, json_of(kite_get(env, &path, None).await).await) }
    });
    for (n, (status, v)) in futures_util::future::join_all(reads).await {
        assert_eq!(status, 200, "{v}");
        for s in sets[n % 3].iter().filter(|s| **s != "NSE:NOPE") {
            assert!(
                v["data"][*s]["last_price"].as_f64().unwrap() > 0.0,
                "{s}: {v}"
            );
        }
    }
    assert_eq!(env.quote_requests(), (1, 0), "one broker call for 30 reads");
    // Afterwards the hub has them: no more calls.
    let (status, _) =
        json_of(kite_get(&env, &query("/quote", &[INFY, SBIN, RELIANCE]), None).await).await;
    assert_eq!(status, 200);
    assert_eq!(env.quote_requests(), (1, 0));

    // Reads of new instruments spread over a second: those arriving while a call waits for
    // the broker's rate gate share the next call.
    let csv = kite_get(&env, "/instruments/NSE", None)
        .await
        .bytes()
        .await
        .unwrap();
    let fresh: Vec<String> = feedgate_kite::parse_instruments_body(&csv)
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.segment == "NSE"
                && ![INFY, SBIN, RELIANCE].contains(&&*format!("NSE:{}", r.tradingsymbol))
        })
        .map(|r| format!("NSE:{}", r.tradingsymbol))
        .take(10)
        .collect();
    assert_eq!(fresh.len(), 10);
    let reads = fresh.iter().enumerate().map(|(n, sym)| {
        let env = &env;
        async move {
            tokio::time::sleep(Duration::from_millis(100 * n as u64)).await;
            json_of(kite_get(env, &query("/quote/ltp", &[sym]), None).await).await
        }
    });
    for ((status, v), sym) in futures_util::future::join_all(reads)
        .await
        .into_iter()
        .zip(&fresh)
    {
        assert_eq!(status, 200, "{v}");
        assert!(
            v["data"][sym]["last_price"].as_f64().unwrap() > 0.0,
            "{sym}: {v}"
        );
    }
    let (calls, limited) = env.quote_requests();
    assert!(
        calls <= 4,
        "the first wave's call and at most 3 for the 10 spread reads: {calls}"
    );
    assert_eq!(limited, 0, "within the broker's rate limit");
    env.shutdown().await;
}

/// Without a usable broker token nothing new can be fetched: a read of instruments without a
/// value is a 503 `NetworkException` (not an empty map, which would read as "no such
/// instruments"); a read of unknown instruments alone is Kite's empty map.
#[tokio::test(start_paused = true)]
async fn reads_the_broker_cannot_answer_are_network_exceptions() {
    let env = EnvBuilder::new()
        .var("DEV_MODE", "false")
        .start_at(NIGHT)
        .token(TokenSetup::None)
        .start()
        .await;
    let got = json_of(kite_get(&env, &query("/quote", &[INFY, SBIN]), None).await).await;
    assert_error(&got, 503, "NetworkException", "did not answer");
    let (status, v) = json_of(kite_get(&env, &query("/quote", &["NSE:NOPE"]), None).await).await;
    assert_eq!((status, &v["data"]), (200, &serde_json::json!({})), "{v}");
    assert_eq!(env.quote_requests(), (0, 0));
    env.shutdown().await;
}

/// Kite's dump: CSV, its header, numbers never empty, one exchange on request.
#[tokio::test(start_paused = true)]
async fn instruments_are_kites_csv() {
    let env = EnvBuilder::new().start().await;
    let r = kite_get(&env, "/instruments", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/csv");
    let all = feedgate_kite::parse_instruments_body(&r.bytes().await.unwrap()).expect("Kite's CSV");
    assert!(
        all.iter()
            .any(|row| row.tradingsymbol == "INFY" && row.exchange == "NSE")
    );
    assert!(all.iter().any(|row| row.exchange == "BSE"));
    let infy = all
        .iter()
        .find(|row| row.tradingsymbol == "INFY" && row.exchange == "NSE")
        .unwrap();
    assert_eq!(
        infy.exchange_token,
        (infy.instrument_token >> 8).to_string()
    );
    let r = kite_get(&env, "/instruments/NSE", None).await;
    let text = r.text().await.unwrap();
    assert!(text.starts_with("instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange\n"));
    let nse = feedgate_kite::parse_instruments_body(text.as_bytes()).unwrap();
    assert!(!nse.is_empty() && nse.iter().all(|row| row.exchange == "NSE"));
    env.shutdown().await;
}

/// On a Fyers account the same reads work with the Kite-style symbols and tokens feedgate
/// assigns (SBIN keeps Kite's own token).
#[tokio::test(start_paused = true)]
async fn fyers_accounts_answer_with_kite_symbols_and_tokens() {
    let env = EnvBuilder::new().broker(Broker::Fyers).start().await;
    let (status, v) =
        json_of(kite_get(&env, &query("/quote", &[SBIN, "NSE:NIFTY 50"]), None).await).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"][SBIN]["instrument_token"], 779_521, "{v}");
    assert!(v["data"][SBIN]["last_price"].as_f64().unwrap() > 0.0);
    assert!(
        v["data"]["NSE:NIFTY 50"]["last_price"].as_f64().unwrap() > 0.0,
        "{v}"
    );
    let (_, by_token) = json_of(kite_get(&env, "/quote/ltp?i=779521", None).await).await;
    assert_eq!(
        by_token["data"]["779521"]["instrument_token"], 779_521,
        "{by_token}"
    );
    assert_eq!(env.quote_requests().1, 0, "within the broker's limits");
    env.shutdown().await;
}
