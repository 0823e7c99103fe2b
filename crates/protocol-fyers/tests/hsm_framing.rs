//! Framing edge cases of the HSM codec (empty, truncated at every offset, trailing bytes, bogus
//! length prefixes, oversize claims, unknown kinds) and property tests: typed round trips in
//! both directions, and arbitrary or mutated bytes never panicking.

// Helpers outside #[test] fns unwrap too: a panic here is a failed assertion (clippy.toml).
#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use feedgate_fyers::hsm::{
    self, AuthReply, AuthRequest, Channel, ChannelMask, ClientFrame, CodecError, CustomMessage,
    DataFrame, EncodeError, FeedMode, Lite, ModeRequest, RawField, RawFrame, Record, ReplyStatus,
    ServerFrame, Snapshot, StatusKind, StatusReply, TopicName, TopicRequest, Update,
};
use proptest::prelude::*;
use secrecy::SecretString;

fn client_samples() -> Vec<ClientFrame> {
    let topics = vec![
        TopicName::new("sf|nse_cm|3045").unwrap(),
        TopicName::new("if|nse_cm|Nifty 50").unwrap(),
    ];
    vec![
        ClientFrame::Auth(AuthRequest::new(SecretString::from("key"), "feedgate")),
        ClientFrame::Mode(ModeRequest {
            channels: ChannelMask::single(Channel::DEFAULT),
            mode: FeedMode::Full,
        }),
        ClientFrame::Subscribe(TopicRequest {
            topics: topics.clone(),
            channel: Channel::DEFAULT,
        }),
        ClientFrame::Unsubscribe(TopicRequest {
            topics,
            channel: Channel::DEFAULT,
        }),
        ClientFrame::Pause(ChannelMask::from_bits(1 << 11)),
        ClientFrame::Resume(ChannelMask::from_bits(1 << 11)),
        ClientFrame::Ack { message_number: 7 },
        ClientFrame::Ping,
    ]
}

fn server_samples() -> Vec<ServerFrame> {
    vec![
        ServerFrame::AuthReply(AuthReply {
            status: ReplyStatus::OK,
            ack_count: 2,
            extra_fields: vec![RawField {
                id: 3,
                value: Bytes::from_static(b"{}"),
            }],
        }),
        ServerFrame::Status(StatusReply {
            kind: StatusKind::Resume,
            status: ReplyStatus::OK,
        }),
        ServerFrame::Custom(CustomMessage {
            code: Some(-1),
            message: "x".into(),
            ref_type: Some(1),
        }),
        ServerFrame::Data(DataFrame {
            message_number: 9,
            records: vec![
                Record::Snapshot(Snapshot {
                    topic_id: 1,
                    topic: TopicName::new("sf|nse_cm|1").unwrap(),
                    values: vec![1, 2, 3],
                    reserved: 0,
                    multiplier: 1,
                    precision: 2,
                    exchange: "e".into(),
                    exchange_token: "t".into(),
                    symbol: "s".into(),
                }),
                Record::Update(Update {
                    topic_id: 1,
                    values: vec![4],
                }),
                Record::Lite(Lite {
                    topic_id: 1,
                    ltp: 5,
                }),
            ],
        }),
    ]
}

#[test]
fn empty_and_tiny_messages_are_too_short() {
    for msg in [&[][..], &[0][..], &[0, 1][..]] {
        assert_eq!(
            hsm::decode_client(msg),
            Err(CodecError::TooShort { len: msg.len() })
        );
        assert_eq!(
            hsm::decode_server(msg),
            Err(CodecError::TooShort { len: msg.len() })
        );
    }
}

#[test]
fn every_truncation_is_an_error() {
    for frame in client_samples() {
        let bytes = frame.to_bytes().unwrap();
        for cut in 0..bytes.len() {
            assert!(
                hsm::decode_client(&bytes[..cut]).is_err(),
                "{frame:?} cut at {cut}"
            );
        }
    }
    for frame in server_samples() {
        let bytes = frame.to_bytes().unwrap();
        for cut in 0..bytes.len() {
            assert!(
                hsm::decode_server(&bytes[..cut]).is_err(),
                "{frame:?} cut at {cut}"
            );
        }
    }
}

#[test]
fn trailing_bytes_fail_client_frames_and_are_ignored_in_server_frames() {
    for frame in client_samples() {
        let mut bytes = frame.to_bytes().unwrap().to_vec();
        bytes.push(0xAA);
        assert_eq!(
            hsm::decode_client(&bytes),
            Err(CodecError::TrailingBytes {
                msg_type: frame.msg_type(),
                extra: 1
            }),
        );
    }
    for frame in server_samples() {
        let mut bytes = frame.to_bytes().unwrap().to_vec();
        bytes.extend_from_slice(&[0xAA, 0xBB]);
        assert_eq!(hsm::decode_server(&bytes).unwrap(), frame);
    }
}

#[test]
fn length_prefixes_are_never_trusted() {
    for bogus in [[0, 0], [0xFF, 0xFF], [0x01, 0xBF], [0, 1]] {
        for frame in client_samples() {
            let mut bytes = frame.to_bytes().unwrap().to_vec();
            bytes[..2].copy_from_slice(&bogus);
            assert_eq!(hsm::decode_client(&bytes).unwrap(), frame, "{bogus:?}");
        }
        for frame in server_samples() {
            let mut bytes = frame.to_bytes().unwrap().to_vec();
            bytes[..2].copy_from_slice(&bogus);
            assert_eq!(hsm::decode_server(&bytes).unwrap(), frame, "{bogus:?}");
        }
    }
}

#[test]
fn huge_count_claims_fail_without_allocating() {
    // 65535 records claimed, none present.
    let msg = [0, 0, 6, 0, 0, 0, 1, 0xFF, 0xFF];
    assert!(matches!(
        hsm::decode_server(&msg),
        Err(CodecError::Truncated { .. })
    ));
    // 255 values claimed in an update, 1 present.
    let msg = [0, 0, 6, 0, 0, 0, 1, 0, 1, b'U', 0, 1, 0xFF, 0, 0, 0, 1];
    assert!(matches!(
        hsm::decode_server(&msg),
        Err(CodecError::Truncated { .. })
    ));
    // 65535 topics claimed in a subscribe frame.
    let msg = [0, 0, 4, 2, 1, 0, 2, 0xFF, 0xFF, 2, 0, 1, 11];
    assert!(matches!(
        hsm::decode_client(&msg),
        Err(CodecError::Truncated { .. })
    ));
    // A field claiming 65535 bytes.
    let msg = [0, 0, 1, 1, 1, 0xFF, 0xFF, b'K'];
    assert!(matches!(
        hsm::decode_server(&msg),
        Err(CodecError::Truncated { .. })
    ));
}

#[test]
fn malformed_frames_table() {
    let cases: Vec<(&str, Vec<u8>, bool, CodecError)> = vec![
        (
            "unknown record kind",
            vec![0, 0, 6, 0, 0, 0, 1, 0, 1, b'X', 0, 1],
            true,
            CodecError::UnknownRecord {
                kind: b'X',
                offset: 9,
            },
        ),
        (
            "invalid mode",
            vec![0, 0, 12, 2, 1, 0, 8, 0, 0, 0, 0, 0, 0, 8, 0, 2, 0, 1, b'Q'],
            false,
            CodecError::InvalidMode(b'Q'),
        ),
        (
            "channel 64",
            vec![0, 0, 4, 2, 1, 0, 2, 0, 0, 2, 0, 1, 64],
            false,
            CodecError::InvalidChannel(64),
        ),
        (
            "non-utf8 topic",
            vec![0, 0, 4, 2, 1, 0, 4, 0, 1, 1, 0xFF, 2, 0, 1, 11],
            false,
            CodecError::InvalidUtf8 { what: "topic" },
        ),
        (
            "auth without key",
            vec![0, 0, 1, 0],
            false,
            CodecError::MissingField {
                msg_type: 1,
                field_id: 1,
            },
        ),
        (
            "ack repeated",
            vec![0, 0, 3, 2, 1, 0, 4, 0, 0, 0, 1, 1, 0, 4, 0, 0, 0, 2],
            false,
            CodecError::DuplicateField {
                msg_type: 3,
                field_id: 1,
            },
        ),
        (
            "auth reply ack_count of 2 bytes",
            vec![0, 0, 1, 2, 1, 0, 1, b'K', 2, 0, 2, 0, 0],
            true,
            CodecError::FieldLength {
                msg_type: 1,
                field_id: 2,
                len: 2,
                expected: 4,
            },
        ),
        (
            "status without a status field",
            vec![0, 0, 4, 0],
            true,
            CodecError::MissingField {
                msg_type: 4,
                field_id: 1,
            },
        ),
        (
            "snapshot topic not utf-8",
            vec![0, 0, 6, 0, 0, 0, 1, 0, 1, b'S', 0, 1, 1, 0xC0],
            true,
            CodecError::InvalidUtf8 { what: "topic" },
        ),
    ];
    for (name, msg, server, expected) in cases {
        let got = if server {
            hsm::decode_server(&msg).map(|_| ())
        } else {
            hsm::decode_client(&msg).map(|_| ())
        };
        assert_eq!(got, Err(expected), "{name}");
    }
}

#[test]
fn custom_message_fields_are_optional_and_lenient() {
    // Only a message; a 2-byte code field is skipped as the official client does; unknown id 9.
    let msg = [
        0, 0, 51, 3, 1, 0, 2, 0xC7, 0x39, 9, 0, 1, 0, 2, 0, 2, b'h', b'i',
    ];
    let ServerFrame::Custom(custom) = hsm::decode_server(&msg).unwrap() else {
        panic!("not custom");
    };
    assert_eq!(
        custom,
        CustomMessage {
            code: None,
            message: "hi".into(),
            ref_type: None
        }
    );
    assert!(!custom.is_auth_failure());
    // Invalid UTF-8 in the text is replaced, not fatal.
    let msg = [0, 0, 51, 1, 2, 0, 1, 0xFF];
    assert!(
        matches!(hsm::decode_server(&msg), Ok(ServerFrame::Custom(c)) if c.message == "\u{fffd}")
    );
}

#[test]
fn invalid_utf8_in_snapshot_strings_is_dropped_and_still_re_encodes() {
    // Found by the fuzzer: replacing 0xFF with U+FFFD tripled the length past the u8 limit.
    let mut msg = vec![
        0, 0, 6, 0, 0, 0, 1, 0, 1, b'S', 0, 1, 1, b'x', 0, 0, 0, 0, 1, 2,
    ];
    msg.push(255);
    msg.extend([b'A']);
    msg.extend([0xFF; 254]);
    msg.extend([2, b'o', 0xC3, 0, 0]);
    let frame = hsm::decode_server(&msg).unwrap();
    let ServerFrame::Data(data) = &frame else {
        panic!("not data");
    };
    let Record::Snapshot(snapshot) = &data.records[0] else {
        panic!("not a snapshot");
    };
    assert_eq!(
        (snapshot.exchange.as_str(), snapshot.exchange_token.as_str()),
        ("A", "o")
    );
    assert_eq!(
        hsm::decode_server(&frame.to_bytes().unwrap()).unwrap(),
        frame
    );
}

#[test]
fn status_must_be_exactly_k() {
    for (value, ok) in [
        (&b"K"[..], true),
        (b"N", false),
        (b"KK", false),
        (b"", false),
    ] {
        assert_eq!(
            ReplyStatus::new(Bytes::copy_from_slice(value)).is_ok(),
            ok,
            "{value:?}"
        );
    }
}

#[test]
fn unknown_types_are_kept_raw() {
    let msg = [0, 4, 13, 1, 2, 3];
    let frame = hsm::decode_server(&msg).unwrap();
    assert_eq!(
        frame,
        ServerFrame::Unsupported(RawFrame {
            msg_type: 13,
            body: Bytes::from_static(&[1, 2, 3])
        })
    );
    assert_eq!(frame.to_bytes().unwrap()[..], msg[..]);
    let msg = [0, 5, 2, 1, 1, 0, 4];
    assert!(matches!(hsm::decode_client(&msg), Ok(ClientFrame::Unsupported(r)) if r.msg_type == 2));
    // Raw frames cannot masquerade as typed ones.
    let raw = RawFrame {
        msg_type: 6,
        body: Bytes::new(),
    };
    assert_eq!(
        ServerFrame::Unsupported(raw.clone()).to_bytes(),
        Err(EncodeError::ReservedType(6))
    );
    let raw = RawFrame {
        msg_type: 11,
        ..raw
    };
    assert_eq!(
        ClientFrame::Unsupported(raw).to_bytes(),
        Err(EncodeError::ReservedType(11))
    );
}

#[test]
fn encode_limits_are_errors_and_leave_dst_unchanged() {
    let too_many_values = ServerFrame::Data(DataFrame {
        message_number: 1,
        records: vec![Record::Update(Update {
            topic_id: 1,
            values: vec![0; 256],
        })],
    });
    let big_topics = ClientFrame::Subscribe(TopicRequest {
        topics: vec![TopicName::new("x".repeat(255)).unwrap(); 300],
        channel: Channel::DEFAULT,
    });
    let too_big = ServerFrame::Data(DataFrame {
        message_number: 1,
        records: vec![
            Record::Lite(Lite {
                topic_id: 1,
                ltp: 1
            });
            10_000
        ],
    });
    let long_string = ServerFrame::Data(DataFrame {
        message_number: 1,
        records: vec![Record::Snapshot(Snapshot {
            topic_id: 1,
            topic: TopicName::new("sf|nse_cm|1").unwrap(),
            values: vec![],
            reserved: 0,
            multiplier: 1,
            precision: 2,
            exchange: "e".repeat(256),
            exchange_token: String::new(),
            symbol: String::new(),
        })],
    });
    let mut dst = BytesMut::from(&b"prefix"[..]);
    assert!(matches!(
        too_many_values.encode(&mut dst),
        Err(EncodeError::TooMany { what: "values", .. })
    ));
    assert!(matches!(
        big_topics.encode(&mut dst),
        Err(EncodeError::FieldTooLarge { field_id: 1, .. })
    ));
    assert!(matches!(
        too_big.encode(&mut dst),
        Err(EncodeError::FrameTooLarge { len: 70_009 })
    ));
    assert!(matches!(
        long_string.encode(&mut dst),
        Err(EncodeError::StringTooLong {
            what: "exchange",
            len: 256
        })
    ));
    assert_eq!(&dst[..], b"prefix");
    // Just under the limit is fine: 9 + 7 × 9361 = 65536 bytes.
    let at_limit = ServerFrame::Data(DataFrame {
        message_number: 1,
        records: vec![
            Record::Lite(Lite {
                topic_id: 1,
                ltp: 1
            });
            9361
        ],
    });
    assert_eq!(at_limit.to_bytes().unwrap().len(), 65_536);
}

#[test]
fn frames_append_to_existing_buffers() {
    let mut dst = BytesMut::new();
    for frame in client_samples() {
        frame.encode(&mut dst).unwrap();
    }
    let total: usize = client_samples()
        .iter()
        .map(|f| f.to_bytes().unwrap().len())
        .sum();
    assert_eq!(dst.len(), total);
}

fn topic_name() -> impl Strategy<Value = TopicName> {
    "[a-z0-9| ]{0,40}".prop_map(|s| TopicName::new(s).unwrap())
}

fn channel() -> impl Strategy<Value = Channel> {
    (0u8..=63).prop_map(|n| Channel::new(n).unwrap())
}

fn unsupported_type(typed: &'static [u8]) -> impl Strategy<Value = u8> {
    any::<u8>().prop_filter("typed message type", move |t| !typed.contains(t))
}

fn client_frame() -> impl Strategy<Value = ClientFrame> {
    let topics = || {
        (prop::collection::vec(topic_name(), 0..20), channel())
            .prop_map(|(topics, channel)| TopicRequest { topics, channel })
    };
    prop_oneof![
        ("[ -~]{0,64}", any::<u8>(), any::<u8>(), "\\PC{0,20}").prop_map(
            |(key, mode, stream, source)| {
                ClientFrame::Auth(AuthRequest {
                    hsm_key: SecretString::from(key),
                    mode,
                    stream,
                    source,
                })
            }
        ),
        (any::<u64>(), any::<bool>()).prop_map(|(bits, full)| ClientFrame::Mode(ModeRequest {
            channels: ChannelMask::from_bits(bits),
            mode: if full { FeedMode::Full } else { FeedMode::Lite },
        })),
        topics().prop_map(ClientFrame::Subscribe),
        topics().prop_map(ClientFrame::Unsubscribe),
        any::<u64>().prop_map(|b| ClientFrame::Pause(ChannelMask::from_bits(b))),
        any::<u64>().prop_map(|b| ClientFrame::Resume(ChannelMask::from_bits(b))),
        any::<u32>().prop_map(|message_number| ClientFrame::Ack { message_number }),
        Just(ClientFrame::Ping),
        (
            unsupported_type(&[1, 3, 4, 5, 7, 8, 11, 12]),
            prop::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(msg_type, body)| ClientFrame::Unsupported(RawFrame {
                msg_type,
                body: body.into()
            })),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    let values = prop::collection::vec(any::<i32>(), 0..40);
    prop_oneof![
        (
            any::<u16>(),
            topic_name(),
            values.clone(),
            any::<u16>(),
            any::<u16>(),
            any::<u8>(),
            "\\PC{0,10}",
            "\\PC{0,10}",
            "\\PC{0,10}"
        )
            .prop_map(
                |(
                    topic_id,
                    topic,
                    values,
                    reserved,
                    multiplier,
                    precision,
                    exchange,
                    exchange_token,
                    symbol,
                )| {
                    Record::Snapshot(Snapshot {
                        topic_id,
                        topic,
                        values,
                        reserved,
                        multiplier,
                        precision,
                        exchange,
                        exchange_token,
                        symbol,
                    })
                }
            ),
        (any::<u16>(), values)
            .prop_map(|(topic_id, values)| Record::Update(Update { topic_id, values })),
        (any::<u16>(), any::<i32>())
            .prop_map(|(topic_id, ltp)| Record::Lite(Lite { topic_id, ltp })),
    ]
}

fn status() -> impl Strategy<Value = ReplyStatus> {
    prop::collection::vec(any::<u8>(), 0..4).prop_map(ReplyStatus::new)
}

fn server_frame() -> impl Strategy<Value = ServerFrame> {
    let kinds = prop::sample::select(vec![
        StatusKind::Subscribe,
        StatusKind::Unsubscribe,
        StatusKind::Pause,
        StatusKind::Resume,
        StatusKind::Mode,
    ]);
    let extra =
        (3u8..=255, prop::collection::vec(any::<u8>(), 0..20)).prop_map(|(id, value)| RawField {
            id,
            value: value.into(),
        });
    prop_oneof![
        (status(), any::<u32>(), prop::collection::vec(extra, 0..4)).prop_map(
            |(status, ack_count, extra_fields)| {
                ServerFrame::AuthReply(AuthReply {
                    status,
                    ack_count,
                    extra_fields,
                })
            }
        ),
        (kinds, status())
            .prop_map(|(kind, status)| ServerFrame::Status(StatusReply { kind, status })),
        (any::<u32>(), prop::collection::vec(record(), 0..12)).prop_map(
            |(message_number, records)| ServerFrame::Data(DataFrame {
                message_number,
                records
            })
        ),
        (any::<Option<i32>>(), "\\PC{0,40}", any::<Option<u8>>()).prop_map(
            |(code, message, ref_type)| ServerFrame::Custom(CustomMessage {
                code,
                message,
                ref_type
            })
        ),
        (
            unsupported_type(&[1, 4, 5, 6, 7, 8, 12, 51]),
            prop::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(msg_type, body)| ServerFrame::Unsupported(RawFrame {
                msg_type,
                body: body.into()
            })),
    ]
}

proptest! {
    #[test]
    fn client_frames_round_trip(frame in client_frame()) {
        let bytes = frame.to_bytes().unwrap();
        prop_assert_eq!(usize::from(u16::from_be_bytes([bytes[0], bytes[1]])), bytes.len() - 2);
        prop_assert_eq!(hsm::decode_client(&bytes).unwrap(), frame);
    }

    #[test]
    fn server_frames_round_trip(frame in server_frame()) {
        let bytes = frame.to_bytes().unwrap();
        prop_assert_eq!(usize::from(u16::from_be_bytes([bytes[0], bytes[1]])), bytes.len() - 2);
        prop_assert_eq!(hsm::decode_server(&bytes).unwrap(), frame);
    }

    /// Arbitrary bytes never panic; whatever decodes re-encodes to something that decodes the same.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(frame) = hsm::decode_client(&bytes) {
            prop_assert_eq!(hsm::decode_client(&frame.to_bytes().unwrap()).unwrap(), frame);
        }
        if let Ok(frame) = hsm::decode_server(&bytes) {
            prop_assert_eq!(hsm::decode_server(&frame.to_bytes().unwrap()).unwrap(), frame);
        }
    }

    /// Valid frames with bytes flipped, cut or appended never panic either (reaches deeper
    /// than uniform noise, which rarely gets past the header).
    #[test]
    fn mutated_frames_never_panic(
        frame in server_frame(),
        client in client_frame(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
    ) {
        for mut bytes in [frame.to_bytes().unwrap().to_vec(), client.to_bytes().unwrap().to_vec()] {
            for (at, value) in &flips {
                let i = at.index(bytes.len());
                bytes[i] = *value;
            }
            let cut = cut.index(bytes.len() + 1);
            for msg in [&bytes[..], &bytes[..cut]] {
                let _ = hsm::decode_server(msg);
                let _ = hsm::decode_client(msg);
            }
        }
    }
}
