//! Loads the exchange calendar: the built-in one, extended by `FEEDGATE_CALENDAR` when set.

use anyhow::Context;
use feedgate_session::Calendar;
use std::path::Path;

pub fn load() -> anyhow::Result<Calendar> {
    match std::env::var_os("FEEDGATE_CALENDAR").filter(|v| !v.is_empty()) {
        None => Ok(Calendar::builtin()),
        Some(path) => load_from(Path::new(&path)),
    }
}

pub fn load_from(path: &Path) -> anyhow::Result<Calendar> {
    Calendar::load_with_override(path).with_context(|| {
        format!(
            "FEEDGATE_CALENDAR={} could not be used; fix the file or unset the variable (see crates/session/CALENDAR-UPDATE.md)",
            path.display()
        )
    })
}
