//! The soak in the test suite (issue 13): whole simulated days through the shared driver
//! (`feedgate_bench::soak`), in paused time, failing on any missed target: a stuck client, a
//! stale share over 0.1 %, an HTTP 429, more refused WebSocket attempts than token expiries, an
//! 08:50 check that misses the expired token, a close without its candle file.
//!
//! `FEEDGATE_SOAK_DAYS` (default 1: one trading day with about forty faults, the CI run) and
//! `FEEDGATE_SOAK_SEED` (default 1) choose the run; `feedgate-bench soak --days N` is the long
//! one the README reports.

use feedgate_bench::soak::{SoakSpec, run};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(start_paused = true)]
async fn soak() {
    let spec = SoakSpec::new(
        env_or("FEEDGATE_SOAK_DAYS", 1),
        env_or("FEEDGATE_SOAK_SEED", 1),
    );
    let report = run(&spec, |so_far| {
        if let Some(d) = so_far.days.last() {
            eprintln!("{d:?}");
        }
    })
    .await
    .unwrap();
    eprintln!("{}", report.table());
    assert!(report.trading_days() >= 1, "a trading day was run");
    assert!(
        report.faults.len() >= 10,
        "a trading day brings faults: {}",
        report.faults.len()
    );
    assert!(
        report.faults.iter().any(|f| f.time_to_data.is_some()),
        "recoveries are measured"
    );
    let missed = report.violations();
    assert!(missed.is_empty(), "targets missed: {missed:#?}");
}
