//! The Fyers wire against a stub REST server (symbol master, symbol-token, index names) and
//! hand-built server frames (the codec encodes server frames too).

use super::*;
use crate::brokers::BrokerApi;
use crate::brokers::fyers::rest::{FyersBroker, FyersSettings};
use axum::Json;
use axum::routing::{get, post};
use feedgate_fyers::hsm::{
    AuthReply, CustomMessage, DataFrame, NO_VALUE, Record, ReplyStatus, Snapshot, StatusReply,
    Update,
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::sync::Mutex;

/// `APPID:JWT` with `{"exp":4102444800,"hsm_key":"a1b2c3"}` (unsigned, as tests may).
const TOKEN: &str =
    "TESTAPP-100:eyJhbGciOiJub25lIn0.eyJleHAiOjQxMDI0NDQ4MDAsImhzbV9rZXkiOiJhMWIyYzMifQ.";

const MASTER: &str = "\
10100000003045,STATE BANK OF INDIA,0,1,0.05,,,,,NSE:SBIN-EQ,10,10,3045,SBIN,3045,-1.0,XX,,None,0,None
10100000001594,INFOSYS,0,1,0.05,,,,,NSE:INFY-EQ,10,10,1594,INFY,1594,-1.0,XX,,None,0,None
10100000099999,DELISTED,0,1,0.05,,,,,NSE:GONE-EQ,10,10,99999,GONE,99999,-1.0,XX,,None,0,None
101000000026000,Nifty 50,10,1,0.05,,,,,NSE:NIFTY50-INDEX,10,10,26000,NIFTY50,26000,-1.0,XX,,None,0,None
";
const SBIN: Token = (3045 << 8) | 1;
const INFY: Token = (1594 << 8) | 1;
const GONE: Token = (99_999 << 8) | 1;
const NIFTY: Token = (26_000 << 8) | 9;

/// Symbol-token requests seen by the stub, one list of symbols per call.
type Calls = Arc<Mutex<Vec<Vec<String>>>>;

/// What the stub saw and how it misbehaves.
#[derive(Clone, Default)]
struct Stub {
    calls: Calls,
    /// When each API call (symbol-token, profile) arrived.
    api_calls: Arc<Mutex<Vec<Instant>>>,
    /// Symbol-token calls still to fail with a 503.
    symbol_token_failures: Arc<std::sync::atomic::AtomicUsize>,
}

async fn stub() -> (String, Calls) {
    let stub = Stub::default();
    (serve(stub.clone()).await, stub.calls)
}

async fn serve(stub: Stub) -> String {
    let Stub {
        calls: seen,
        api_calls,
        symbol_token_failures,
    } = stub;
    let profile_calls = api_calls.clone();
    let app = axum::Router::new()
        .route("/sym_details/NSE_CM.csv", get(|| async { MASTER }))
        .route(
            "/sym_details/index_hsm_mapping.json",
            get(|| async { Json(json!({"NSE:NIFTY50-INDEX": "Nifty 50"})) }),
        )
        .route(
            "/api/v3/profile",
            get(move || {
                profile_calls.lock().unwrap().push(Instant::now());
                async {
                    Json(json!({"s": "ok", "code": 200, "data": {"fy_id": "XA0001", "name": "A"}}))
                }
            }),
        )
        .route(
            "/data/symbol-token",
            post(move |Json(body): Json<Value>| {
                api_calls.lock().unwrap().push(Instant::now());
                let fail = symbol_token_failures
                    .fetch_update(
                        std::sync::atomic::Ordering::SeqCst,
                        std::sync::atomic::Ordering::SeqCst,
                        |n| n.checked_sub(1),
                    )
                    .is_ok();
                let symbols: Vec<String> = body["symbols"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                seen.lock().unwrap().push(symbols.clone());
                let known = [
                    ("NSE:SBIN-EQ", "10100000003045"),
                    ("NSE:INFY-EQ", "10100000001594"),
                    ("NSE:NIFTY50-INDEX", "101000000026000"),
                ];
                let mut valid = serde_json::Map::new();
                let mut invalid = Vec::new();
                for s in symbols {
                    match known.iter().find(|(k, _)| *k == s) {
                        Some((_, fy)) => {
                            valid.insert(s, json!(fy));
                        }
                        None => invalid.push(s),
                    }
                }
                async move {
                    if fail {
                        return (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            Json(json!({"s": "error", "code": 503, "message": "try later"})),
                        );
                    }
                    (
                        axum::http::StatusCode::OK,
                        Json(json!({"s": "ok", "validSymbol": valid, "invalidSymbol": invalid})),
                    )
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn broker(base: &str) -> FyersBroker {
    FyersBroker::new(FyersSettings {
        app_id: "TESTAPP-100",
        secret: SecretString::from("s"),
        api_url: &format!("{base}/api/v3"),
        data_api_url: &format!("{base}/data"),
        symbols_url: &format!("{base}/sym_details"),
        login_url: &format!("{base}/api/v3/generate-authcode"),
        redirect_url: "http://127.0.0.1:8080/api/auth/callback".into(),
        data_dir: None,
    })
    .unwrap()
}

async fn wire() -> (FyersWire, Calls) {
    let (base, calls) = stub().await;
    (broker(&base).wire("ws://127.0.0.1:1/hsm/v1-5/prod"), calls)
}

fn demand(items: &[(Token, Mode)]) -> Demand {
    items.iter().copied().collect()
}

fn token() -> SecretString {
    SecretString::from(TOKEN)
}

fn client_frames(msgs: &[Message]) -> Vec<ClientFrame> {
    msgs.iter()
        .map(|m| match m {
            Message::Binary(b) => ClientFrame::decode(b).unwrap(),
            other => panic!("not binary: {other:?}"),
        })
        .collect()
}

/// (subscribe?, topics) per frame.
fn topic_frames(msgs: &[Message]) -> Vec<(bool, Vec<String>)> {
    client_frames(msgs)
        .into_iter()
        .map(|f| match f {
            ClientFrame::Subscribe(r) => (true, names(&r.topics)),
            ClientFrame::Unsubscribe(r) => (false, names(&r.topics)),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

fn names(topics: &[TopicName]) -> Vec<String> {
    topics.iter().map(|t| t.as_str().to_string()).collect()
}

fn server(frame: ServerFrame) -> Message {
    Message::Binary(frame.to_bytes().unwrap())
}

fn auth_ok(ack_count: u32) -> Message {
    server(ServerFrame::AuthReply(AuthReply {
        status: ReplyStatus::OK,
        ack_count,
        extra_fields: Vec::new(),
    }))
}

fn snapshot(id: u16, topic: &str, values: Vec<i32>) -> Record {
    Record::Snapshot(Snapshot {
        topic_id: id,
        topic: TopicName::new(topic).unwrap(),
        values,
        reserved: 0,
        multiplier: 1,
        precision: 2,
        exchange: "nse_cm".into(),
        exchange_token: String::new(),
        symbol: String::new(),
    })
}

fn data(message_number: u32, records: Vec<Record>) -> Message {
    server(ServerFrame::Data(DataFrame {
        message_number,
        records,
    }))
}

/// The spec's §9.2 SBIN snapshot values.
fn sbin_values() -> Vec<i32> {
    vec![
        81_255,
        12_345_678,
        1_700_000_000,
        1_700_000_001,
        150,
        200,
        81_250,
        81_260,
        10,
        500_000,
        600_000,
        81_000,
        NO_VALUE,
        80_500,
        81_500,
        91_200,
        55_500,
        73_100,
        89_300,
        81_000,
        80_900,
    ]
}

#[tokio::test]
async fn topics_follow_the_modes_and_changes_send_only_the_difference() {
    let (mut w, calls) = wire().await;
    let d1 = demand(&[(SBIN, Mode::Quote), (INFY, Mode::Full), (NIFTY, Mode::Full)]);
    w.prepare(&token(), &d1, true).await.unwrap();
    assert_eq!(calls.lock().unwrap().len(), 1, "one symbol-token call");
    let mut out = Vec::new();
    w.diff(&Demand::new(), &d1, &mut out);
    assert_eq!(
        topic_frames(&out),
        [(
            true,
            vec![
                "dp|nse_cm|1594".to_string(),
                "if|nse_cm|Nifty 50".into(),
                "sf|nse_cm|1594".into(),
                "sf|nse_cm|3045".into(),
            ]
        )]
    );

    // SBIN goes full, INFY leaves, NIFTY drops to ltp: only the difference, no new lookup.
    let d2 = demand(&[(SBIN, Mode::Full), (NIFTY, Mode::Ltp)]);
    w.prepare(&token(), &d2, false).await.unwrap();
    assert_eq!(
        calls.lock().unwrap().len(),
        1,
        "resolved instruments are cached"
    );
    out.clear();
    w.diff(&d1, &d2, &mut out);
    assert_eq!(
        topic_frames(&out),
        [
            (
                false,
                vec!["dp|nse_cm|1594".to_string(), "sf|nse_cm|1594".into()]
            ),
            (true, vec!["dp|nse_cm|3045".to_string()]),
        ]
    );
    out.clear();
    w.diff(&d2, &d2, &mut out);
    assert!(out.is_empty());

    // A fresh connection resolves everything again.
    w.prepare(&token(), &d2, true).await.unwrap();
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    let mut last = calls[1].clone();
    last.sort();
    assert_eq!(last, ["NSE:NIFTY50-INDEX", "NSE:SBIN-EQ"]);
}

#[tokio::test]
async fn instruments_fyers_does_not_know_are_left_out_until_the_next_connection() {
    let (mut w, calls) = wire().await;
    let d = demand(&[(SBIN, Mode::Quote), (GONE, Mode::Quote), (42, Mode::Quote)]);
    w.prepare(&token(), &d, true).await.unwrap();
    let mut out = Vec::new();
    w.diff(&Demand::new(), &d, &mut out);
    assert_eq!(
        topic_frames(&out),
        [(true, vec!["sf|nse_cm|3045".to_string()])]
    );
    w.prepare(&token(), &d, false).await.unwrap();
    assert_eq!(
        calls.lock().unwrap().len(),
        1,
        "known failures are not retried at once"
    );
    w.prepare(&token(), &d, true).await.unwrap();
    assert_eq!(calls.lock().unwrap().len(), 2, "but on the next connection");
}

#[tokio::test]
async fn a_bad_token_is_an_auth_error_and_never_reaches_the_socket() {
    let (mut w, calls) = wire().await;
    let err = w
        .prepare(
            &SecretString::from("not-a-jwt"),
            &demand(&[(SBIN, Mode::Ltp)]),
            true,
        )
        .await
        .unwrap_err();
    assert!(err.is_auth(), "{err}");
    assert!(!err.to_string().contains("not-a-jwt"));
    assert!(calls.lock().unwrap().is_empty());
    assert_eq!(
        w.url(TOKEN),
        "ws://127.0.0.1:1/hsm/v1-5/prod",
        "no credential in the URL"
    );
    let mut out = Vec::new();
    w.on_open("not-a-jwt", &mut out);
    assert!(out.is_empty(), "no login without a usable token");
}

#[tokio::test]
async fn login_then_mode_and_the_answers_to_it() {
    let (mut w, _) = wire().await;
    w.prepare(&token(), &Demand::new(), true).await.unwrap();
    let mut out = Vec::new();
    w.on_open(TOKEN, &mut out);
    let frames = client_frames(&out);
    match &frames[..] {
        [ClientFrame::Auth(a), ClientFrame::Mode(m)] => {
            assert_eq!(a.hsm_key.expose_secret(), "a1b2c3");
            assert_eq!(a.source, SOURCE_PYTHON_SDK);
            assert_eq!(m.mode, FeedMode::Full);
            assert_eq!(m.channels, ChannelMask::single(Channel::DEFAULT));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.handshake_timeout(), Some(LOGIN_TIMEOUT));
    let mut ticks = Vec::new();
    assert_eq!(w.decode(&auth_ok(0), 1, &mut ticks), Inbound::Accepted);
    let refused = server(ServerFrame::AuthReply(AuthReply {
        status: ReplyStatus::FAILED,
        ack_count: 0,
        extra_fields: Vec::new(),
    }));
    assert!(matches!(
        w.decode(&refused, 1, &mut ticks),
        Inbound::Refused { .. }
    ));
    let custom = |ref_type| {
        server(ServerFrame::Custom(CustomMessage {
            code: Some(11001),
            message: "Authentication failed".into(),
            ref_type: Some(ref_type),
        }))
    };
    assert_eq!(
        w.decode(&custom(1), 1, &mut ticks),
        Inbound::Refused {
            detail: "Authentication failed (code 11001)".into()
        }
    );
    assert!(matches!(
        w.decode(&custom(4), 1, &mut ticks),
        Inbound::Notice { error: true, .. }
    ));
    let sub_failed = server(ServerFrame::Status(StatusReply {
        kind: StatusKind::Subscribe,
        status: ReplyStatus::FAILED,
    }));
    assert!(matches!(
        w.decode(&sub_failed, 1, &mut ticks),
        Inbound::Notice { error: true, .. }
    ));
    let sub_ok = server(ServerFrame::Status(StatusReply {
        kind: StatusKind::Subscribe,
        status: ReplyStatus::OK,
    }));
    assert_eq!(w.decode(&sub_ok, 1, &mut ticks), Inbound::Ignored);
    assert!(matches!(
        w.decode(&Message::Binary(vec![0, 9].into()), 1, &mut ticks),
        Inbound::Malformed { .. }
    ));
    assert_eq!(
        w.decode(&Message::Pong(Bytes::new()), 1, &mut ticks),
        Inbound::Heartbeat
    );
    assert!(ticks.is_empty());
}

#[tokio::test]
async fn snapshots_and_updates_become_ticks_and_acks_follow_the_server() {
    let (mut w, _) = wire().await;
    let d = demand(&[(SBIN, Mode::Full), (NIFTY, Mode::Quote), (INFY, Mode::Ltp)]);
    w.prepare(&token(), &d, true).await.unwrap();
    let mut out = Vec::new();
    w.on_open(TOKEN, &mut out);
    let mut ticks = Vec::new();
    assert_eq!(w.decode(&auth_ok(2), 1, &mut ticks), Inbound::Accepted);

    // Frame 1: SBIN and NIFTY snapshots, and a record for a topic id nobody announced.
    let nifty = vec![
        1_965_050,
        1_950_000,
        1_700_000_002,
        1_970_000,
        1_940_000,
        1_950_500,
    ];
    let frame1 = data(
        1,
        vec![
            snapshot(1, "sf|nse_cm|3045", sbin_values()),
            snapshot(2, "if|nse_cm|Nifty 50", nifty),
            Record::Update(Update {
                topic_id: 77,
                values: vec![1],
            }),
        ],
    );
    assert_eq!(
        w.decode(&frame1, 10, &mut ticks),
        Inbound::Data { skipped: 1 }
    );
    assert_eq!(ticks.len(), 2);
    let sbin = ticks.iter().find(|t| t.token == SBIN).unwrap();
    assert_eq!(
        (sbin.ltp, sbin.divisor, sbin.received_ms),
        (81_255, 100, 10)
    );
    assert_eq!(sbin.mode(), Mode::Full);
    let nifty = ticks.iter().find(|t| t.token == NIFTY).unwrap();
    assert_eq!((nifty.ltp, nifty.mode()), (1_965_050, Mode::Quote));
    out.clear();
    w.drain_outbound(&mut out);
    assert!(out.is_empty(), "ack every second frame");

    // Frame 2: only SBIN's ltp changes (INT32_MIN elsewhere = unchanged); then an update that
    // changes nothing emits nothing.
    ticks.clear();
    let mut values = vec![NO_VALUE; 21];
    values[0] = 81_300;
    let frame2 = data(
        2,
        vec![
            Record::Update(Update {
                topic_id: 1,
                values,
            }),
            Record::Update(Update {
                topic_id: 2,
                values: vec![1_965_050],
            }),
        ],
    );
    assert_eq!(
        w.decode(&frame2, 11, &mut ticks),
        Inbound::Data { skipped: 0 }
    );
    assert_eq!(ticks.len(), 1);
    assert_eq!(ticks[0].ltp, 81_300);
    assert_eq!(
        ticks[0].volume(),
        Some(12_345_678),
        "merged into the snapshot"
    );
    w.drain_outbound(&mut out);
    assert_eq!(
        client_frames(&out),
        [ClientFrame::Ack { message_number: 2 }]
    );

    // A new connection starts from nothing: updates without a snapshot are skipped.
    out.clear();
    w.on_open(TOKEN, &mut out);
    ticks.clear();
    let frame = data(
        1,
        vec![Record::Update(Update {
            topic_id: 1,
            values: vec![81_400],
        })],
    );
    assert_eq!(
        w.decode(&frame, 12, &mut ticks),
        Inbound::Data { skipped: 1 }
    );
    assert!(ticks.is_empty());
}

#[tokio::test(start_paused = true)]
async fn pings_every_ten_seconds_and_probes_a_quiet_socket() {
    let (mut w, _) = wire().await;
    let mut out = Vec::new();
    w.on_open(TOKEN, &mut out);
    out.clear();
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut pings = Vec::new();
    let mut probes = Vec::new();
    let mut t = Duration::ZERO;
    while t <= Duration::from_secs(21) {
        // Frames arrive until 5 s, then silence.
        let silent = t.saturating_sub(Duration::from_secs(5));
        w.keepalive(t0 + t, silent, &mut out);
        for m in out.drain(..) {
            match m {
                Message::Binary(_) => pings.push(t),
                Message::Ping(_) => probes.push(t),
                other => panic!("{other:?}"),
            }
        }
        t += ms(250);
    }
    assert_eq!(pings, [ms(0), ms(10_000), ms(20_000)]);
    assert_eq!(probes.first(), Some(&ms(6_000)), "after 1 s of silence");
    assert!(
        probes.windows(2).all(|p| p[1] - p[0] == ms(1_000)),
        "{probes:?}"
    );
}

#[tokio::test]
async fn a_failed_lookup_leaves_out_only_the_new_instruments_until_a_retry() {
    let stub = Stub::default();
    let base = serve(stub.clone()).await;
    let mut w = broker(&base).wire("ws://127.0.0.1:1/hsm/v1-5/prod");
    let d1 = demand(&[(SBIN, Mode::Quote)]);
    w.prepare(&token(), &d1, true).await.unwrap();
    assert!(w.covers(SBIN));

    // INFY is added while symbol-token fails: SBIN stays covered, INFY waits.
    stub.symbol_token_failures
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let d2 = demand(&[(SBIN, Mode::Quote), (INFY, Mode::Quote)]);
    let err = w.prepare(&token(), &d2, false).await.unwrap_err();
    assert!(!err.is_auth(), "{err}");
    assert!(w.covers(SBIN) && !w.covers(INFY));
    // The retry looks INFY up (again) and subscribes only it.
    w.prepare(&token(), &d2, false).await.unwrap();
    assert!(w.covers(INFY));
    let mut out = Vec::new();
    w.diff(&d1, &d2, &mut out);
    assert_eq!(
        topic_frames(&out),
        [(true, vec!["sf|nse_cm|1594".to_string()])]
    );
    let calls = stub.calls.lock().unwrap().clone();
    assert_eq!(calls[1..], [vec!["NSE:INFY-EQ"], vec!["NSE:INFY-EQ"]]);
}

#[tokio::test]
async fn the_socket_and_the_rest_adapter_share_one_request_budget() {
    let stub = Stub::default();
    let base = serve(stub.clone()).await;
    let broker = broker(&base);
    let mut w = broker.wire("ws://127.0.0.1:1/hsm/v1-5/prod");
    let d = demand(&[(SBIN, Mode::Quote)]);
    // Ten profile checks and a symbol lookup at once: eleven calls, ten per second allowed.
    let profiles = futures_util::future::join_all((0..10).map(|_| broker.profile(token())));
    let t = token();
    let (answers, prepared) = tokio::join!(profiles, w.prepare(&t, &d, true));
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    prepared.unwrap();
    let mut at = stub.api_calls.lock().unwrap().clone();
    assert_eq!(at.len(), 11);
    at.sort();
    assert!(
        at[10].duration_since(at[0]) >= Duration::from_secs(1),
        "the eleventh call waited for the next second: {:?}",
        at[10].duration_since(at[0])
    );
}
