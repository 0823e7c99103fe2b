//! Client JSON encoding of one tick (`write_ticker`) in each mode: the work the hub does once
//! per tick per mode wanted, shared by every subscriber. Throughput in bytes is the JSON size.

mod fixtures;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feedgate_gateway::json::ticker::{Freshness, write_ticker};
use feedgate_gateway::model::tick::Mode;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let inst = fixtures::sbin();
    let tick = fixtures::full_tick(1_234_567);
    let mut group = c.benchmark_group("encode");
    for mode in Mode::ALL {
        let mut out = String::with_capacity(2048);
        write_ticker(&mut out, &tick, &inst, mode, Freshness::Live);
        group.throughput(Throughput::Bytes(out.len() as u64));
        group.bench_function(mode.as_str(), |b| {
            b.iter(|| {
                out.clear();
                write_ticker(
                    &mut out,
                    black_box(&tick),
                    black_box(&inst),
                    mode,
                    Freshness::Live,
                );
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
