//! Kite frame decoding, feedgate vs the official Python client (`kiteconnect.KiteTicker.
//! _parse_binary`), side by side in one run on the same bytes: the frames of the criterion
//! decode bench (`crates/protocol-kite/benches/frames`, included below by path so that both
//! decode exactly the same frames), timed here like `timeit` does (median of repeats), then
//! handed to `bench/pyk_decode.py` in the test venv. Rust is measured before and after Python
//! and the median taken over both passes, so a noisy neighbour affects both sides alike.

#[path = "../../protocol-kite/benches/frames/mod.rs"]
mod frames;

use anyhow::{Context, bail};
use feedgate_kite::{Message, parse_message};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

const REPEATS: usize = 9;
const PER_REPEAT: Duration = Duration::from_millis(40);

#[derive(Debug, Clone)]
pub struct DecodeRow {
    pub kind: &'static str,
    pub count: u32,
    pub feedgate_ns: f64,
    pub pyk_ns: f64,
}

impl DecodeRow {
    pub fn ratio(&self) -> f64 {
        self.pyk_ns / self.feedgate_ns
    }
}

/// Same work as the criterion bench: every packet decoded and kept observable.
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

/// ns per packet of each of [`REPEATS`] timed loops.
fn time_rust(frame: &[u8], count: u32) -> Vec<f64> {
    // Calibrate the loop count to ~PER_REPEAT.
    let mut n: u64 = 1;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            black_box(decode_all(black_box(frame)));
        }
        if t.elapsed() >= PER_REPEAT / 4 || n >= 1 << 30 {
            let per = t.elapsed().as_secs_f64() / n as f64;
            n = ((PER_REPEAT.as_secs_f64() / per) as u64).max(1);
            break;
        }
        n *= 4;
    }
    (0..REPEATS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                black_box(decode_all(black_box(frame)));
            }
            t.elapsed().as_secs_f64() * 1e9 / n as f64 / f64::from(count)
        })
        .collect()
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub fn run(python: &Path, script: &Path) -> anyhow::Result<Vec<DecodeRow>> {
    let cases: Vec<(&'static str, u32, Vec<u8>)> = frames::KINDS
        .iter()
        .flat_map(|k| frames::COUNTS.iter().map(move |c| (*k, *c)))
        .map(|(k, c)| (k, c, frames::frame(k, c).to_vec()))
        .collect();
    for (k, c, f) in &cases {
        if decode_all(f) != *c as usize {
            bail!("feedgate decoded a {k} frame of {c} packets wrongly");
        }
    }
    let first: Vec<Vec<f64>> = cases.iter().map(|(_, c, f)| time_rust(f, *c)).collect();

    let py = python_baseline(python, script, &cases)?;
    let second: Vec<Vec<f64>> = cases.iter().map(|(_, c, f)| time_rust(f, *c)).collect();
    cases
        .iter()
        .enumerate()
        .map(|(i, (kind, count, _))| {
            let pyk_ns = py
                .get(i)
                .filter(|p| p["kind"] == *kind && p["count"] == *count)
                .and_then(|p| p["ns_per_packet"].as_f64())
                .with_context(|| format!("no Python figure for {kind}/{count}"))?;
            Ok(DecodeRow {
                kind,
                count: *count,
                feedgate_ns: median(&mut [first[i].clone(), second[i].clone()].concat()),
                pyk_ns,
            })
        })
        .collect()
}

/// The official Python client's ns per packet for every case, in the order of `cases`.
fn python_baseline(
    python: &Path,
    script: &Path,
    cases: &[(&'static str, u32, Vec<u8>)],
) -> anyhow::Result<Vec<serde_json::Value>> {
    let dir = tempfile::tempdir()?;
    let manifest = dir.path().join("frames.json");
    let json: Vec<serde_json::Value> = cases
        .iter()
        .map(|(k, c, f)| {
            let hex: String = f.iter().map(|b| format!("{b:02x}")).collect();
            serde_json::json!({"kind": k, "count": c, "hex": hex})
        })
        .collect();
    std::fs::write(&manifest, serde_json::to_vec(&json)?)?;
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&manifest)
        .output()
        .with_context(|| {
            format!(
                "cannot run {} (create the venv with ./scripts/setup-test-deps)",
                python.display()
            )
        })?;
    if !out.status.success() {
        bail!(
            "the Python baseline failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("the Python baseline's output")
}
