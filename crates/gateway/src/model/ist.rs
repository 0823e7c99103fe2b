//! IST (UTC+05:30) RFC 3339 timestamps, fast: the tick encoder writes one per message, and
//! India has had no DST since 1945, so a fixed offset is exact for every market instant.

use crate::model::price::TextBuf;

/// Offset of IST from UTC in seconds.
pub const IST_OFFSET_SECS: i64 = 19_800;

/// Appends `YYYY-MM-DDTHH:MM:SS+05:30` for a Unix timestamp in seconds.
pub fn write_ist(out: &mut impl TextBuf, unix_secs: i64) {
    let local = unix_secs + IST_OFFSET_SECS;
    let days = local.div_euclid(86_400);
    let sod = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (sod / 3600, (sod / 60) % 60, sod % 60);
    push4(out, y);
    out.push_ascii(b'-');
    push2(out, m);
    out.push_ascii(b'-');
    push2(out, d);
    out.push_ascii(b'T');
    push2(out, hh);
    out.push_ascii(b':');
    push2(out, mm);
    out.push_ascii(b':');
    push2(out, ss);
    out.push_str("+05:30");
}

/// The same as a `String`.
pub fn ist_string(unix_secs: i64) -> String {
    let mut s = String::with_capacity(25);
    write_ist(&mut s, unix_secs);
    s
}

fn push2(out: &mut impl TextBuf, v: i64) {
    let v = v.clamp(0, 99) as u8;
    out.push_ascii(b'0' + v / 10);
    out.push_ascii(b'0' + v % 10);
}

fn push4(out: &mut impl TextBuf, v: i64) {
    let v = v.clamp(0, 9999);
    push2(out, v / 100);
    push2(out, v % 100);
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, TimeZone};

    #[test]
    fn known_instants() {
        assert_eq!(ist_string(1_625_461_887), "2021-07-05T10:41:27+05:30");
        assert_eq!(ist_string(0), "1970-01-01T05:30:00+05:30");
        // 2026-11-23 10:15:02 IST
        assert_eq!(ist_string(1_795_409_102), "2026-11-23T10:15:02+05:30");
    }

    proptest::proptest! {
        #[test]
        fn matches_chrono(secs in 0i64..4_102_444_800) {
            let ist = FixedOffset::east_opt(19_800).unwrap();
            let want = ist.timestamp_opt(secs, 0).unwrap().format("%Y-%m-%dT%H:%M:%S%:z").to_string();
            proptest::prop_assert_eq!(ist_string(secs), want);
        }
    }
}
