//! The results table: one Markdown table for every scenario (medians over the runs), plus the
//! decode comparison, printed to stdout; progress goes to stderr.

use crate::chaos::ChaosResult;
use crate::decode::{DecodeRow, median};
use crate::scenario::{IdleResult, LoadResult, LoadSpec};
use std::io::Write;

#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<[String; 10]>,
    decode: Vec<DecodeRow>,
    /// The chaos run's own Markdown (its columns are not the load scenarios').
    chaos: Vec<String>,
    failures: usize,
}

fn med(results: &[LoadResult], f: impl Fn(&LoadResult) -> f64) -> f64 {
    median(&mut results.iter().map(f).collect::<Vec<_>>())
}

fn range(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{min:.3}–{max:.3}")
}

impl Table {
    pub fn load(&mut self, name: &str, spec: &LoadSpec, results: &[LoadResult]) {
        let p99s: Vec<f64> = results.iter().map(|r| r.p99_ms).collect();
        let lost: usize = results.iter().map(|r| r.clients_lost).sum();
        let unmatched: u64 = results.iter().map(|r| r.unmatched).sum();
        let mut notes = format!(
            "n={}; p99 range {} ms; max {:.1} ms; hub in {:.0} ticks/s; peak RSS {:.1} MiB",
            results.len(),
            range(&p99s),
            med(results, |r| r.max_ms),
            med(results, |r| r.hub_ticks_per_s),
            med(results, |r| r.gateway_hwm_mib)
        );
        if lost > 0 || unmatched > 0 {
            notes.push_str(&format!("; lost clients {lost}, unmatched {unmatched}"));
        }
        self.rows.push([
            name.to_string(),
            spec.describe(),
            format!("{:.3}", med(results, |r| r.p50_ms)),
            format!("{:.3}", med(results, |r| r.p99_ms)),
            format!("{:.3}", med(results, |r| r.p999_ms)),
            format!("{:.0}", med(results, |r| r.delivered_per_s)),
            format!("{:.0}", med(results, |r| r.conflated_per_s)),
            format!(
                "{:.0} % / {:.0} %",
                med(results, |r| r.gateway_cpu),
                med(results, |r| r.harness_cpu)
            ),
            format!("{:.1}", med(results, |r| r.gateway_rss_mib)),
            notes,
        ]);
    }

    pub fn idle(&mut self, name: &str, results: &[IdleResult]) {
        let m = |f: fn(&IdleResult) -> f64| median(&mut results.iter().map(f).collect::<Vec<_>>());
        let per: Vec<f64> = results.iter().map(|r| r.kib_per_client).collect();
        let clients = results.first().map_or(0, |r| r.clients);
        self.rows.push([
            name.to_string(),
            format!("{clients} idle clients (connected, no subscription)"),
            "–".into(),
            "–".into(),
            "–".into(),
            "–".into(),
            "–".into(),
            format!("{:.0} % / –", m(|r| r.gateway_cpu)),
            format!("{:.1}", m(|r| r.rss_after_mib)),
            format!(
                "**{:.2} KiB RSS per client** (n={}, range {} KiB; gateway {:.1} → {:.1} MiB)",
                m(|r| r.kib_per_client),
                results.len(),
                range(&per),
                m(|r| r.rss_before_mib),
                m(|r| r.rss_after_mib)
            ),
        ]);
    }

    pub fn recovery(&mut self, name: &str, what: &str, secs: &[f64]) {
        self.rows.push([
            name.to_string(),
            format!("{what} (10 clients × 50 symbols, 10k ticks/s)"),
            "–".into(),
            "–".into(),
            "–".into(),
            "–".into(),
            "–".into(),
            "–".into(),
            "–".into(),
            format!(
                "**{:.3} s** (n={}, range {} s)",
                median(&mut secs.to_vec()),
                secs.len(),
                range(secs)
            ),
        ]);
    }

    pub fn failed(&mut self, name: &str, error: &anyhow::Error) {
        eprintln!("{name}: FAILED: {error:#}");
        let mut row: [String; 10] = Default::default();
        row[0] = name.to_string();
        row[1] = "FAILED".into();
        row[9] = format!("{error:#}").replace('|', "/");
        self.rows.push(row);
        self.failures += 1;
    }

    pub fn has_failures(&self) -> bool {
        self.failures > 0
    }

    pub fn chaos(&mut self, result: &ChaosResult) {
        self.chaos.extend(crate::chaos::table::render(result));
    }

    pub fn decode(&mut self, rows: &[DecodeRow]) {
        self.decode.extend_from_slice(rows);
    }

    pub fn print(&self) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        if !self.decode.is_empty() {
            writeln!(
                out,
                "\n| decode | packets/frame | feedgate ns/packet | M packets/s/core | pyK ns/packet | pyK ÷ feedgate |"
            )?;
            writeln!(out, "|---|---:|---:|---:|---:|---:|")?;
            for r in &self.decode {
                writeln!(
                    out,
                    "| {} | {} | {:.1} | {:.1} | {:.0} | **{:.0}×** |",
                    r.kind,
                    r.count,
                    r.feedgate_ns,
                    1e3 / r.feedgate_ns,
                    r.pyk_ns,
                    r.ratio()
                )?;
            }
        }
        if !self.rows.is_empty() {
            writeln!(
                out,
                "\n| scenario | setup | p50 ms | p99 ms | p99.9 ms | delivered msg/s | conflated/s | CPU gateway / harness | gateway RSS MiB | notes |"
            )?;
            writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|")?;
            for r in &self.rows {
                writeln!(out, "| {} |", r.join(" | "))?;
            }
        }
        for line in &self.chaos {
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        Ok(())
    }
}
