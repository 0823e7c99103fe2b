//! HSM codec throughput: decoding data frames of snapshot, full-update and lite records (1, 10
//! and 100 records per frame, in records per second), and decode + merge into a
//! `SnapshotStore`, the gateway's per-frame work.

// Setup panics are failed benchmarks, as in tests.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feedgate_fyers::hsm::{
    self, DataFrame, Lite, NO_VALUE, Record, ServerFrame, Snapshot, SnapshotStore, TopicName,
    Update,
};

fn snapshot(topic_id: u16) -> Record {
    Record::Snapshot(Snapshot {
        topic_id,
        topic: TopicName::new(format!("sf|nse_cm|{}", 1000 + topic_id)).unwrap(),
        values: (0..21).map(|i| 81_000 + i).collect(),
        reserved: 0,
        multiplier: 1,
        precision: 2,
        exchange: "nse_cm".into(),
        exchange_token: (1000 + topic_id).to_string(),
        symbol: "SBIN-EQ".into(),
    })
}

/// A typical tick: ltp, volume, times and best bid/ask change; the rest is INT32_MIN.
fn update(topic_id: u16, step: i32) -> Record {
    let mut values = vec![NO_VALUE; 21];
    for (i, value) in [
        (0, 81_255 + step),
        (1, 12_345_678 + step),
        (2, 1_700_000_000 + step),
        (6, 81_250 + step),
        (7, 81_260 + step),
    ] {
        values[i] = value;
    }
    Record::Update(Update { topic_id, values })
}

fn frame(records: Vec<Record>) -> Bytes {
    ServerFrame::Data(DataFrame {
        message_number: 1,
        records,
    })
    .to_bytes()
    .unwrap()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("hsm_decode");
    for per_frame in [1u16, 10, 100] {
        let kinds: [(&str, Vec<Record>); 3] = [
            ("snapshot", (0..per_frame).map(snapshot).collect()),
            ("update", (0..per_frame).map(|id| update(id, 1)).collect()),
            (
                "lite",
                (0..per_frame)
                    .map(|id| {
                        Record::Lite(Lite {
                            topic_id: id,
                            ltp: 81_300,
                        })
                    })
                    .collect(),
            ),
        ];
        for (kind, records) in kinds {
            let bytes = frame(records);
            group.throughput(Throughput::Elements(u64::from(per_frame)));
            group.bench_function(format!("{kind}/{per_frame}"), |b| {
                b.iter(|| hsm::decode_server(black_box(&bytes)))
            });
        }
    }
    group.finish();
}

fn decode_and_merge(c: &mut Criterion) {
    let mut group = c.benchmark_group("hsm_decode_merge");
    for per_frame in [10u16, 100] {
        let mut store = SnapshotStore::new();
        if let Ok(ServerFrame::Data(data)) =
            hsm::decode_server(&frame((0..per_frame).map(snapshot).collect()))
        {
            for record in &data.records {
                let _ = store.apply(record);
            }
        }
        // Alternate two update frames so every record really changes the state.
        let frames = [1, 2].map(|step| frame((0..per_frame).map(|id| update(id, step)).collect()));
        let mut turn = 0usize;
        group.throughput(Throughput::Elements(u64::from(per_frame)));
        group.bench_function(format!("update/{per_frame}"), |b| {
            b.iter(|| {
                turn ^= 1;
                let Ok(ServerFrame::Data(data)) = hsm::decode_server(&frames[turn]) else {
                    return 0;
                };
                data.records
                    .iter()
                    .filter(|r| matches!(store.apply(r), Ok(a) if a.changed().is_some()))
                    .count()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decode, decode_and_merge);
criterion_main!(benches);
