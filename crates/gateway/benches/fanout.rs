//! The hub's fan-out step: `HubCore::on_ticks` with one tick of an instrument that N clients
//! subscribed (quote mode), into their conflating outboxes. Throughput is in client messages
//! (N per tick).
//!
//! - `conflate`: the outboxes are never drained, so every push replaces an undelivered value
//!   (the slow-client path: a lock, a pointer swap, a counter).
//! - `drained`: every outbox is drained before each tick (untimed), so every push takes the
//!   idle → pending path with a wake-up (the fast-client path). Timed with `iter_custom`, so
//!   the drain is excluded; at N = 1 the clock reads (~50 ns) are part of the figure.

mod fixtures;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use feedgate_gateway::hub::{Drained, HubCore, Liveness, Outbox};
use feedgate_gateway::json::request::CandleRequest;
use feedgate_gateway::model::tick::Mode;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LIVE: Liveness = Liveness {
    feed: feedgate_gateway::model::live::FeedLive::ALWAYS,
    now_ms: 1_795_409_102_600,
};

/// A hub with `n` clients subscribed to SBIN in quote mode, and their outboxes.
fn hub_with(n: u64) -> (HubCore, Vec<Arc<Outbox>>) {
    let inst = fixtures::sbin();
    let mut hub = HubCore::new();
    let outboxes: Vec<Arc<Outbox>> = (0..n)
        .map(|client| {
            let outbox = Arc::new(Outbox::new(1 << 20));
            hub.subscribe(
                client,
                &outbox,
                &[(inst.clone(), Mode::Quote)],
                CandleRequest::Keep,
                LIVE,
            );
            outbox
        })
        .collect();
    (hub, outboxes)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    for n in [1u64, 100, 1_000, 10_000] {
        group.throughput(Throughput::Elements(n));

        let (mut hub, _outboxes) = hub_with(n);
        let mut volume = 1_000_000;
        group.bench_with_input(BenchmarkId::new("conflate", n), &n, |b, _| {
            b.iter(|| {
                volume += 1;
                let tick = fixtures::full_tick(volume);
                black_box(hub.on_ticks(std::slice::from_ref(&tick), LIVE))
            })
        });

        let (mut hub, outboxes) = hub_with(n);
        let mut drained = Drained::default();
        group.bench_with_input(BenchmarkId::new("drained", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    for outbox in &outboxes {
                        let _ = outbox.drain_into(&mut drained, true);
                        drained.clear();
                    }
                    volume += 1;
                    let tick = fixtures::full_tick(volume);
                    let started = Instant::now();
                    black_box(hub.on_ticks(std::slice::from_ref(&tick), LIVE));
                    total += started.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
