//! Framing cases of the streaming codec: several frames per read, frames split at every byte,
//! truncation, oversize claims, unknown lengths and zero-packet frames.

use bytes::BufMut;
use futures_util::StreamExt;
use tokio_util::codec::FramedRead;

use super::*;
use crate::ticker::packet::{LtpPacket, Mode, Ohlc, QuotePacket};

fn ltp(token: u32) -> Packet {
    Packet::Ltp(LtpPacket {
        token,
        last_price: 157_370,
    })
}

fn quote(token: u32) -> Packet {
    Packet::Quote(QuotePacket {
        token,
        last_price: -5,
        last_traded_quantity: 1,
        average_traded_price: 2,
        volume_traded: 3,
        total_buy_quantity: 4,
        total_sell_quantity: 5,
        ohlc: Ohlc::default(),
    })
}

fn wire(frames: &[&[Packet]]) -> BytesMut {
    let mut out = BytesMut::new();
    let mut codec = FrameCodec::new();
    for frame in frames {
        codec.encode(*frame, &mut out).unwrap();
    }
    out
}

fn decode_all(codec: &mut FrameCodec, buf: &mut BytesMut) -> Vec<Frame> {
    let mut frames = Vec::new();
    while let Some(frame) = codec.decode(buf).unwrap() {
        frames.push(frame);
    }
    frames
}

#[test]
fn several_frames_in_one_read() {
    let first = [ltp(1), quote(2)];
    let third = [quote(3)];
    let mut buf = wire(&[&first, &[], &third]);
    let frames = decode_all(&mut FrameCodec::new(), &mut buf);
    let packets: Vec<_> = frames.into_iter().map(|f| f.packets).collect();
    assert_eq!(packets, [first.to_vec(), vec![], third.to_vec()]);
    assert!(buf.is_empty());
}

#[test]
fn a_frame_split_at_every_byte_position() {
    let packets = [ltp(1), quote(2), ltp(3)];
    let whole = wire(&[&packets]);
    for split in 0..=whole.len() {
        let mut codec = FrameCodec::new();
        let mut buf = BytesMut::from(&whole[..split]);
        if split < whole.len() {
            assert_eq!(codec.decode(&mut buf).unwrap(), None, "split at {split}");
        }
        buf.extend_from_slice(&whole[split..]);
        let frame = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(frame.packets, packets, "split at {split}");
        assert!(buf.is_empty());
    }
}

#[test]
fn byte_at_a_time_decodes_every_frame_once() {
    let a = [ltp(1)];
    let b = [quote(2), quote(3)];
    let whole = wire(&[&a, &[], &b]);
    let mut codec = FrameCodec::new();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for byte in whole.iter() {
        buf.put_u8(*byte);
        frames.extend(decode_all(&mut codec, &mut buf));
    }
    let packets: Vec<_> = frames.into_iter().map(|f| f.packets).collect();
    assert_eq!(packets, [a.to_vec(), vec![], b.to_vec()]);
}

#[test]
fn zero_packet_frames() {
    let mut buf = BytesMut::from(&[0u8, 0, 0, 0][..]);
    let frames = decode_all(&mut FrameCodec::new(), &mut buf);
    assert_eq!(frames, [Frame::default(), Frame::default()]);
}

#[test]
fn unknown_lengths_are_skipped() {
    let mut buf = BytesMut::from(&[0u8, 3, 0, 2, 9, 9][..]);
    let mut body = BytesMut::new();
    crate::ticker::encode::encode_packet(&ltp(7), &mut body);
    buf.put_u16(8);
    buf.extend_from_slice(&body);
    buf.put_u16(0);
    let frame = FrameCodec::new().decode(&mut buf).unwrap().unwrap();
    assert_eq!(frame.packets, [ltp(7)]);
    assert_eq!(frame.skipped, 2);
}

#[test]
fn truncation_at_end_of_stream_is_an_error() {
    let whole = wire(&[&[ltp(1)], &[quote(2)]]);
    // (bytes at EOF, frames before the error, truncated packet index, stream bytes wanted)
    let first_len = 2 + 2 + 8;
    let cases = [
        (first_len + 1, 1, 0, first_len + 2),
        (first_len + 3, 1, 0, first_len + 4),
        (first_len + 10, 1, 0, first_len + 2 + 2 + 44),
        (5, 0, 0, 12),
    ];
    for (cut, good, index, wanted) in cases {
        let mut codec = FrameCodec::new();
        let mut buf = BytesMut::from(&whole[..cut]);
        let mut frames = 0;
        let error = loop {
            match codec.decode_eof(&mut buf) {
                Ok(Some(_)) => frames += 1,
                Ok(None) => panic!("cut at {cut}: truncation not reported"),
                Err(error) => break error,
            }
        };
        assert_eq!(frames, good, "cut at {cut}");
        match error {
            StreamError::Codec(CodecError::Truncated {
                index: i,
                needed,
                available,
            }) => {
                // offsets are relative to the frame being decoded
                let consumed = first_len * good;
                assert_eq!(
                    (i, needed, available),
                    (index, wanted - consumed, cut - consumed),
                    "cut at {cut}"
                );
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn clean_end_of_stream() {
    let mut buf = wire(&[&[ltp(1)]]);
    let mut codec = FrameCodec::new();
    assert!(codec.decode_eof(&mut buf).unwrap().is_some());
    assert!(codec.decode_eof(&mut buf).unwrap().is_none());
}

#[test]
fn oversize_claims_fail_before_the_bytes_arrive() {
    let full_packet = [&[0u8, 184][..], &[0; 184]].concat();
    // (max frame, bytes received, smallest frame size those bytes imply)
    let cases: [(usize, Vec<u8>, usize); 4] = [
        // 65535 packets need at least 2 + 2·65535 bytes
        (100_000, vec![0xff, 0xff], 131_072),
        // one packet claiming 65535 bytes
        (1_000, vec![0, 1, 0xff, 0xff], 65_539),
        // three 184-byte packets: provably too large once the second length is known
        (
            300,
            [&[0, 3][..], &full_packet, &[0, 184]].concat(),
            2 + 186 + 186 + 2,
        ),
        // with packets already scanned in an earlier call
        (
            300,
            [&[0, 3][..], &full_packet[..100]].concat(),
            2 + 186 + 186 + 2,
        ),
    ];
    for (max, head, least) in cases {
        let mut codec = FrameCodec::with_max_frame_len(max);
        let mut buf = BytesMut::from(&head[..]);
        let mut result = codec.decode(&mut buf);
        if matches!(result, Ok(None)) && head.len() < 200 && max == 300 {
            // feed the rest of the first packet and the second length prefix
            buf.extend_from_slice(&full_packet[100..]);
            assert!(matches!(codec.decode(&mut buf), Ok(None)));
            buf.extend_from_slice(&[0, 184]);
            result = codec.decode(&mut buf);
        }
        match result {
            Err(StreamError::Codec(CodecError::FrameTooLarge { len, max: m })) => {
                assert_eq!((len, m), (least, max), "{max}");
            }
            other => panic!("{max}: {other:?}"),
        }
        assert!(buf.capacity() <= max.max(head.len() + 200), "{max}");
    }
}

#[test]
fn a_huge_claim_never_allocates_beyond_the_cap() {
    // 65535 packets of 65535 bytes each claim about 4 GiB in total.
    let mut codec = FrameCodec::new();
    let mut buf = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xff][..]);
    for _ in 0..2 {
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() <= DEFAULT_MAX_FRAME_LEN);
        buf.extend_from_slice(&[0; 65_535]);
        buf.extend_from_slice(&[0xff, 0xff]);
    }
    // three 65537-byte packets plus 65532 more length prefixes exceed 256 KiB
    assert!(matches!(
        codec.decode(&mut buf),
        Err(StreamError::Codec(CodecError::FrameTooLarge {
            len: 327_677,
            max: DEFAULT_MAX_FRAME_LEN
        }))
    ));
}

#[test]
fn encoder_enforces_the_limits() {
    let mut out = BytesMut::new();
    let many = vec![ltp(1); MAX_PACKETS_PER_FRAME + 1];
    assert!(matches!(
        FrameCodec::new().encode(many.as_slice(), &mut out),
        Err(StreamError::Codec(CodecError::TooManyPackets {
            count: 65_536
        }))
    ));
    let big = vec![quote(1); 10];
    assert!(matches!(
        FrameCodec::with_max_frame_len(100).encode(big.as_slice(), &mut out),
        Err(StreamError::Codec(CodecError::FrameTooLarge {
            len: 462,
            max: 100
        }))
    ));
    assert!(out.is_empty(), "nothing written on error");
    assert_eq!(FrameCodec::with_max_frame_len(0).max_frame_len(), 2);
}

#[tokio::test]
async fn framed_read_over_an_async_reader() {
    let frames: [&[Packet]; 3] = [&[ltp(1), quote(2)], &[], &[ltp(3)]];
    let bytes = wire(&frames).freeze();
    let mut stream = FramedRead::new(&bytes[..], FrameCodec::new());
    let mut got = Vec::new();
    while let Some(frame) = stream.next().await {
        got.push(frame.unwrap().packets);
    }
    let expected: Vec<Vec<Packet>> = frames.iter().map(|f| f.to_vec()).collect();
    assert_eq!(got, expected);
    assert!(got.iter().flatten().all(|p| p.mode() != Mode::Full));
}
