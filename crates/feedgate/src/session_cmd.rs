//! `feedgate session [--at RFC3339] [--exchange NSE]`: the market-session JSON (the same shape
//! as `/api/system/health/market`) for now or a given instant, on stdout.

use anyhow::Context;
use chrono::{DateTime, Utc};
use feedgate_session::{Segment, market_status};
use std::io::Write;
use std::process::ExitCode;

pub fn run(at: Option<String>, exchange: &str) -> anyhow::Result<ExitCode> {
    let segment: Segment = exchange
        .parse()
        .map_err(|e| anyhow::anyhow!("--exchange: {e}"))?;
    let instant = match at {
        None => Utc::now(),
        Some(s) => DateTime::parse_from_rfc3339(s.trim())
            .map(|d| d.to_utc())
            .with_context(|| {
                format!("--at {s:?} is not an RFC 3339 instant; use e.g. 2026-01-26T10:00:00+05:30")
            })?,
    };
    let calendar = crate::calendar::load()?;
    let status = market_status(&calendar, segment, instant);
    let json = serde_json::to_string_pretty(&status)?;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{json}") {
        // `feedgate session | head` closing the pipe early is not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
