//! Fyers REST against the simulator, driven mostly by the gateway's own client
//! (`feedgate_fyers::rest::FyersRest` with `FyersEndpoints::from_api_root(sim.fyers_api_url())`):
//! symbol-token, quotes, profile, errors (401/−16, 400, 429, 404), the symbol masters and the
//! index mapping, the login page → validate-authcode flow with `appIdHash`, the refresh
//! exchange, and the control API's Fyers tokens.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

mod common;
mod fyers_common;

use common::start_default;
use feedgate_fyers::hsm::{Record, SnapshotStore};
use feedgate_fyers::rest::{
    AuthcodeParams, FyersEndpoints, FyersRest, RestError, app_id_hash, generate_authcode_url,
};
use feedgate_fyers::symbol::{FeedKind, IndexNames, ResolvedSymbols};
use feedgate_fyers::{AccessToken, Decimal, FyersSymbol};
use feedgate_sim::Sim;
use fyers_common::*;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

fn client(sim: &Sim) -> FyersRest {
    let endpoints = FyersEndpoints::from_api_root(&sim.fyers_api_url()).unwrap();
    FyersRest::new(endpoints, APP_ID).unwrap()
}

fn symbols(list: &[&str]) -> Vec<FyersSymbol> {
    list.iter().map(|s| FyersSymbol::new(*s).unwrap()).collect()
}

fn api_code(err: &RestError) -> (u16, Option<i64>) {
    match err {
        RestError::Api(api) => (api.http_status, api.code),
        other => panic!("not an api error: {other}"),
    }
}

#[tokio::test]
async fn library_api_and_control_tokens() {
    let sim = start_default().await;
    let port = sim.local_addr().port();
    assert_eq!(
        sim.fyers_ws_url(),
        format!("ws://127.0.0.1:{port}/hsm/v1-5/prod")
    );
    assert_eq!(sim.fyers_api_url(), format!("http://127.0.0.1:{port}"));
    let token = AccessToken::parse(&sim.mint_fyers_token()).unwrap();
    assert_eq!(token.app_id(), Some(APP_ID));
    let now = chrono::Utc::now().timestamp();
    assert!(
        (token.expires_at() - now - 86_400).abs() < 60,
        "24 h by default"
    );
    assert!(!token.hsm_key().expose_secret().is_empty());

    let response = http()
        .post(format!(
            "{}/_sim/token?broker=fyers&expires_in=120",
            sim.base_url()
        ))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let token = AccessToken::parse(body["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(Some(token.expires_at()), body["expires_at"].as_i64());
    assert!((token.expires_at() - now - 120).abs() < 60);
    // Kite tokens are still the default.
    let kite: Value = http()
        .post(format!("{}/_sim/token", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(AccessToken::parse(kite["access_token"].as_str().unwrap()).is_err());
    for bad in ["broker=zerodha", "broker=fyers&expires_in=soon"] {
        let response = http()
            .post(format!("{}/_sim/token?{bad}", sim.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{bad}");
    }
    assert_eq!(sim.state().fyers.tokens.len(), 2);
}

#[tokio::test]
async fn symbol_token_resolves_to_topics_the_socket_serves() {
    let sim = start_default().await;
    let rest = client(&sim);
    let token = AccessToken::parse(&sim.mint_fyers_token()).unwrap();
    let list = symbols(&[
        "NSE:SBIN-EQ",
        "NSE:NIFTY50-INDEX",
        "BSE:SENSEX-INDEX",
        "NSE:NOPE-EQ",
    ]);
    let response = rest.symbol_token(&token, &list).await.unwrap();
    assert_eq!(response.valid_symbol["NSE:SBIN-EQ"], "10100000003045");
    assert_eq!(response.invalid_symbol, ["NSE:NOPE-EQ"]);
    // The live index mapping the client fetches from the simulator.
    let names = rest.index_names().await.unwrap();
    assert_eq!(names.live_len(), 3);
    let resolved = ResolvedSymbols::from_response(&response, FeedKind::Quote, &names);
    let topics_wanted: Vec<String> = resolved
        .resolved
        .iter()
        .map(|r| r.topic.to_string())
        .collect();
    // Symbol order (the response is a sorted map): SENSEX, NIFTY 50, SBIN.
    assert_eq!(topics_wanted, [SENSEX, NIFTY, SBIN]);
    let mut ws = logged_in(&sim).await;
    let names: Vec<&str> = topics_wanted.iter().map(String::as_str).collect();
    assert!(subscribe(&mut ws, &names).await);
    assert_eq!(next_data(&mut ws).await.records.len(), 3);
    assert_eq!(sim.state().fyers.symbol_token_requests, 1);

    // The bare JWT is what the official client sends here; both forms work.
    let bare = jwt(token.expose());
    for auth in [bare.as_str(), token.expose()] {
        let response = http()
            .post(format!("{}/data/symbol-token", sim.fyers_api_url()))
            .header("authorization", auth)
            .json(&json!({"symbols": ["NSE:INFY-EQ"]}))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["s"], "ok");
        assert_eq!(body["validSymbol"]["NSE:INFY-EQ"], "10100000001594");
    }
    // Limits and bad input.
    let too_many: Vec<String> = (0..501).map(|i| format!("NSE:X{i}-EQ")).collect();
    for body in [
        json!({"symbols": too_many}),
        json!({"symbols": []}),
        json!({"nope": 1}),
    ] {
        let response = http()
            .post(format!("{}/data/symbol-token", sim.fyers_api_url()))
            .header("authorization", &bare)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["s"], "error");
    }
}

#[tokio::test]
async fn quotes_have_the_documented_shape_and_exact_prices() {
    let sim = start_default().await;
    let rest = client(&sim);
    let token = AccessToken::parse(&sim.mint_fyers_token()).unwrap();
    let entries = rest
        .quotes(
            &token,
            &symbols(&["NSE:SBIN-EQ", "NSE:NIFTY50-INDEX", "NSE:NOPE-EQ"]),
        )
        .await
        .unwrap();
    assert_eq!(entries.len(), 3);
    let sbin = &entries[0];
    assert_eq!(sbin.n, "NSE:SBIN-EQ");
    let v = &sbin.v;
    let (lp, low, high) = (v.lp.unwrap(), v.low_price.unwrap(), v.high_price.unwrap());
    assert!(low.to_f64() <= lp.to_f64() && lp.to_f64() <= high.to_f64());
    assert!(v.bid.unwrap().to_f64() < v.ask.unwrap().to_f64());
    assert_eq!(v.fy_token.as_deref(), Some("10100000003045"));
    assert!(v.volume.unwrap() > 0 && v.tt.unwrap() > 1_600_000_000);
    // Prices are on SBIN's 0.05 grid exactly.
    let paise = lp.rescale(2).unwrap();
    assert_eq!(paise % 5, 0);
    let nifty = &entries[1].v;
    assert_eq!(nifty.bid, Some(Decimal::ZERO));
    assert_eq!(entries[2].s, feedgate_fyers::rest::ResponseStatus::Error);

    // The raw body: `tt` is a string, prices are JSON numbers.
    let response = http()
        .get(format!(
            "{}/data/quotes?symbols=NSE:SBIN-EQ",
            sim.fyers_api_url()
        ))
        .header("authorization", token.expose())
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!((&body["s"], &body["code"]), (&json!("ok"), &json!(200)));
    let v = &body["d"][0]["v"];
    assert!(v["tt"].is_string() && v["lp"].is_number() && v["volume"].is_u64());
    for key in [
        "ask",
        "bid",
        "ch",
        "chp",
        "description",
        "exchange",
        "fyToken",
        "high_price",
        "low_price",
        "lp",
        "open_price",
        "original_name",
        "prev_close_price",
        "atp",
        "short_name",
        "spread",
        "symbol",
        "tt",
        "volume",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    // More than 50 symbols.
    let many = (0..51)
        .map(|i| format!("NSE:X{i}-EQ"))
        .collect::<Vec<_>>()
        .join(",");
    let response = http()
        .get(format!(
            "{}/data/quotes?symbols={many}",
            sim.fyers_api_url()
        ))
        .header("authorization", token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
}

#[tokio::test(start_paused = true)]
async fn quotes_are_rate_limited_at_ten_per_second() {
    let sim = start_default().await;
    let token = sim.mint_fyers_token();
    let url = format!("{}/data/quotes?symbols=NSE:SBIN-EQ", sim.fyers_api_url());
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let response = http()
            .get(&url)
            .header("authorization", &token)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status().as_u16() == 429 {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["s"], "error");
        }
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429));
    let err = client(&sim)
        .quotes(
            &AccessToken::parse(&token).unwrap(),
            &symbols(&["NSE:SBIN-EQ"]),
        )
        .await
        .unwrap_err();
    assert!(err.is_retryable() && !err.is_auth(), "{err}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let response = http()
        .get(&url)
        .header("authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let state = sim.state().fyers;
    assert_eq!((state.quote_requests, state.quote_rate_limited), (13, 2));
    assert_eq!((state.rest_429s, state.quotes_served), (2, 11));
}

#[tokio::test]
async fn profile_and_authorization_errors() {
    let sim = start_default().await;
    let rest = client(&sim);
    let token = AccessToken::parse(&sim.mint_fyers_token()).unwrap();
    let profile = rest.profile(&token).await.unwrap();
    assert_eq!(profile.fy_id.as_deref(), Some("FG0001"));
    let url = format!("{}/api/v3/profile", sim.fyers_api_url());
    let bare = jwt(token.expose());
    let cases = [
        None,
        Some(bare.clone()),
        Some(format!("OTHERAPP-100:{bare}")),
        Some(format!("{APP_ID}:not-a-token")),
    ];
    for auth in cases {
        let mut request = http().get(&url);
        if let Some(value) = &auth {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{auth:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"s":"error","code":-16,"message":"Could not authenticate the user"})
        );
    }
    let expired = AccessToken::parse(&format!("{APP_ID}:{}", expired_jwt(&sim).await)).unwrap();
    let err = rest.profile(&expired).await.unwrap_err();
    assert!(err.is_auth(), "{err}");
    assert_eq!(api_code(&err), (401, Some(-16)));
    // Unknown paths answer in Fyers' envelope.
    let response = http()
        .get(format!("{}/api/v3/funds", sim.fyers_api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["s"], "error");
}

async fn expired_jwt(sim: &Sim) -> String {
    let body: Value = http()
        .post(format!(
            "{}/_sim/token?broker=fyers&expires_in=-5",
            sim.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwt(body["access_token"].as_str().unwrap())
}

/// The form's `name="…" value="…"` pairs and its action.
fn form_fields(html: &str) -> (String, HashMap<String, String>) {
    let attr = |tag: &str, name: &str| {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = tag[start..].find('"')? + start;
        Some(tag[start..end].replace("&amp;", "&"))
    };
    let form_tag = html
        .split("<form")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    let action = attr(form_tag, "action").unwrap();
    let fields = html
        .split("<input")
        .skip(1)
        .filter_map(|tag| {
            let tag = tag.split('>').next()?;
            Some((attr(tag, "name")?, attr(tag, "value")?))
        })
        .collect();
    (action, fields)
}

/// Opens the login page, submits it, and returns the redirect's query pairs.
async fn log_in_through_the_page(sim: &Sim, state: &str) -> HashMap<String, String> {
    let login =
        url::Url::parse(&format!("{}/api/v3/generate-authcode", sim.fyers_api_url())).unwrap();
    let url = generate_authcode_url(
        &login,
        &AuthcodeParams {
            client_id: APP_ID,
            redirect_uri: REDIRECT,
            state,
            scope: None,
            nonce: None,
        },
    );
    let page = http().get(url).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">") && html.contains("Fyers ID"));
    let (action, fields) = form_fields(&html);
    assert_eq!(fields["fy_id"], "FG0001");
    let response = http()
        .post(format!("{}{action}", sim.fyers_api_url()))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test]
async fn login_page_then_validate_authcode_with_the_app_id_hash() {
    let sim = start_default().await;
    let rest = client(&sim);
    let query = log_in_through_the_page(&sim, "st8-42").await;
    assert_eq!((query["s"].as_str(), query["code"].as_str()), ("ok", "200"));
    assert_eq!(query["state"], "st8-42");
    let code = SecretString::from(query["auth_code"].as_str());

    // A wrong secret is an auth error and does not burn the code.
    let err = rest
        .validate_authcode(&SecretString::from("wrong-secret"), &code)
        .await
        .unwrap_err();
    assert!(err.is_auth(), "{err}");
    assert_eq!(api_code(&err), (401, Some(-371)));

    let pair = rest
        .validate_authcode(&SecretString::from(SECRET), &code)
        .await
        .unwrap();
    let token =
        AccessToken::parse(&format!("{APP_ID}:{}", pair.access_token.expose_secret())).unwrap();
    assert!(pair.refresh_token.is_some());
    assert_eq!(
        rest.profile(&token).await.unwrap().fy_id.as_deref(),
        Some("FG0001")
    );
    let mut ws = connect_fyers(&sim).await;
    assert!(
        login(&mut ws, token.expose()).await.0,
        "the issued token opens the socket"
    );

    // The code is single-use.
    let err = rest
        .validate_authcode(&SecretString::from(SECRET), &code)
        .await
        .unwrap_err();
    assert!(!err.is_auth());
    assert_eq!(api_code(&err), (400, Some(-437)));
    // Missing hash / code: Fyers' documented codes.
    let url = format!("{}/api/v3/validate-authcode", sim.fyers_api_url());
    let hash = app_id_hash(APP_ID, &SecretString::from(SECRET));
    for (body, code) in [
        (json!({"grant_type":"authorization_code","code":"x"}), -371),
        (
            json!({"grant_type":"authorization_code","appIdHash":hash.expose_secret()}),
            -374,
        ),
    ] {
        let response = http().post(&url).json(&body).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code);
    }

    // Refresh: refresh token + hash + PIN → a new access token.
    let refresh_url = format!("{}/api/v3/validate-refresh-token", sim.fyers_api_url());
    let body = json!({
        "grant_type": "refresh_token",
        "appIdHash": hash.expose_secret(),
        "refresh_token": pair.refresh_token.unwrap().expose_secret(),
        "pin": "1234",
    });
    let response: Value = http()
        .post(&refresh_url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fresh = AccessToken::parse(response["access_token"].as_str().unwrap()).unwrap();
    assert_ne!(
        fresh.hsm_key().expose_secret(),
        token.hsm_key().expose_secret()
    );
    let mut bad = body.clone();
    bad["refresh_token"] = json!("nope");
    let response = http().post(&refresh_url).json(&bad).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn the_login_page_refuses_other_apps_and_redirects() {
    let sim = start_default().await;
    let base = format!("{}/api/v3/generate-authcode", sim.fyers_api_url());
    let cases = [
        format!("client_id=OTHER-100&redirect_uri={REDIRECT}&response_type=code&state=s"),
        format!(
            "client_id={APP_ID}&redirect_uri=http://evil.example/cb&response_type=code&state=s"
        ),
        format!("client_id={APP_ID}&redirect_uri={REDIRECT}&response_type=token&state=s"),
        format!("redirect_uri={REDIRECT}&response_type=code"),
    ];
    for query in cases {
        let response = http().get(format!("{base}?{query}")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{query}");
        assert!(response.text().await.unwrap().contains("role=\"alert\""));
    }
    let response = http()
        .post(&base)
        .form(&[
            ("client_id", APP_ID),
            ("redirect_uri", REDIRECT),
            ("fy_id", "SOMEONE"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
}

#[tokio::test]
async fn symbol_masters_list_the_universe_in_the_fyers_layout() {
    let sim = start_default().await;
    let rest = client(&sim);
    let token = AccessToken::parse(&sim.mint_fyers_token()).unwrap();
    let mut total = 0;
    for (file, rows_expected) in [
        ("NSE_CM.csv", 52),
        ("NSE_FO.csv", 6),
        ("NSE_CD.csv", 1),
        ("BSE_CM.csv", 1),
        ("BSE_CD.csv", 1),
        ("MCX_COM.csv", 0),
    ] {
        let response = http()
            .get(format!("{}/sym_details/{file}", sim.fyers_api_url()))
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
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), rows_expected, "{file}");
        total += rows.len();
        if rows.is_empty() {
            continue;
        }
        // Every row's ticker resolves, through symbol-token, to the row's fyToken.
        let tickers = symbols(&rows.iter().map(|r| r[9]).collect::<Vec<_>>());
        let resolved = rest.symbol_token(&token, &tickers).await.unwrap();
        assert!(resolved.invalid_symbol.is_empty());
        for row in &rows {
            assert_eq!(row.len(), 21);
            assert_eq!(resolved.valid_symbol[row[9]], row[0], "{file} {}", row[9]);
        }
    }
    assert_eq!(total, sim.instruments().len());
    let response = http()
        .get(format!("{}/sym_details/NOPE.csv", sim.fyers_api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let mapping: Value = http()
        .get(format!(
            "{}/sym_details/index_hsm_mapping.json",
            sim.fyers_api_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        mapping,
        json!({"NSE:NIFTY50-INDEX":"Nifty 50","NSE:NIFTYBANK-INDEX":"Nifty Bank","BSE:SENSEX-INDEX":"SENSEX"})
    );
    let names = IndexNames::from_json(mapping.to_string().as_bytes()).unwrap();
    assert_eq!(names.live_len(), 3);
}

#[tokio::test]
async fn depth_topics_resolve_for_tradables_only() {
    let sim = start_default().await;
    let rest = client(&sim);
    let token = AccessToken::parse(&sim.mint_fyers_token()).unwrap();
    let list = symbols(&["NSE:NIFTY25NOVFUT", "NSE:SBIN-EQ", "NSE:NIFTY50-INDEX"]);
    // Derivative symbols follow the simulator's start date; ask the master for the real one.
    let fo = http()
        .get(format!("{}/sym_details/NSE_FO.csv", sim.fyers_api_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let future = fo
        .lines()
        .find(|l| l.contains("FUT"))
        .unwrap()
        .split(',')
        .nth(9)
        .unwrap()
        .to_owned();
    let mut list = list;
    list[0] = FyersSymbol::new(future).unwrap();
    let response = rest.symbol_token(&token, &list).await.unwrap();
    let resolved = ResolvedSymbols::from_response(&response, FeedKind::Depth, &IndexNames::new());
    assert_eq!(resolved.resolved.len(), 2);
    assert_eq!(resolved.rejected.len(), 1, "no depth for an index");
    let mut ws = logged_in(&sim).await;
    let names: Vec<String> = resolved
        .resolved
        .iter()
        .map(|r| r.topic.to_string())
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert!(subscribe(&mut ws, &names).await);
    let mut store = SnapshotStore::new();
    let data = next_data(&mut ws).await;
    assert_eq!(data.records.len(), 2);
    for record in &data.records {
        assert!(matches!(record, Record::Snapshot(s) if s.values.len() == 30));
        store.apply(record).unwrap();
    }
}
