//! A whole simulated trading day written as a recording (issue 17): the simulator's market for
//! N instruments at its own pace (each instrument about once a second, jittered, as Kite sends
//! a busy instrument) from 09:15 to 15:30 IST, every round encoded as the simulator's ticker
//! sends it, and the frames written through the recorder's own block builder and segment
//! writer (blocks sealed every second of market time or at `BLOCK_BYTES`). What it reports is
//! measured on disk, not estimated: the day's files, and the CPU the writing took.
//!
//! No sockets and no real time: the market is stepped as fast as it computes, so a day of 2,000
//! instruments (45 million ticks) takes about a minute.

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use feedgate_gateway::store::recording::format::{Frame, FrameKind, RecordedBroker};
use feedgate_gateway::store::recording::reader::{DayRecording, day_dir};
use feedgate_gateway::store::recording::writer::{BLOCK_BYTES, BlockBuilder, SegmentWriter};
use feedgate_sim::market::{Market, Pace, TICK_PERIOD};
use feedgate_sim::universe::{Universe, build_universe_with_synthetic};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One recorded day to simulate.
#[derive(Debug, Clone)]
pub struct DaySpec {
    pub instruments: usize,
    pub mode: feedgate_kite::Mode,
    /// Market time recorded (09:15 to 15:30 is 22,500 s).
    pub seconds: u64,
    /// zstd level of the blocks.
    pub level: i32,
    pub seed: u64,
}

/// What the day cost.
#[derive(Debug, Clone)]
pub struct DayResult {
    pub ticks: u64,
    pub frames: u64,
    /// Frame bytes as received (uncompressed).
    pub raw_bytes: u64,
    /// The day's files on disk (segments and indexes).
    pub disk_bytes: u64,
    /// Time spent in the recorder's work (adding frames to blocks, compressing and writing
    /// them; the market and the frame encoding are the simulator's and not counted), measured
    /// around those calls on this one thread.
    pub record_time: Duration,
    pub wall: Duration,
}

impl DayResult {
    pub fn bytes_per_mtick(&self) -> f64 {
        self.disk_bytes as f64 / self.ticks.max(1) as f64 * 1e6
    }

    pub fn record_ns_per_tick(&self) -> f64 {
        self.record_time.as_nanos() as f64 / self.ticks.max(1) as f64
    }
}

/// The first `n` instruments of the simulator's universe (catalogue, then synthetic stocks),
/// every one on the busy pace.
fn universe(day: NaiveDate, n: usize) -> Universe {
    let all = build_universe_with_synthetic(day, n);
    Universe::new(all.instruments().iter().take(n).cloned().collect())
}

/// Writes the day into a temporary directory, measures it and reads it back.
pub fn run(spec: &DaySpec) -> anyhow::Result<DayResult> {
    let day = NaiveDate::from_ymd_opt(2026, 12, 7).context("date")?;
    // 09:15 IST.
    let open = day.and_hms_opt(3, 45, 0).context("time")?.and_utc();
    let universe = Arc::new(universe(day, spec.instruments));
    let pace = Pace {
        rate: None,
        speed: 1.0,
    };
    let mut market = Market::new(universe.clone(), spec.seed, pace, open);
    let root = tempfile::tempdir()?;
    let dir = day_dir(root.path(), day);
    let open_ns = ns(open);
    let mut writer =
        SegmentWriter::create(&dir, RecordedBroker::Kite, open_ns)?.with_level(spec.level)?;
    let mut block = BlockBuilder::default();
    let mut block_from = open_ns;
    let end_tick = spec.seconds * 1_000 / TICK_PERIOD.as_millis() as u64;
    let (mut ticks, mut frames, mut raw) = (0u64, 0u64, 0u64);
    let mut record_time = Duration::ZERO;
    let wall = Instant::now();
    while let Some(tick) = market.next_update(|_| true)
        && tick <= end_tick
    {
        let stepped = market.advance_to(tick, |_| true);
        let ts_ns = open_ns + (tick * TICK_PERIOD.as_nanos() as u64) as i64;
        for round in stepped.values().flatten() {
            let quotes: Vec<_> = round
                .iter()
                .filter_map(|idx| market.quote(*idx).map(|q| (*idx, *q)))
                .collect();
            let data = feedgate_sim::kite::frame(&universe, &quotes, spec.mode);
            ticks += quotes.len() as u64;
            frames += 1;
            raw += data.len() as u64;
            let t0 = Instant::now();
            if block.is_empty() {
                block_from = ts_ns;
            }
            block.push(&Frame {
                ts_ns,
                shard: 0,
                kind: FrameKind::Binary,
                data,
            });
            if block.len() >= BLOCK_BYTES || ts_ns - block_from >= 1_000_000_000 {
                writer.write_block(&mut block)?;
            }
            record_time += t0.elapsed();
        }
    }
    let t0 = Instant::now();
    writer.write_block(&mut block)?;
    writer.sync()?;
    record_time += t0.elapsed();
    let wall = wall.elapsed();
    let disk_bytes = dir_bytes(&dir)?;
    // What was measured is a recording the reader takes whole.
    let mut back = DayRecording::open(root.path(), day)?.frames(i64::MIN, i64::MAX);
    let read = back.by_ref().count() as u64;
    anyhow::ensure!(
        read == frames && back.damage().is_empty(),
        "the recorded day reads back {read} of {frames} frames ({:?})",
        back.damage()
    );
    Ok(DayResult {
        ticks,
        frames,
        raw_bytes: raw,
        disk_bytes,
        record_time,
        wall,
    })
}

fn ns(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or_default()
}

fn dir_bytes(dir: &std::path::Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        total += e?.metadata()?.len();
    }
    Ok(total)
}

/// The day as a README table row.
pub fn row(spec: &DaySpec, r: &DayResult) -> String {
    let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
    format!(
        "| {} × {}, {:.2} h of market, zstd {} | {:.1} M in {:.2} M frames | {:.2} GiB | {:.2} GiB ({:.1}×) | {:.1} MB | {:.0} ns | {:.0} s |",
        spec.instruments,
        format!("{:?}", spec.mode).to_lowercase(),
        spec.seconds as f64 / 3600.0,
        spec.level,
        r.ticks as f64 / 1e6,
        r.frames as f64 / 1e6,
        gib(r.raw_bytes),
        gib(r.disk_bytes),
        r.raw_bytes as f64 / r.disk_bytes.max(1) as f64,
        r.bytes_per_mtick() / 1e6,
        r.record_ns_per_tick(),
        r.wall.as_secs_f64(),
    )
}
