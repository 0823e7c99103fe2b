//! What the gateway leaves in its data directory, as tests read it: temp files an interrupted
//! atomic write left behind ([`temp_files`]), the day files of candles ([`candle_files`]) and
//! their rows ([`csv_rows`]), and candles as comparable text ([`candle_text`]).

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

use feedgate_gateway::store::atomic::TEMP_PREFIX;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The header line of a candle file.
pub const CSV_HEADER: &str = "symbol,token,time,open,high,low,close,volume";

/// Temp files of unfinished atomic writes, in the data directory and its `candles/`.
pub fn temp_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for d in [dir.to_path_buf(), dir.join("candles")] {
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(TEMP_PREFIX) {
                    out.push(e.path().display().to_string());
                }
            }
        }
    }
    out
}

/// The names of the candle files (`candles/<date>.csv`), sorted; none if there is no folder.
pub fn candle_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("candles"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A candle (WebSocket message, `/api/candles` entry) as comparable text:
/// `time open high low close volume`, numbers as the gateway printed them.
pub fn candle_text(v: &Value) -> String {
    format!(
        "{} {} {} {} {} {}",
        v["t"].as_str().unwrap(),
        v["open"],
        v["high"],
        v["low"],
        v["close"],
        v["volume"]
    )
}

/// The rows of one symbol in a candle CSV, as [`candle_text`]; panics on a malformed row.
pub fn csv_rows(text: &str, symbol: &str) -> Vec<String> {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(CSV_HEADER));
    lines
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 8, "malformed row {l:?}");
            (f[0] == symbol).then(|| f[2..].join(" "))
        })
        .collect()
}

/// The binary `FEEDGATE_BIN` names (`./scripts/test` builds it first and sets it, so CI always
/// runs this test), else `target/debug/feedgate` if a developer built it.
pub fn feedgate_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("FEEDGATE_BIN") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.exists(),
            "FEEDGATE_BIN={} does not exist",
            bin.display()
        );
        return Some(bin);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/feedgate");
    p.exists().then_some(p)
}
