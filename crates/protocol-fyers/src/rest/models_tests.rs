//! Unit tests for `models`: the spec's sample bodies, tolerance, round trips and redaction.

use super::*;

const QUOTES_SAMPLE: &str = r#"{"s":"ok","code":200,"message":"",
 "d":[{"n":"NSE:SBIN-EQ","s":"ok",
       "v":{"ask":0,"bid":590.5,"ch":-7.95,"chp":-1.33,"description":"NSE:SBIN-EQ","exchange":"NSE",
            "fyToken":"10100000003045","high_price":600.85,"low_price":585,"lp":590.5,"open_price":598.7,
            "original_name":"NSE:SBIN-EQ","prev_close_price":598.45,"atp":428.07,"short_name":"SBIN-EQ",
            "spread":-590.5,"symbol":"NSE:SBIN-EQ","tt":"1691020800","volume":27774877}},
      {"n":"NSE:NOPE-EQ","s":"error","v":"invalid symbol"},
      {"n":"NSE:NULL-EQ","s":"error","v":null}]}"#;

fn dec(text: &str) -> Option<Decimal> {
    Some(text.parse().unwrap())
}

#[test]
fn quotes_sample_parses_exactly() {
    let quotes: QuotesResponse = serde_json::from_str(QUOTES_SAMPLE).unwrap();
    assert_eq!(quotes.envelope, Envelope::ok());
    let sbin = &quotes.d[0];
    assert_eq!(
        (sbin.n.as_str(), sbin.s),
        ("NSE:SBIN-EQ", ResponseStatus::Ok)
    );
    let v = &sbin.v;
    assert_eq!(v.lp, dec("590.5"));
    assert_eq!(v.ch, dec("-7.95"));
    assert_eq!(v.high_price, dec("600.85"));
    assert_eq!(v.low_price, dec("585"));
    assert_eq!(v.prev_close_price, dec("598.45"));
    assert_eq!(v.ask, dec("0"));
    assert_eq!(v.tt, Some(1_691_020_800));
    assert_eq!(v.volume, Some(27_774_877));
    assert_eq!(v.fy_token.as_deref(), Some("10100000003045"));
    assert_eq!(v.short_name.as_deref(), Some("SBIN-EQ"));
    let nope = &quotes.d[1];
    assert_eq!(nope.s, ResponseStatus::Error);
    assert_eq!(nope.v.errmsg.as_deref(), Some("invalid symbol"));
    assert_eq!(quotes.d[2].v, QuoteValues::default());
}

#[test]
fn quotes_serialise_for_the_simulator_and_read_back() {
    let quotes: QuotesResponse = serde_json::from_str(QUOTES_SAMPLE).unwrap();
    let text = serde_json::to_string(&quotes).unwrap();
    assert!(text.contains(r#""lp":590.5"#), "{text}");
    assert!(text.contains(r#""fyToken":"10100000003045""#), "{text}");
    let back: QuotesResponse = serde_json::from_str(&text).unwrap();
    assert_eq!(back, quotes);
}

#[test]
fn profile_parses_and_debug_hides_personal_data() {
    let body = r#"{"s":"ok","code":200,"message":"","data":{"name":"TEST USER","display_name":"Test",
        "fy_id":"XY12345","image":null,"email_id":"someone@example.com","PAN":"ABCDE1234F",
        "pin_change_date":"01-01-2026","pwd_change_date":null,"mobile_number":"9999999999","totp":true,
        "pwd_to_expire":88,"ddpi_enabled":"N","mtf_enabled":false}}"#;
    let profile: ProfileResponse = serde_json::from_str(body).unwrap();
    let data = profile.data.unwrap();
    assert_eq!(data.fy_id.as_deref(), Some("XY12345"));
    assert_eq!(data.pan.as_deref(), Some("ABCDE1234F"));
    assert_eq!(
        (data.totp, data.ddpi_enabled, data.pwd_to_expire),
        (Some(true), Some(false), Some(88))
    );
    assert_eq!(data.image, None);
    let shown = format!("{data:?}");
    assert!(shown.contains("XY12345"), "{shown}");
    for private in ["someone@example.com", "ABCDE1234F", "9999999999"] {
        assert!(!shown.contains(private), "{shown}");
    }
}

#[test]
fn envelopes_and_statuses() {
    let cases = [
        (
            r#"{"s":"error","code":-16,"message":"Could not authenticate the user"}"#,
            ResponseStatus::Error,
            Some(-16),
        ),
        (r#"{"s":"ok","code":"200"}"#, ResponseStatus::Ok, Some(200)),
        (r#"{"s":"weird"}"#, ResponseStatus::Other, None),
        (r#"{}"#, ResponseStatus::Other, None),
    ];
    for (body, s, code) in cases {
        let envelope: Envelope = serde_json::from_str(body).unwrap();
        assert_eq!((envelope.s, envelope.code), (s, code), "{body}");
    }
    let error =
        serde_json::to_string(&Envelope::error(-16, "Could not authenticate the user")).unwrap();
    assert_eq!(
        error,
        r#"{"s":"error","code":-16,"message":"Could not authenticate the user"}"#
    );
}

#[test]
fn symbol_token_response_shapes() {
    let body = r#"{"s":"ok","code":200,"validSymbol":{"NSE:SBIN-EQ":"10100000003045"},"invalidSymbol":null}"#;
    let response: SymbolTokenResponse = serde_json::from_str(body).unwrap();
    assert_eq!(
        response.valid_symbol.get("NSE:SBIN-EQ").map(String::as_str),
        Some("10100000003045")
    );
    assert!(response.invalid_symbol.is_empty());
    let error: SymbolTokenResponse =
        serde_json::from_str(r#"{"s":"error","message":"bad"}"#).unwrap();
    assert_eq!(error.envelope.s, ResponseStatus::Error);
    let request = serde_json::to_string(&SymbolTokenRequest {
        symbols: vec!["NSE:SBIN-EQ".into(), "NSE:NIFTY50-INDEX".into()],
    })
    .unwrap();
    assert_eq!(
        request,
        r#"{"symbols":["NSE:SBIN-EQ","NSE:NIFTY50-INDEX"]}"#
    );
}

#[test]
fn validate_authcode_bodies() {
    let request = ValidateAuthcodeRequest {
        grant_type: GRANT_AUTHORIZATION_CODE.into(),
        app_id_hash: SecretString::from("b6dd47"),
        code: SecretString::from("the-auth-code"),
    };
    let json = serde_json::to_string(&request).unwrap();
    assert_eq!(
        json,
        r#"{"grant_type":"authorization_code","appIdHash":"b6dd47","code":"the-auth-code"}"#
    );
    let shown = format!("{request:?}");
    assert!(
        !shown.contains("the-auth-code") && shown.contains("[REDACTED]"),
        "{shown}"
    );
    let response: ValidateAuthcodeResponse = serde_json::from_str(
        r#"{"s":"ok","code":200,"message":"","access_token":"eyJ.access.x","refresh_token":"eyJ.refresh.y"}"#,
    )
    .unwrap();
    assert_eq!(
        response.access_token.as_ref().map(|t| t.expose_secret()),
        Some("eyJ.access.x")
    );
    let shown = format!("{response:?}");
    assert!(!shown.contains("eyJ"), "{shown}");
    let written = serde_json::to_value(&response).unwrap();
    assert_eq!(written["access_token"], "eyJ.access.x");
    assert_eq!(written["refresh_token"], "eyJ.refresh.y");
    let callback: AuthCallbackQuery =
        serde_urlencoded_like("s=ok&code=200&auth_code=abc.def&state=xyz");
    assert_eq!(
        callback
            .auth_code
            .map(|c| c.expose_secret().to_owned())
            .as_deref(),
        Some("abc.def")
    );
    assert_eq!(callback.state.as_deref(), Some("xyz"));
}

/// Reads a query string through `url`'s form parser into the model, as a web framework would.
fn serde_urlencoded_like(query: &str) -> AuthCallbackQuery {
    let pairs: serde_json::Map<String, serde_json::Value> =
        url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
            .collect();
    serde_json::from_value(serde_json::Value::Object(pairs)).unwrap()
}

#[test]
fn history_rows_decode_and_no_data_is_empty() {
    let body = r#"{"s":"ok","code":200,"message":"","candles":[[1795405500,598.7,600.85,585,590.5,1234]]}"#;
    let r: HistoryResponse = serde_json::from_str(body).unwrap();
    let c = r.candles[0];
    assert_eq!(c.0, 1_795_405_500);
    assert_eq!(c.2.to_f64(), 600.85);
    assert_eq!(c.5.to_f64(), 1234.0);
    let r: HistoryResponse = serde_json::from_str(r#"{"s":"no_data","candles":[]}"#).unwrap();
    assert!(r.candles.is_empty());
}
