//! Kite REST and the login flow over HTTP: login page → redirect → session exchange, profile,
//! quotes (keys, decoding, limits, rate limit), instruments CSV, error envelopes.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;

const SECRET: &str = "feedgate-sim-secret";

fn checksum(request_token: &str, secret: &str) -> String {
    hex::encode(Sha256::digest(format!("{API_KEY}{request_token}{secret}")))
}

fn query_map(url: &str) -> HashMap<String, String> {
    let parsed = url::Url::parse(url).unwrap();
    parsed.query_pairs().into_owned().collect()
}

/// Walks the login page like a browser; returns the redirect URL.
async fn login(sim: &TestSim) -> String {
    let client = http();
    let page = client
        .get(format!(
            "{}/connect/login?api_key={API_KEY}&v=3&redirect_params=state%3Dabc%26next%3D%252Fx",
            sim.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<form method="post" action="/connect/login">"#));
    assert!(html.contains(r#"value="FG0001""#), "user id pre-filled");
    let submitted = client
        .post(format!("{}/connect/login", sim.base_url()))
        .form(&[
            ("api_key", API_KEY),
            ("user_id", "FG0001"),
            ("redirect_params", "state=abc&next=%2Fx"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status().as_u16(), 302);
    submitted.headers()["location"].to_str().unwrap().to_owned()
}

async fn exchange(sim: &TestSim, request_token: &str, sum: &str) -> (u16, Value) {
    let response = http()
        .post(format!("{}/session/token", sim.base_url()))
        .form(&[
            ("api_key", API_KEY),
            ("request_token", request_token),
            ("checksum", sum),
        ])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn get(sim: &TestSim, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = http().get(format!("{}{path}", sim.base_url()));
    if let Some(token) = token {
        request = request.header("authorization", auth_header(token));
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn assert_error(status: u16, body: &Value, want_status: u16, error_type: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error_type"], error_type, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(body["data"], Value::Null);
}

#[tokio::test]
async fn login_redirect_and_session_exchange() {
    let sim = start_default().await;
    let location = login(&sim).await;
    assert!(
        location.starts_with("http://127.0.0.1:8080/api/auth/callback?"),
        "{location}"
    );
    let params = query_map(&location);
    assert_eq!(params["action"], "login");
    assert_eq!(params["type"], "login");
    assert_eq!(params["status"], "success");
    assert_eq!(params["state"], "abc");
    assert_eq!(params["next"], "/x");
    let request_token = &params["request_token"];

    // A wrong secret is refused and does not burn the request token.
    let (status, body) = exchange(&sim, request_token, &checksum(request_token, "wrong")).await;
    assert_error(status, &body, 403, "TokenException");

    let (status, body) = exchange(&sim, request_token, &checksum(request_token, SECRET)).await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    for key in [
        "user_type",
        "email",
        "user_name",
        "user_shortname",
        "broker",
        "exchanges",
        "products",
        "order_types",
        "avatar_url",
        "user_id",
        "api_key",
        "access_token",
        "public_token",
        "enctoken",
        "refresh_token",
        "silo",
        "login_time",
        "meta",
    ] {
        assert!(data.get(key).is_some(), "session lacks {key}");
    }
    let login_time = data["login_time"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(login_time, "%Y-%m-%d %H:%M:%S").is_ok(),
        "{login_time}"
    );
    let access_token = data["access_token"].as_str().unwrap().to_owned();

    let (status, profile) = get(&sim, "/user/profile", Some(&access_token)).await;
    assert_eq!(status, 200);
    assert_eq!(profile["data"]["user_id"], "FG0001");

    // Single use.
    let (status, body) = exchange(&sim, request_token, &checksum(request_token, SECRET)).await;
    assert_error(status, &body, 403, "TokenException");
    // The ticker accepts the new token.
    try_connect(&ticker_url(&sim, &access_token)).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn request_tokens_expire_after_five_minutes() {
    let sim = start_default().await;
    let params = query_map(&login(&sim).await);
    let request_token = &params["request_token"];
    tokio::time::sleep(Duration::from_secs(301)).await;
    let (status, body) = exchange(&sim, request_token, &checksum(request_token, SECRET)).await;
    assert_error(status, &body, 403, "TokenException");
}

#[tokio::test]
async fn login_page_errors_are_html_400() {
    let sim = start_default().await;
    for path in ["/connect/login?api_key=nope&v=3", "/connect/login?v=3"] {
        let response = http()
            .get(format!("{}{path}", sim.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{path}");
        assert!(response.text().await.unwrap().contains("<html"), "{path}");
    }
    let wrong_user = http()
        .post(format!("{}/connect/login", sim.base_url()))
        .form(&[("api_key", API_KEY), ("user_id", "SOMEONE")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_user.status().as_u16(), 400);
}

#[tokio::test]
async fn session_exchange_input_errors() {
    let sim = start_default().await;
    let response = http()
        .post(format!("{}/session/token", sim.base_url()))
        .form(&[("api_key", API_KEY)])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_error(status, &body, 400, "InputException");
    let (status, body) = exchange(&sim, "never-issued", &checksum("never-issued", SECRET)).await;
    assert_error(status, &body, 403, "TokenException");
}

#[tokio::test]
async fn logout_revokes_the_token() {
    let sim = start_default().await;
    let token = sim.mint_access_token();
    let response = http()
        .delete(format!(
            "{}/session/token?api_key={API_KEY}&access_token={token}",
            sim.base_url()
        ))
        .header("authorization", auth_header(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "success", "data": true}));
    let (status, body) = get(&sim, "/user/profile", Some(&token)).await;
    assert_error(status, &body, 403, "TokenException");
}

#[tokio::test]
async fn authentication_errors_are_403_token_exceptions() {
    let sim = start_default().await;
    for path in [
        "/user/profile",
        "/quote?i=NSE:INFY",
        "/quote/ltp?i=NSE:INFY",
    ] {
        let (status, body) = get(&sim, path, None).await;
        assert_error(status, &body, 403, "TokenException");
        assert_eq!(body["message"], "Incorrect `api_key` or `access_token`.");
        let (status, body) = get(&sim, path, Some("bogus")).await;
        assert_error(status, &body, 403, "TokenException");
    }
}

#[tokio::test(start_paused = true)]
async fn quotes_are_keyed_by_the_requested_strings() {
    let sim = start_default().await;
    let token = sim.mint_access_token();
    let (status, body) = get(
        &sim,
        "/quote?i=NSE%3AINFY&i=NSE:NIFTY+50&i=BSE%3ASENSEX&i=NSE:NOPE&i=NFO:NIFTY25JAN1CE",
        Some(&token),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let data = body["data"].as_object().unwrap();
    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["BSE:SENSEX", "NSE:INFY", "NSE:NIFTY 50"]);
    let infy = &data["NSE:INFY"];
    assert_eq!(infy["instrument_token"], INFY);
    let price = |v: &Value| (v.as_f64().unwrap() * 100.0).round() as i64;
    let (ltp, low, high) = (
        price(&infy["last_price"]),
        price(&infy["ohlc"]["low"]),
        price(&infy["ohlc"]["high"]),
    );
    assert!(low <= ltp && ltp <= high, "{low} {ltp} {high}");
    assert_eq!(ltp % tick_size(&sim, INFY), 0);
    assert_eq!(infy["depth"]["buy"].as_array().unwrap().len(), 5);
    assert!(infy["volume"].as_u64().unwrap() > 0);
    assert!(infy["timestamp"].as_str().unwrap().len() == 19);
    assert_eq!(data["NSE:NIFTY 50"]["volume"], 0, "indices have no volume");

    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, body) = get(&sim, "/quote/ltp?i=NSE:SBIN", Some(&token)).await;
    assert_eq!(status, 200);
    let sbin = body["data"]["NSE:SBIN"].as_object().unwrap();
    let mut fields: Vec<&str> = sbin.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["instrument_token", "last_price"]);

    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, body) = get(&sim, "/quote/ohlc?i=NSE:SBIN", Some(&token)).await;
    assert_eq!(status, 200);
    let ohlc = body["data"]["NSE:SBIN"]["ohlc"].as_object().unwrap();
    assert_eq!(ohlc.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn quote_calls_faster_than_one_per_second_get_429_and_are_counted() {
    let sim = start_default().await;
    let token = sim.mint_access_token();
    let (status, _) = get(&sim, "/quote/ltp?i=NSE:INFY", Some(&token)).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = get(&sim, "/quote/ohlc?i=NSE:INFY", Some(&token)).await;
    assert_error(status, &body, 429, "NetworkException");
    // 50 ms early is within tolerance.
    tokio::time::sleep(Duration::from_millis(450)).await;
    let (status, _) = get(&sim, "/quote?i=NSE:INFY", Some(&token)).await;
    assert_eq!(status, 200);
    let state = sim.state();
    assert_eq!((state.quote_requests, state.quote_rate_limited), (3, 1));
    assert_eq!((state.rest_429s, state.quotes_served), (1, 2));
}

#[tokio::test(start_paused = true)]
async fn too_many_instruments_is_an_input_exception() {
    let sim = start_default().await;
    let token = sim.mint_access_token();
    let many = |n: usize| vec!["i=NSE:INFY"; n].join("&");
    let (status, body) = get(&sim, &format!("/quote?{}", many(501)), Some(&token)).await;
    assert_error(status, &body, 400, "InputException");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, _) = get(&sim, &format!("/quote/ltp?{}", many(1000)), Some(&token)).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, body) = get(&sim, &format!("/quote/ohlc?{}", many(1001)), Some(&token)).await;
    assert_error(status, &body, 400, "InputException");
}

#[tokio::test]
async fn instruments_csv() {
    let sim = start_default().await;
    let response = http()
        .get(format!("{}/instruments", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = response.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange"
    );
    assert_eq!(lines.count(), sim.instruments().len());
    assert!(text.contains("\n408065,1594,INFY,INFOSYS,"));
    let nse = http()
        .get(format!("{}/instruments/NSE", sim.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(nse.lines().skip(1).all(|l| l.ends_with(",NSE")));
    assert_eq!(nse.lines().count(), 1 + 52);
}

#[tokio::test]
async fn unknown_routes_and_methods_use_kites_envelope() {
    let sim = start_default().await;
    let (status, body) = get(&sim, "/nope", None).await;
    assert_error(status, &body, 404, "GeneralException");
    let response = http()
        .put(format!("{}/quote", sim.base_url()))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_error(status, &body, 405, "GeneralException");
}
