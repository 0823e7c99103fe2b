//! Which recorded days to delete: everything older than the retention period, then the oldest
//! days until the total fits the size cap (pure: [`choose`]), and the file-system side (sizes
//! of the day directories, deleting one). Today is never chosen: the recorder is writing it.

use chrono::NaiveDate;
use std::path::Path;

/// The limits, from `FEEDGATE_RECORD_RETENTION_DAYS` and `FEEDGATE_RECORD_MAX_GB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Days kept, today included.
    pub days: u32,
    pub max_bytes: u64,
}

/// Why a day goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Age,
    Size,
}

/// The days to delete, oldest first, given every recorded day and its size.
pub fn choose(
    days: &[(NaiveDate, u64)],
    today: NaiveDate,
    limits: Retention,
) -> Vec<(NaiveDate, Reason)> {
    let mut sorted: Vec<(NaiveDate, u64)> = days.to_vec();
    sorted.sort();
    let keep_from = today - chrono::Days::new(u64::from(limits.days.saturating_sub(1)));
    let mut total: u64 = sorted.iter().map(|(_, b)| b).sum();
    let mut out = Vec::new();
    for (day, bytes) in sorted {
        if day == today {
            continue;
        }
        let reason = if day < keep_from {
            Reason::Age
        } else if total > limits.max_bytes {
            Reason::Size
        } else {
            continue;
        };
        total = total.saturating_sub(bytes);
        out.push((day, reason));
    }
    out
}

/// Every `YYYY-MM-DD` directory under `root` and the bytes of the files in it.
pub fn day_sizes(root: &Path) -> std::io::Result<Vec<(NaiveDate, u64)>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Ok(day) = NaiveDate::parse_from_str(&name.to_string_lossy(), "%Y-%m-%d") else {
            continue;
        };
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.push((day, dir_bytes(&entry.path())));
        }
    }
    Ok(out)
}

/// The bytes of the files directly in `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    const GB: u64 = 1 << 30;

    #[test]
    fn age_then_size_oldest_first_never_today() {
        let today = d("2026-12-07");
        let days = [
            (d("2026-12-07"), 9 * GB),
            (d("2026-11-07"), GB),
            (d("2026-11-08"), GB),
            (d("2026-12-01"), 5 * GB),
            (d("2026-12-04"), 5 * GB),
            (d("2026-12-05"), 5 * GB),
        ];
        let limits = Retention {
            days: 30,
            max_bytes: 20 * GB,
        };
        // 11-07 is 30 days back: outside a 30-day window that includes today. 11-08 is the
        // window's first day. Then 26 GB → 20 GB takes 11-08 (1) and 12-01 (5).
        assert_eq!(
            choose(&days, today, limits),
            vec![
                (d("2026-11-07"), Reason::Age),
                (d("2026-11-08"), Reason::Size),
                (d("2026-12-01"), Reason::Size),
            ]
        );
    }

    #[test]
    fn today_alone_over_the_cap_is_kept() {
        let today = d("2026-12-07");
        let limits = Retention {
            days: 1,
            max_bytes: GB,
        };
        let days = [(today, 3 * GB), (d("2026-12-06"), 1)];
        assert_eq!(
            choose(&days, today, limits),
            vec![(d("2026-12-06"), Reason::Age)]
        );
        assert!(choose(&[(today, 3 * GB)], today, limits).is_empty());
    }

    #[test]
    fn within_limits_nothing_goes() {
        let today = d("2026-12-07");
        let limits = Retention {
            days: 30,
            max_bytes: 20 * GB,
        };
        assert!(choose(&[(d("2026-12-06"), GB), (today, GB)], today, limits).is_empty());
    }

    #[test]
    fn sizes_come_from_day_directories_only() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("2026-12-06")).unwrap();
        std::fs::write(root.path().join("2026-12-06/seg-000001.fgr"), [0u8; 100]).unwrap();
        std::fs::write(root.path().join("2026-12-06/seg-000001.idx"), [0u8; 32]).unwrap();
        std::fs::create_dir_all(root.path().join("not-a-day")).unwrap();
        std::fs::write(root.path().join("2026-12-05"), b"a file, not a day").unwrap();
        assert_eq!(
            day_sizes(root.path()).unwrap(),
            vec![(d("2026-12-06"), 132)]
        );
        assert!(day_sizes(&root.path().join("missing")).unwrap().is_empty());
    }
}
