//! Writer and reader together: round trips, time seeks, torn tails at every offset, damaged
//! blocks, restarts.

use super::format::{FILE_HEADER_LEN, Frame, FrameKind, RecordedBroker};
use super::reader::{Block, DamageKind, DayRecording, SegmentReader, day_dir};
use super::writer::{BlockBuilder, SegmentWriter};
use bytes::Bytes;
use chrono::NaiveDate;
use proptest::prelude::*;
use std::io::Cursor;
use std::path::Path;

const SEC: i64 = 1_000_000_000;

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 7).unwrap()
}

fn frame(ts_ns: i64, n: u32) -> Frame {
    Frame {
        ts_ns,
        shard: (n % 3) as u16,
        kind: if n.is_multiple_of(5) {
            FrameKind::Text
        } else {
            FrameKind::Binary
        },
        data: Bytes::from(format!("frame {n} {}", "x".repeat((n % 17) as usize))),
    }
}

/// Writes `blocks` (frames per block) into a new segment of `root`'s day; returns every frame.
fn write_segment(root: &Path, blocks: &[Vec<Frame>]) -> std::path::PathBuf {
    let mut w = SegmentWriter::create(&day_dir(root, day()), RecordedBroker::Kite, 1).unwrap();
    for frames in blocks {
        let mut b = BlockBuilder::default();
        for f in frames {
            b.push(f);
        }
        w.write_block(&mut b).unwrap();
    }
    w.path().to_path_buf()
}

/// `count` blocks of `per` frames, one second per block.
fn blocks(count: i64, per: u32) -> Vec<Vec<Frame>> {
    (0..count)
        .map(|b| {
            (0..per)
                .map(|i| frame(b * SEC + i64::from(i) * 1000, b as u32 * per + i))
                .collect()
        })
        .collect()
}

fn all(root: &Path) -> Vec<Frame> {
    let day = DayRecording::open(root, day()).unwrap();
    day.frames(i64::MIN, i64::MAX).map(|r| r.frame).collect()
}

#[test]
fn frames_come_back_as_written_across_segments() {
    let root = tempfile::tempdir().unwrap();
    let first = blocks(3, 4);
    write_segment(root.path(), &first);
    let second: Vec<Vec<Frame>> = blocks(2, 3)
        .into_iter()
        .map(|b| {
            b.into_iter()
                .map(|f| Frame {
                    ts_ns: f.ts_ns + 100 * SEC,
                    ..f
                })
                .collect()
        })
        .collect();
    let path = write_segment(root.path(), &second);
    assert!(
        path.ends_with("seg-000002.fgr"),
        "a restart opens the next segment"
    );
    let expected: Vec<Frame> = first.into_iter().chain(second).flatten().collect();
    assert_eq!(all(root.path()), expected);
}

#[test]
fn a_time_range_seeks_with_the_index_and_filters_frames() {
    let root = tempfile::tempdir().unwrap();
    let written = blocks(10, 5);
    write_segment(root.path(), &written);
    let day = DayRecording::open(root.path(), day()).unwrap();
    let (from, to) = (3 * SEC + 2000, 6 * SEC + 1000);
    let got: Vec<Frame> = day.frames(from, to).map(|r| r.frame).collect();
    let expected: Vec<Frame> = written
        .into_iter()
        .flatten()
        .filter(|f| f.ts_ns >= from && f.ts_ns <= to)
        .collect();
    assert_eq!(got, expected);
    assert_eq!(got.first().map(|f| f.ts_ns), Some(3 * SEC + 2000));
    assert_eq!(got.last().map(|f| f.ts_ns), Some(6 * SEC + 1000));
}

#[test]
fn a_damaged_block_in_the_middle_is_skipped_and_reported() {
    let root = tempfile::tempdir().unwrap();
    let written = blocks(3, 2);
    let path = write_segment(root.path(), &written);
    let mut bytes = std::fs::read(&path).unwrap();
    // The second block's header sits right after the first block: flip a payload byte of it.
    let first_len = {
        let mut r = SegmentReader::open(Cursor::new(bytes.clone()))
            .unwrap()
            .unwrap();
        match r.next_block().unwrap() {
            Some(Block::Frames(h, _)) => 40 + h.compressed_len as usize,
            other => panic!("{other:?}"),
        }
    };
    bytes[FILE_HEADER_LEN + first_len + 45] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let day = DayRecording::open(root.path(), day()).unwrap();
    let mut frames = day.frames(i64::MIN, i64::MAX);
    let got: Vec<Frame> = frames.by_ref().map(|r| r.frame).collect();
    let expected: Vec<Frame> = [&written[0], &written[2]]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    assert_eq!(got, expected);
    assert!(matches!(
        frames.damage()[0].problem,
        DamageKind::BadBlock(_)
    ));
}

#[test]
fn an_unreadable_segment_is_reported_and_the_next_is_read() {
    let root = tempfile::tempdir().unwrap();
    let dir = day_dir(root.path(), day());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("seg-000001.fgr"), b"not a recording at all").unwrap();
    let written = blocks(1, 2);
    write_segment(root.path(), &written);
    let day = DayRecording::open(root.path(), day()).unwrap();
    let mut frames = day.frames(i64::MIN, i64::MAX);
    assert_eq!(frames.by_ref().count(), 2);
    assert!(matches!(
        frames.damage()[0].problem,
        DamageKind::Unreadable(_)
    ));
}

#[test]
fn a_day_never_recorded_has_no_frames() {
    let root = tempfile::tempdir().unwrap();
    assert!(all(root.path()).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// Cut the segment at every byte offset inside its last block (and its index anywhere):
    /// the reader returns exactly the complete blocks' frames and reports the tear.
    #[test]
    fn a_torn_last_block_loses_only_itself(count in 1i64..5, per in 1u32..6, index_cut in 0usize..200) {
        let root = tempfile::tempdir().unwrap();
        let written = blocks(count, per);
        let path = write_segment(root.path(), &written);
        let full = std::fs::read(&path).unwrap();
        let index = std::fs::read(path.with_extension("idx")).unwrap();
        let last_start = {
            let mut r = SegmentReader::open(Cursor::new(full.clone())).unwrap().unwrap();
            let mut start = FILE_HEADER_LEN;
            let mut offset = FILE_HEADER_LEN;
            while let Some(Block::Frames(h, _)) = r.next_block().unwrap() {
                start = offset;
                offset += 40 + h.compressed_len as usize;
            }
            start
        };
        let complete: Vec<Frame> = written[..written.len() - 1].iter().flatten().cloned().collect();
        std::fs::write(path.with_extension("idx"), &index[..index_cut.min(index.len())]).unwrap();
        for cut in last_start..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let day = DayRecording::open(root.path(), day()).unwrap();
            let mut frames = day.frames(i64::MIN, i64::MAX);
            let got: Vec<Frame> = frames.by_ref().map(|r| r.frame).collect();
            prop_assert_eq!(&got, &complete, "cut at {}", cut);
            let torn = cut > last_start;
            prop_assert_eq!(
                frames.damage().iter().any(|d| matches!(d.problem, DamageKind::TornTail(_))),
                torn
            );
        }
    }
}
