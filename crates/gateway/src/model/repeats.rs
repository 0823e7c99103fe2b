//! "Log once, then summarise": a small helper so a failure that repeats every few seconds
//! produces one log line when it starts, one when it changes, and one when it ends — never a
//! hundred identical lines.

/// Tracks the current kind of repeating event.
#[derive(Debug, Default, Clone)]
pub struct Repeats {
    current: Option<String>,
    suppressed: u64,
}

impl Repeats {
    /// Records an occurrence of `kind`. Returns `true` when it should be logged: the first
    /// occurrence, or a different kind than the last.
    pub fn occur(&mut self, kind: &str) -> bool {
        if self.current.as_deref() == Some(kind) {
            self.suppressed += 1;
            false
        } else {
            self.current = Some(kind.to_string());
            self.suppressed = 0;
            true
        }
    }

    /// The condition ended. Returns how many repeats were not logged, if any occurred at all.
    pub fn clear(&mut self) -> Option<u64> {
        self.current
            .take()
            .map(|_| std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_first_and_changes_only() {
        let mut r = Repeats::default();
        assert!(r.occur("403"));
        assert!(!r.occur("403"));
        assert!(!r.occur("403"));
        assert!(r.occur("timeout"));
        assert!(!r.occur("timeout"));
        assert_eq!(r.clear(), Some(1));
        assert_eq!(r.clear(), None);
        assert!(r.occur("403"), "a new episode logs again");
    }
}
