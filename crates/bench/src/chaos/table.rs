//! The chaos run's Markdown: one row per fault kind with issue 13's target beside the result,
//! the stale share, a row per injected fault, and notes (ticks, normal intervals, health modes,
//! simulator counters).

use super::faults::{KINDS, Kind};
use super::{ChaosResult, FaultOutcome};
use crate::decode::median;

/// Which figure a target is about.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    Gap,
    TimeToData,
}

/// Issue 13's target for a kind: the figure, its limit and how the issue says it.
fn target(kind: Kind, normal_max: f64) -> Option<(Metric, f64, String)> {
    Some(match kind {
        Kind::Drop => (Metric::TimeToData, 1.0, "time to data ≤ 1 s".into()),
        Kind::Stall => (
            Metric::TimeToData,
            4.0,
            "time to data ≤ 4 s from its start".into(),
        ),
        Kind::RejectWs => (Metric::Gap, 2.0, "gap ≤ 2 s".into()),
        Kind::Malformed => (
            Metric::Gap,
            normal_max,
            format!("no gap: ≤ the longest normal interval ({normal_max:.3} s)"),
        ),
        Kind::ExpireToken => (
            Metric::TimeToData,
            2.0,
            "time to data ≤ 2 s after the re-login".into(),
        ),
        Kind::HeartbeatFlood => return None,
    })
}

fn fmt(v: Option<f64>) -> String {
    v.map_or_else(|| "none by the end".into(), |s| format!("{s:.3}"))
}

/// Median and max of a figure over faults; `None` in the max when one fault had none.
fn stats(faults: &[&FaultOutcome], f: fn(&FaultOutcome) -> Option<f64>) -> (String, String) {
    let mut known: Vec<f64> = faults.iter().filter_map(|o| f(o)).collect();
    let missing = known.len() < faults.len();
    let max = known.iter().copied().reduce(f64::max);
    let med = if known.is_empty() {
        None
    } else {
        Some(median(&mut known))
    };
    (fmt(med), if missing { fmt(None) } else { fmt(max) })
}

fn kind_row(r: &ChaosResult, kind: Kind) -> Option<String> {
    let of_kind: Vec<&FaultOutcome> = r.faults.iter().filter(|f| f.kind == kind).collect();
    if of_kind.is_empty() {
        return None;
    }
    let (gap_med, gap_max) = stats(&of_kind, |f| f.gap);
    let (ttd_med, ttd_max) = stats(&of_kind, |f| f.time_to_data);
    let (goal, verdict) = match target(kind, r.normal_max) {
        Some((metric, limit, text)) => {
            let worst = of_kind.iter().map(|f| match metric {
                Metric::Gap => f.gap,
                Metric::TimeToData => f.time_to_data,
            });
            let worst = worst.collect::<Option<Vec<f64>>>();
            let worst = worst.and_then(|v| v.into_iter().reduce(f64::max));
            let ok = worst.is_some_and(|w| w <= limit);
            (
                text,
                format!("{} {}", if ok { "✔" } else { "✘" }, fmt(worst)),
            )
        }
        None => ("–".into(), "–".into()),
    };
    let name = match kind {
        Kind::ExpireToken => "expire_token + re-login",
        k => k.name(),
    };
    Some(format!(
        "| {name} | {} | {gap_med} | {gap_max} | {ttd_med} | {ttd_max} | {goal} | {verdict} |",
        of_kind.len()
    ))
}

fn fault_row(i: usize, f: &FaultOutcome) -> String {
    let what = match f.seconds {
        Some(s) => format!("{} {s:.1} s", f.kind.name()),
        None => f.kind.name().to_string(),
    };
    let note = match &f.login {
        Some(Ok(at)) => format!("re-login done at {at:.1} s ({:.1} s after)", at - f.at),
        Some(Err(e)) => format!("re-login FAILED: {}", e.replace('|', "/")),
        None => String::new(),
    };
    format!(
        "| {} | {:.1} | {what} | {} | {} | {note} |",
        i + 1,
        f.at,
        fmt(f.gap),
        fmt(f.time_to_data)
    )
}

fn header(r: &ChaosResult) -> String {
    let kinds: Vec<&str> = r.spec.kinds.iter().map(|k| k.name()).collect();
    let mut s = format!(
        "\n**chaos**: {:.0} s, seed {}, a fault every {:.0}–{:.0} s drawn from {}; 1 client × 10 \
         symbols (20 ticks/s each), quote, throttle 0",
        r.run_secs,
        r.spec.seed,
        r.spec.interval.start(),
        r.spec.interval.end(),
        kinds.join(", ")
    );
    let missing: Vec<&str> = KINDS
        .iter()
        .filter(|k| !k.available())
        .map(|k| k.name())
        .collect();
    if !missing.is_empty() {
        s.push_str(&format!(
            " ({} not in this simulator build: not drawn)",
            missing.join(", ")
        ));
    }
    s
}

/// The Markdown lines.
pub fn render(r: &ChaosResult) -> Vec<String> {
    let mut out = vec![
        header(r),
        String::new(),
        "| fault | n | gap median s | gap max s | time to data median s | time to data max s | target | result |".into(),
        "|---|---:|---:|---:|---:|---:|---|---|".into(),
    ];
    out.extend(KINDS.iter().filter_map(|&k| kind_row(r, k)));
    let ok = r.stale_share <= 0.02;
    out.push(format!(
        "| whole run | {} | | | | | stale share ≤ 2 % | {} {:.2} % |",
        r.faults.len(),
        if ok { "✔" } else { "✘" },
        r.stale_share * 100.0
    ));
    out.push(String::new());
    out.push("| # | at s | fault | gap s | time to data s | note |".into());
    out.push("|---:|---:|---|---:|---:|---|".into());
    out.extend(r.faults.iter().enumerate().map(|(i, f)| fault_row(i, f)));
    out.push(String::new());
    out.extend(notes(r));
    out
}

fn notes(r: &ChaosResult) -> Vec<String> {
    let src: Vec<String> = r.by_src.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let mut out = vec![format!(
        "- client: {} fresh ticks (by src: {}; cache ignored), {} error messages{}",
        r.fresh_ticks,
        src.join(", "),
        r.client_errors,
        r.client_ended
            .as_ref()
            .map_or(String::new(), |e| format!("; CONNECTION ENDED: {e}"))
    )];
    out.push(format!(
        "- normal interval between two ticks of a symbol: median {:.3} s, longest {:.3} s",
        r.normal_median, r.normal_max
    ));
    for (what, counts) in &r.health {
        let c: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v} s")).collect();
        out.push(format!(
            "- health ({what}, polled every 1 s): {}",
            c.join(", ")
        ));
    }
    out.push(format!("- simulator: {}", r.sim.join("; ")));
    out
}
