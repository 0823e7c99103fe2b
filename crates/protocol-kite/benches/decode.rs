//! Decode throughput of one binary message (`parse_message` + iterating every packet), in
//! packets per second, for each packet kind and a mix, at 1, 10 and 100 packets per frame.
//! The frames come from `frames/mod.rs`, shared with the load harness's comparison against the
//! official Python client (`cargo run --release -p feedgate-bench -- decode`).

mod frames;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feedgate_kite::{Message, parse_message};
use std::hint::black_box;

/// Decodes every packet; `black_box` on each one keeps every field materialised, so the
/// compiler cannot skip decoding fields nobody reads.
fn decode_all(msg: &[u8]) -> usize {
    let Ok(Message::Packets(packets)) = parse_message(msg) else {
        return 0;
    };
    let mut decoded = 0;
    for packet in packets {
        black_box(&packet);
        decoded += usize::from(packet.is_ok());
    }
    decoded
}

fn bench(c: &mut Criterion) {
    for name in frames::KINDS {
        let mut group = c.benchmark_group(format!("decode/{name}"));
        for count in frames::COUNTS {
            let frame = frames::frame(name, count);
            group.throughput(Throughput::Elements(u64::from(count)));
            group.bench_function(count.to_string(), |b| {
                b.iter(|| decode_all(black_box(&frame)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
