//! The upstream's side of recording: [`FrameTap::offer`] hands a received frame to the
//! recorder task without ever waiting (a full channel counts the frame as dropped), and
//! [`RecordStats`] is what the recorder reports (health, metrics).

use super::format::{Frame, FrameKind};
use bytes::Bytes;
use chrono::NaiveDate;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use tokio::sync::mpsc;

/// Frames the channel to the recorder holds. A broker frame carries many ticks (Kite packs a
/// whole batch into one), so this is seconds of a busy feed: the recorder only falls this far
/// behind when the disk stalls.
pub const CHANNEL_FRAMES: usize = 16_384;

/// Counters shared by the tap, the recorder task and the health document.
#[derive(Debug, Default)]
pub struct RecordStats {
    pub enabled: AtomicBool,
    /// Frames the recorder could not take (channel full) or could not write (disk errors).
    pub dropped_frames: AtomicU64,
    pub frames_written: AtomicU64,
    /// Bytes on disk (blocks and index entries) written since start.
    pub bytes_written: AtomicU64,
    /// The day being written (days since 0001-01-01, 0 = none yet) and its size on disk.
    day: AtomicI32,
    pub bytes_today: AtomicU64,
    /// Whether writing is failing right now (recording paused, retried).
    pub failing: AtomicBool,
}

impl RecordStats {
    pub fn set_day(&self, day: NaiveDate, bytes: u64) {
        use chrono::Datelike;
        self.day.store(day.num_days_from_ce(), Ordering::Relaxed);
        self.bytes_today.store(bytes, Ordering::Relaxed);
    }

    pub fn day(&self) -> Option<NaiveDate> {
        match self.day.load(Ordering::Relaxed) {
            0 => None,
            n => NaiveDate::from_num_days_from_ce_opt(n),
        }
    }
}

/// Where the upstream offers received frames. Cheap to clone (one per connection).
#[derive(Debug, Clone)]
pub struct FrameTap {
    tx: Option<mpsc::Sender<Frame>>,
    /// The connection (shard) this copy records for.
    shard: u16,
    stats: Arc<RecordStats>,
    dropped: metrics::Counter,
}

impl FrameTap {
    /// A tap that records nothing (`FEEDGATE_RECORD=off`, tests).
    pub fn off() -> Self {
        Self {
            tx: None,
            shard: 0,
            stats: Arc::new(RecordStats::default()),
            dropped: metrics::Counter::noop(),
        }
    }

    /// A tap and the receiving end for the recorder task.
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<Frame>) {
        let (tx, rx) = mpsc::channel(capacity);
        let stats = Arc::new(RecordStats::default());
        stats.enabled.store(true, Ordering::Relaxed);
        let tap = Self {
            tx: Some(tx),
            shard: 0,
            stats,
            dropped: metrics::counter!("feedgate_record_dropped_frames_total"),
        };
        (tap, rx)
    }

    /// The same tap, recording for shard `shard`.
    pub fn for_shard(&self, shard: usize) -> Self {
        Self {
            shard: u16::try_from(shard).unwrap_or(u16::MAX),
            ..self.clone()
        }
    }

    pub fn is_on(&self) -> bool {
        self.tx.is_some()
    }

    pub fn stats(&self) -> &Arc<RecordStats> {
        &self.stats
    }

    /// Hands a received frame to the recorder, or counts it as dropped. Never waits.
    #[inline]
    pub fn offer(&self, ts_ns: i64, kind: FrameKind, data: Bytes) {
        let Some(tx) = &self.tx else {
            return;
        };
        let frame = Frame {
            ts_ns,
            shard: self.shard,
            kind,
            data,
        };
        if tx.try_send(frame).is_err() {
            self.stats.dropped_frames.fetch_add(1, Ordering::Relaxed);
            self.dropped.increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_channel_drops_and_counts_without_waiting() {
        let (tap, mut rx) = FrameTap::channel(2);
        let tap = tap.for_shard(3);
        for i in 0..5 {
            tap.offer(i, FrameKind::Binary, Bytes::from_static(b"x"));
        }
        assert_eq!(tap.stats().dropped_frames.load(Ordering::Relaxed), 3);
        let first = rx.try_recv().unwrap();
        assert_eq!((first.ts_ns, first.shard), (0, 3));
        assert_eq!(rx.try_recv().unwrap().ts_ns, 1);
        assert!(rx.try_recv().is_err());
        drop(rx);
        tap.offer(9, FrameKind::Text, Bytes::new());
        assert_eq!(
            tap.stats().dropped_frames.load(Ordering::Relaxed),
            4,
            "a stopped recorder counts as dropped too"
        );
    }

    #[test]
    fn an_off_tap_takes_nothing_and_reports_off() {
        let tap = FrameTap::off();
        tap.offer(1, FrameKind::Binary, Bytes::from_static(b"x"));
        assert!(!tap.is_on());
        assert!(!tap.stats().enabled.load(Ordering::Relaxed));
        assert_eq!(tap.stats().dropped_frames.load(Ordering::Relaxed), 0);
    }
}
