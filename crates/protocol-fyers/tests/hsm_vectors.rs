//! Every byte vector of `protocols/fyers.md` §9, decoded and re-encoded byte for byte, plus the
//! merge results the official client produced for them (§9.2).

// Helpers outside #[test] fns unwrap too: a panic here is a failed assertion (clippy.toml).
#![allow(clippy::unwrap_used)]

use feedgate_fyers::hsm::{
    self, Applied, AuthReply, Channel, ChannelMask, ClientFrame, CustomMessage, DataFrame,
    FeedMode, IndexField, Lite, NO_VALUE, Record, ReplyStatus, ScripField, ServerFrame, Snapshot,
    SnapshotStore, StatusKind, StatusReply, TopicName, TopicRequest, Update,
};
use feedgate_fyers::hsm::{DepthColumn, DepthField, Side};
use feedgate_fyers::{Decimal, Scale};

/// Parses spaced hex, ignoring `|` separators.
fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .filter(|t| *t != "|")
        .map(|t| u8::from_str_radix(t, 16).unwrap())
        .collect()
}

fn topic(name: &str) -> TopicName {
    TopicName::new(name).unwrap()
}

const HSM_KEY: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718";

const AUTH: &str = "00 4f 01 04 01 00 30 61 31 62 32 63 33 64 34 65 35 66 36 30 37 31 38 32 39 33 61 34 62 35 63 36
    64 37 65 38 66 39 30 61 31 62 32 63 33 64 34 65 35 66 36 30 37 31 38 02 00 01 50 03 00 01 01 04
    00 0f 50 79 74 68 6f 6e 53 44 4b 2d 33 2e 32 2e 30";
const MODE_FULL: &str = "00 00 0c 02 01 00 08 00 00 00 00 00 00 08 00 02 00 01 46";
const MODE_LITE: &str = "00 00 0c 02 01 00 08 00 00 00 00 00 00 08 00 02 00 01 4c";
const SUBSCRIBE: &str = "01 bf 04 02 01 00 24 00 02 0e 73 66 7c 6e 73 65 5f 63 6d 7c 33 30 34 35 12 69 66 7c 6e 73 65 5f
    63 6d 7c 4e 69 66 74 79 20 35 30 02 00 01 0b";
const UNSUBSCRIBE: &str =
    "01 ac 05 02 01 00 11 00 01 0e 73 66 7c 6e 73 65 5f 63 6d 7c 33 30 34 35 02 00 01 0b";
const PAUSE: &str = "00 00 07 01 01 00 08 00 00 00 00 00 00 08 00";
const RESUME: &str = "00 00 08 01 01 00 08 00 00 00 00 00 00 08 00";
const ACK: &str = "00 09 03 01 01 00 04 00 00 00 07";
const PING: &str = "00 01 0b";

/// (name, bytes, frame, whether the official client wrote a correct length prefix)
fn client_vectors() -> Vec<(&'static str, Vec<u8>, ClientFrame, bool)> {
    let ch11 = ChannelMask::single(Channel::DEFAULT);
    vec![
        (
            "auth",
            hex(AUTH),
            ClientFrame::Auth(hsm::AuthRequest::new(
                HSM_KEY.into(),
                hsm::client::SOURCE_PYTHON_SDK,
            )),
            true,
        ),
        (
            "mode full",
            hex(MODE_FULL),
            ClientFrame::Mode(hsm::ModeRequest {
                channels: ch11,
                mode: FeedMode::Full,
            }),
            false,
        ),
        (
            "mode lite",
            hex(MODE_LITE),
            ClientFrame::Mode(hsm::ModeRequest {
                channels: ch11,
                mode: FeedMode::Lite,
            }),
            false,
        ),
        (
            "subscribe",
            hex(SUBSCRIBE),
            ClientFrame::Subscribe(TopicRequest {
                topics: vec![topic("sf|nse_cm|3045"), topic("if|nse_cm|Nifty 50")],
                channel: Channel::DEFAULT,
            }),
            false,
        ),
        (
            "unsubscribe",
            hex(UNSUBSCRIBE),
            ClientFrame::Unsubscribe(TopicRequest {
                topics: vec![topic("sf|nse_cm|3045")],
                channel: Channel::DEFAULT,
            }),
            false,
        ),
        ("pause", hex(PAUSE), ClientFrame::Pause(ch11), false),
        ("resume", hex(RESUME), ClientFrame::Resume(ch11), false),
        (
            "ack",
            hex(ACK),
            ClientFrame::Ack { message_number: 7 },
            true,
        ),
        ("ping", hex(PING), ClientFrame::Ping, true),
    ]
}

#[test]
fn client_vectors_decode_and_reencode() {
    for (name, bytes, frame, prefix_correct) in client_vectors() {
        let decoded = hsm::decode_client(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decoded, frame, "{name}");
        let encoded = frame.to_bytes().unwrap();
        // Everything after the prefix is byte-identical to the official client's frame.
        assert_eq!(encoded[2..], bytes[2..], "{name}");
        // Our prefix is always the true length; the official one only sometimes.
        let true_len = u16::try_from(bytes.len() - 2).unwrap().to_be_bytes();
        assert_eq!(encoded[..2], true_len, "{name}");
        assert_eq!(encoded[..2] == bytes[..2], prefix_correct, "{name}");
    }
}

#[test]
fn subscribe_vector_has_the_documented_bogus_prefix() {
    let bytes = hex(SUBSCRIBE);
    assert_eq!(bytes.len(), 47);
    assert_eq!(u16::from_be_bytes([bytes[0], bytes[1]]), 447);
}

#[test]
fn auth_frame_debug_redacts_the_key() {
    let frame = hsm::decode_client(&hex(AUTH)).unwrap();
    let shown = format!("{frame:?}");
    assert!(!shown.contains(HSM_KEY), "{shown}");
    assert!(shown.contains("PythonSDK-3.2.0"));
}

const SCRIP_SNAPSHOT: &str = "00 87 06 | 00 00 00 01 | 00 01 |
    53 00 01 0e 73 66 7c 6e 73 65 5f 63 6d 7c 33 30 34 35 15
    00 01 3d 67  00 bc 61 4e  65 53 f1 00  65 53 f1 01  00 00 00 96  00 00 00 c8  00 01 3d 62
    00 01 3d 6c  00 00 00 0a  00 07 a1 20  00 09 27 c0  00 01 3c 68  80 00 00 00  00 01 3a 74
    00 01 3e 5c  00 01 64 40  00 00 d8 cc  00 01 1d 8c  00 01 5c d4  00 01 3c 68  00 01 3c 04
    00 00 | 00 01 | 02 | 06 6e 73 65 5f 63 6d | 04 33 30 34 35 | 07 53 42 49 4e 2d 45 51";
const SCRIP_VALUES: [i32; 21] = [
    81255, 12345678, 1700000000, 1700000001, 150, 200, 81250, 81260, 10, 500000, 600000, 81000,
    NO_VALUE, 80500, 81500, 91200, 55500, 73100, 89300, 81000, 80900,
];
const INDEX_SNAPSHOT: &str = "00 53 06 00 00 00 06 00 01 53 00 02 12 69 66 7c 6e 73 65 5f 63 6d 7c 4e 69 66 74 79 20 35 30 06
    00 1d fb fa 00 1d c1 30 65 53 f1 02 00 1e 0f 50 00 1d 9a 20 00 1d c3 24
    00 00 00 01 02 06 6e 73 65 5f 63 6d 08 4e 69 66 74 79 20 35 30 07 4e 49 46 54 59 35 30";
const SHORT_UPDATE: &str = "00 13 06 00 00 00 04 00 01 55 00 01 02 80 00 00 00 00 bc 62 8f";
const LITE: &str = "00 0e 06 00 00 00 2b 00 01 4c 00 01 00 01 3d f8";
const TWO_RECORDS: &str =
    "00 17 06 00 00 00 08 00 02 55 00 01 01 00 01 3d a8 55 00 02 01 00 1d ff b0";

fn full_update() -> Vec<u8> {
    let mut bytes = hex("00 5f 06 00 00 00 02 00 01 55 00 01 15 00 01 3d 94");
    for _ in 0..20 {
        bytes.extend_from_slice(&[0x80, 0, 0, 0]);
    }
    bytes
}

fn custom_message() -> Vec<u8> {
    let mut bytes = hex("00 25 33 03 01 00 04 00 00 c7 39 02 00 15");
    bytes.extend_from_slice(b"Symbol limit exceeded");
    bytes.extend_from_slice(&hex("03 00 01 04"));
    bytes
}

fn snapshot(id: u16, name: &str, values: Vec<i32>, strings: [&str; 3]) -> Record {
    Record::Snapshot(Snapshot {
        topic_id: id,
        topic: topic(name),
        values,
        reserved: 0,
        multiplier: 1,
        precision: 2,
        exchange: strings[0].into(),
        exchange_token: strings[1].into(),
        symbol: strings[2].into(),
    })
}

fn data(message_number: u32, records: Vec<Record>) -> ServerFrame {
    ServerFrame::Data(DataFrame {
        message_number,
        records,
    })
}

fn server_vectors() -> Vec<(&'static str, Vec<u8>, ServerFrame)> {
    let auth = |status: ReplyStatus, ack_count| {
        ServerFrame::AuthReply(AuthReply {
            status,
            ack_count,
            extra_fields: vec![],
        })
    };
    let status = |kind, status| ServerFrame::Status(StatusReply { kind, status });
    let mut update = vec![81300];
    update.extend([NO_VALUE; 20]);
    vec![
        (
            "auth ok ack 0",
            hex("00 0d 01 02 01 00 01 4b 02 00 04 00 00 00 00"),
            auth(ReplyStatus::OK, 0),
        ),
        (
            "auth ok ack 2",
            hex("00 0d 01 02 01 00 01 4b 02 00 04 00 00 00 02"),
            auth(ReplyStatus::OK, 2),
        ),
        (
            "auth failed",
            hex("00 0d 01 02 01 00 01 4e 02 00 04 00 00 00 00"),
            auth(ReplyStatus::FAILED, 0),
        ),
        (
            "mode ack",
            hex("00 06 0c 01 01 00 01 4b"),
            status(StatusKind::Mode, ReplyStatus::OK),
        ),
        (
            "subscribe ack",
            hex("00 06 04 01 01 00 01 4b"),
            status(StatusKind::Subscribe, ReplyStatus::OK),
        ),
        (
            "subscribe failed",
            hex("00 06 04 01 01 00 01 4e"),
            status(StatusKind::Subscribe, ReplyStatus::FAILED),
        ),
        (
            "scrip snapshot",
            hex(SCRIP_SNAPSHOT),
            data(
                1,
                vec![snapshot(
                    1,
                    "sf|nse_cm|3045",
                    SCRIP_VALUES.to_vec(),
                    ["nse_cm", "3045", "SBIN-EQ"],
                )],
            ),
        ),
        (
            "full update",
            full_update(),
            data(
                2,
                vec![Record::Update(Update {
                    topic_id: 1,
                    values: update,
                })],
            ),
        ),
        (
            "short update",
            hex(SHORT_UPDATE),
            data(
                4,
                vec![Record::Update(Update {
                    topic_id: 1,
                    values: vec![NO_VALUE, 12345999],
                })],
            ),
        ),
        (
            "lite",
            hex(LITE),
            data(
                0x2b,
                vec![Record::Lite(Lite {
                    topic_id: 1,
                    ltp: 81400,
                })],
            ),
        ),
        (
            "index snapshot",
            hex(INDEX_SNAPSHOT),
            data(
                6,
                vec![snapshot(
                    2,
                    "if|nse_cm|Nifty 50",
                    vec![1965050, 1950000, 1700000002, 1970000, 1940000, 1950500],
                    ["nse_cm", "Nifty 50", "NIFTY50"],
                )],
            ),
        ),
        (
            "two records",
            hex(TWO_RECORDS),
            data(
                8,
                vec![
                    Record::Update(Update {
                        topic_id: 1,
                        values: vec![81320],
                    }),
                    Record::Update(Update {
                        topic_id: 2,
                        values: vec![1966000],
                    }),
                ],
            ),
        ),
        (
            "custom message",
            custom_message(),
            ServerFrame::Custom(CustomMessage {
                code: Some(51001),
                message: "Symbol limit exceeded".into(),
                ref_type: Some(4),
            }),
        ),
    ]
}

#[test]
fn server_vectors_decode_and_reencode_byte_for_byte() {
    for (name, bytes, frame) in server_vectors() {
        let decoded = hsm::decode_server(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decoded, frame, "{name}");
        assert_eq!(frame.to_bytes().unwrap()[..], bytes[..], "{name}");
    }
}

#[test]
fn vector_sizes_match_the_spec() {
    assert_eq!(hex(AUTH).len(), 81);
    assert_eq!(hex(SUBSCRIBE).len(), 47);
    assert_eq!(hex(SCRIP_SNAPSHOT).len(), 137);
    assert_eq!(hex(INDEX_SNAPSHOT).len(), 85);
}

fn apply_frame(store: &mut SnapshotStore, bytes: &[u8]) -> Vec<Option<Vec<Option<i32>>>> {
    let ServerFrame::Data(frame) = hsm::decode_server(bytes).unwrap() else {
        panic!("not a data frame");
    };
    frame
        .records
        .iter()
        .map(|record| match store.apply(record).unwrap() {
            Applied::Changed(state) => Some(state.values().to_vec()),
            Applied::Unchanged => None,
        })
        .collect()
}

fn price(state_store: &SnapshotStore, id: u16, field: ScripField) -> String {
    let state = state_store.get(id).unwrap();
    state.price(state.scrip(field).unwrap()).to_string()
}

#[test]
fn merge_sequence_matches_the_official_client_output() {
    let mut store = SnapshotStore::new();
    apply_frame(&mut store, &hex(SCRIP_SNAPSHOT));
    let sbin = store.get(1).unwrap();
    assert_eq!(sbin.scrip(ScripField::OpenInterest), None);
    assert_eq!(price(&store, 1, ScripField::Ltp), "812.55");
    assert_eq!(price(&store, 1, ScripField::BidPrice), "812.50");
    assert_eq!(price(&store, 1, ScripField::AvgTradePrice), "810.00");
    let change = store.get(1).unwrap().change(4).unwrap();
    assert_eq!(
        (change.points.to_string(), change.percent.to_string()),
        ("3.55".into(), "0.4388".into())
    );

    // Full update: ltp 813.00, ch 4.00, chp 0.4944; the other 20 positions stay.
    let emitted = apply_frame(&mut store, &full_update());
    let merged = emitted[0].as_ref().unwrap();
    assert_eq!(merged[0], Some(81300));
    assert_eq!(merged[1], Some(12345678));
    let change = store.get(1).unwrap().change(4).unwrap();
    assert_eq!(change.points, "4".parse::<Decimal>().unwrap());
    assert_eq!(change.percent.to_string(), "0.4944");

    // Short update: only the volume changes.
    apply_frame(&mut store, &hex(SHORT_UPDATE));
    let state = store.get(1).unwrap();
    assert_eq!(state.scrip(ScripField::VolTradedToday), Some(12345999));
    assert_eq!(state.ltp(), Some(81300));

    // Repeating it changes nothing, so nothing is emitted.
    assert_eq!(apply_frame(&mut store, &hex(SHORT_UPDATE)), vec![None]);

    // Lite record: ltp 814.00 merged into the full record.
    apply_frame(&mut store, &hex(LITE));
    assert_eq!(price(&store, 1, ScripField::Ltp), "814.00");
    assert_eq!(
        store.get(1).unwrap().scrip(ScripField::PrevClosePrice),
        Some(80900)
    );

    // Index snapshot then the two-record frame: two emissions.
    apply_frame(&mut store, &hex(INDEX_SNAPSHOT));
    let nifty = store.by_topic(&topic("if|nse_cm|Nifty 50")).unwrap();
    assert_eq!(nifty.price(nifty.ltp().unwrap()).to_string(), "19650.50");
    assert_eq!(
        nifty.index_value(IndexField::ExchFeedTime),
        Some(1700000002)
    );
    let change = nifty.change(2).unwrap();
    assert_eq!(
        (change.points.to_string(), change.percent.to_string()),
        ("150.50".into(), "0.77".into())
    );
    let emitted = apply_frame(&mut store, &hex(TWO_RECORDS));
    assert!(emitted.iter().all(Option::is_some));
    assert_eq!(price(&store, 1, ScripField::Ltp), "813.20");
    let nifty = store.get(2).unwrap();
    assert_eq!(nifty.price(nifty.ltp().unwrap()).to_string(), "19660.00");
}

#[test]
fn precision_and_multiplier_formula() {
    // `sf|cde_fo|1234`, ltp 832512 with (mult 1, prec 4) and (mult 100, prec 2) → 83.2512.
    for (multiplier, precision) in [(1, 4), (100, 2)] {
        let frame = data(
            9,
            vec![Record::Snapshot(Snapshot {
                topic_id: 7,
                topic: topic("sf|cde_fo|1234"),
                values: vec![832512, NO_VALUE],
                reserved: 0,
                multiplier,
                precision,
                exchange: String::new(),
                exchange_token: String::new(),
                symbol: String::new(),
            })],
        );
        let bytes = frame.to_bytes().unwrap();
        let mut store = SnapshotStore::new();
        apply_frame(&mut store, &bytes);
        let state = store.get(7).unwrap();
        assert_eq!(state.scale(), Scale::new(multiplier, precision).unwrap());
        assert_eq!(
            state.price(state.ltp().unwrap()),
            "83.2512".parse::<Decimal>().unwrap()
        );
    }
}

#[test]
fn depth_snapshot_fields() {
    // The spec's depth transcript is not reproduced byte for byte; this frame has its shape
    // (173 bytes, 30 values) and the documented end points.
    let mut values = Vec::new();
    values.extend([81250, 81245, 81240, 81235, 81230]);
    values.extend([81260, 81265, 81270, 81275, 81280]);
    values.extend([100, 200, 300, 400, 500]);
    values.extend([150, 250, 350, 450, 550]);
    values.extend([1, 2, 3, 4, 5]);
    values.extend([6, 7, 8, 9, 10]);
    let frame = data(
        3,
        vec![snapshot(
            3,
            "dp|nse_cm|3045",
            values,
            ["nse_cm", "3045", "SBIN-EQ"],
        )],
    );
    let bytes = frame.to_bytes().unwrap();
    assert_eq!(bytes.len(), 173);
    let mut store = SnapshotStore::new();
    apply_frame(&mut store, &bytes);
    let depth = store.get(3).unwrap();
    let field = |side, column, level| depth.depth(DepthField::new(side, column, level).unwrap());
    assert_eq!(
        field(Side::Bid, DepthColumn::Price, 1).map(|p| depth.price(p).to_string()),
        Some("812.50".into())
    );
    assert_eq!(
        field(Side::Ask, DepthColumn::Price, 5).map(|p| depth.price(p).to_string()),
        Some("812.80".into())
    );
    assert_eq!(field(Side::Bid, DepthColumn::Size, 1), Some(100));
    assert_eq!(field(Side::Ask, DepthColumn::Orders, 5), Some(10));
    assert_eq!(depth.ltp(), None);
}
