//! The recorder task: takes the frames the upstream offers ([`FrameTap`]) and writes them to
//! the day's recording (`store::recording`), sealing a block about every second or every
//! [`BLOCK_BYTES`], whichever comes first; opens a new segment per day and per start; applies
//! retention at start, at every new day and every [`RETENTION_EVERY`]. File work runs on the
//! blocking pool. A disk error is logged once, drops the block, pauses recording for
//! [`PAUSE_AFTER_ERROR`] (frames meanwhile are counted as dropped) and then starts a fresh
//! segment: the gateway itself never notices. A flush request (a resume about to read the
//! recording) seals and writes every frame offered before it, then is answered.
//!
//! In a cluster only the leader records, by construction: frames come from the upstream alone,
//! which runs only while this node leads (DESIGN.md §9), and the tick relay feeds the hub, never
//! this tap. An edge's or a standby's recording stays empty; their health shows the leader's
//! `recording` section.

use super::Wiring;
use crate::config::Broker;
use crate::hub::recording::{FlushRequest, RecordingSource};
use crate::model::clock::SharedClock;
use crate::model::repeats::Repeats;
use crate::store::recording::format::{Frame, RecordedBroker};
use crate::store::recording::reader::day_dir;
use crate::store::recording::retention::{self, Retention};
use crate::store::recording::tap::{CHANNEL_FRAMES, FrameTap, RecordStats};
use crate::store::recording::writer::{BLOCK_BYTES, BlockBuilder, SegmentWriter};
use chrono::{DateTime, NaiveDate, Utc};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// A block is sealed at least this often (a `kill -9` loses at most about this much).
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How often retention is applied besides at start and at a new day.
pub const RETENTION_EVERY: Duration = Duration::from_secs(600);
/// How long recording pauses after a disk error before it tries a fresh segment.
pub const PAUSE_AFTER_ERROR: Duration = Duration::from_secs(5);

impl Wiring {
    /// Spawns the recorder if `FEEDGATE_RECORD` is on; the tap the upstream offers frames to,
    /// and the recording as resumes read it (`None` when off).
    pub(super) fn start_recorder(&self) -> (FrameTap, Option<RecordingSource>) {
        let cfg = self.config.record;
        if !cfg.enabled {
            tracing::info!("tick recording is off (FEEDGATE_RECORD=off)");
            return (FrameTap::off(), None);
        }
        let (tap, frames) = FrameTap::channel(CHANNEL_FRAMES);
        let recorder = Recorder::new(
            crate::store::recording::root(&self.config.data_dir),
            match self.config.broker {
                Broker::Kite => RecordedBroker::Kite,
                Broker::Fyers => RecordedBroker::Fyers,
            },
            Retention {
                days: cfg.retention_days,
                max_bytes: cfg.max_bytes,
            },
            self.clock.clone(),
            tap.stats().clone(),
        );
        let (flush, flushes) = mpsc::channel(64);
        let source = RecordingSource {
            root: recorder.root.clone(),
            flush,
            decoder: Arc::new(|| {
                let mut d = crate::brokers::recorded::RecordedDecoder::new();
                Box::new(move |frame, ticks| d.decode(frame, ticks).is_ok())
            }),
        };
        let recorder = recorder.with_flush_requests(flushes);
        tracing::info!(dir = %recorder.root.display(), retention_days = cfg.retention_days, max_gb = cfg.max_bytes >> 30, "recording broker frames");
        self.tracker
            .spawn(recorder.run(frames, self.shutdown.clone()));
        (tap, Some(source))
    }
}

/// The recorder's state between frames.
#[derive(Debug)]
pub struct Recorder {
    root: PathBuf,
    broker: RecordedBroker,
    retention: Retention,
    clock: SharedClock,
    stats: Arc<RecordStats>,
    block: BlockBuilder,
    /// The IST day of the frames in `block` and of `segment`.
    day: Option<NaiveDate>,
    segment: Option<SegmentWriter>,
    /// Recording is paused after a disk error until then.
    paused_until: Option<Instant>,
    errors: Repeats,
    /// Requests to write out every frame offered so far (a resume reads the recording).
    flushes: Option<mpsc::Receiver<FlushRequest>>,
    frames_total: metrics::Counter,
    bytes_total: metrics::Counter,
    dropped_total: metrics::Counter,
}

impl Recorder {
    pub fn new(
        root: PathBuf,
        broker: RecordedBroker,
        retention: Retention,
        clock: SharedClock,
        stats: Arc<RecordStats>,
    ) -> Self {
        Self {
            root,
            broker,
            retention,
            clock,
            stats,
            block: BlockBuilder::default(),
            day: None,
            segment: None,
            paused_until: None,
            errors: Repeats::default(),
            flushes: None,
            frames_total: metrics::counter!("feedgate_record_frames_total"),
            bytes_total: metrics::counter!("feedgate_record_bytes_total"),
            dropped_total: metrics::counter!("feedgate_record_dropped_frames_total"),
        }
    }

    /// The same recorder, answering flush requests: each is answered once every frame
    /// offered before it is on disk.
    pub fn with_flush_requests(mut self, requests: mpsc::Receiver<FlushRequest>) -> Self {
        self.flushes = Some(requests);
        self
    }

    /// Records until shutdown, then writes what it holds and syncs the segment.
    pub async fn run(mut self, mut frames: mpsc::Receiver<Frame>, shutdown: CancellationToken) {
        let mut flushes = self.flushes.take();
        self.apply_retention().await;
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut retention =
            tokio::time::interval_at(Instant::now() + RETENTION_EVERY, RETENTION_EVERY);
        retention.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                f = frames.recv() => match f {
                    Some(f) => self.take(f).await,
                    None => break,
                },
                _ = flush.tick() => self.flush().await,
                Some(ack) = next_request(&mut flushes) => {
                    // Offered before the request was made: already in the channel.
                    while let Ok(f) = frames.try_recv() {
                        self.take(f).await;
                    }
                    self.flush().await;
                    let _ = ack.send(());
                }
                _ = retention.tick() => self.apply_retention().await,
            }
        }
        // What the upstream offered before it stopped.
        while let Ok(f) = frames.try_recv() {
            self.take(f).await;
        }
        self.flush().await;
        self.close_segment().await;
    }

    /// Adds a frame to the block (sealing the block first if the frame starts a new day, and
    /// after it if the block is full).
    async fn take(&mut self, frame: Frame) {
        if self.paused_until.is_some_and(|t| Instant::now() < t) {
            self.drop_frames(1);
            return;
        }
        let day = ist_day(frame.ts_ns);
        if self.day != Some(day) {
            self.flush().await;
            self.close_segment().await;
            self.start_day(day).await;
        }
        self.block.push(&frame);
        if self.block.len() >= BLOCK_BYTES {
            self.flush().await;
        }
    }

    /// A new day: its size so far (an earlier start may have recorded part of it), and
    /// retention, which may now delete the oldest day.
    async fn start_day(&mut self, day: NaiveDate) {
        self.day = Some(day);
        let dir = day_dir(&self.root, day);
        let bytes = tokio::task::spawn_blocking(move || retention::dir_bytes(&dir))
            .await
            .unwrap_or(0);
        self.stats.set_day(day, bytes);
        self.apply_retention().await;
    }

    /// Seals the waiting frames into a block and appends it to the day's segment (opening one
    /// if there is none).
    async fn flush(&mut self) {
        let (Some(day), false) = (self.day, self.block.is_empty()) else {
            return;
        };
        let mut block = std::mem::take(&mut self.block);
        let frames = u64::from(block.frames());
        let segment = self.segment.take();
        let dir = day_dir(&self.root, day);
        let (broker, now_ns) = (self.broker, ns(self.clock.now()));
        let job = move || -> (Option<SegmentWriter>, std::io::Result<u64>) {
            let mut segment = match segment {
                Some(s) => s,
                None => match SegmentWriter::create(&dir, broker, now_ns) {
                    Ok(s) => s,
                    Err(e) => return (None, Err(e)),
                },
            };
            let written = segment.write_block(&mut block);
            // A segment that failed a write may hold part of a block: never append to it again.
            match written {
                Ok(n) => (Some(segment), Ok(n)),
                Err(e) => (None, Err(e)),
            }
        };
        let (segment, written) = tokio::task::spawn_blocking(job)
            .await
            .unwrap_or_else(|e| (None, Err(std::io::Error::other(e.to_string()))));
        self.segment = segment;
        match written {
            Ok(bytes) => self.written(frames, bytes),
            Err(e) => self.failed(frames, &e),
        }
    }

    fn written(&mut self, frames: u64, bytes: u64) {
        let s = &self.stats;
        s.frames_written.fetch_add(frames, Ordering::Relaxed);
        s.bytes_written.fetch_add(bytes, Ordering::Relaxed);
        s.bytes_today.fetch_add(bytes, Ordering::Relaxed);
        s.failing.store(false, Ordering::Relaxed);
        self.frames_total.increment(frames);
        self.bytes_total.increment(bytes);
        if let Some(repeats) = self.errors.clear() {
            tracing::info!(
                failed_writes = repeats + 1,
                "recording resumed after disk errors (the frames in between are counted as dropped)"
            );
        }
    }

    fn failed(&mut self, frames: u64, error: &std::io::Error) {
        self.drop_frames(frames);
        self.stats.failing.store(true, Ordering::Relaxed);
        self.paused_until = Some(Instant::now() + PAUSE_AFTER_ERROR);
        if self.errors.occur(&error.kind().to_string()) {
            tracing::warn!(error = %error, dir = %self.root.display(), pause_s = PAUSE_AFTER_ERROR.as_secs(), "cannot write the recording; frames are dropped, retrying with a new segment (the feed is not affected; further errors of this kind are not logged)");
        }
    }

    fn drop_frames(&self, n: u64) {
        self.stats.dropped_frames.fetch_add(n, Ordering::Relaxed);
        self.dropped_total.increment(n);
    }

    /// Syncs and closes the open segment.
    async fn close_segment(&mut self) {
        if let Some(segment) = self.segment.take() {
            let synced = tokio::task::spawn_blocking(move || segment.sync()).await;
            if let Ok(Err(e)) = synced {
                tracing::warn!(error = %e, "cannot sync the recording to disk");
            }
        }
    }

    /// Deletes the days retention no longer keeps, each logged with what it freed.
    async fn apply_retention(&mut self) {
        let root = self.root.clone();
        let today = feedgate_session::ist::ist_date(self.clock.now());
        let limits = self.retention;
        let job = move || -> std::io::Result<Vec<(NaiveDate, u64, retention::Reason)>> {
            let days = retention::day_sizes(&root)?;
            let mut deleted = Vec::new();
            for (day, reason) in retention::choose(&days, today, limits) {
                let bytes = days.iter().find(|(d, _)| *d == day).map_or(0, |(_, b)| *b);
                std::fs::remove_dir_all(day_dir(&root, day))?;
                deleted.push((day, bytes, reason));
            }
            Ok(deleted)
        };
        let done = tokio::task::spawn_blocking(job)
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        match done {
            Ok(deleted) => {
                for (day, bytes, reason) in deleted {
                    let why = match reason {
                        retention::Reason::Age => "older than FEEDGATE_RECORD_RETENTION_DAYS",
                        retention::Reason::Size => "recordings over FEEDGATE_RECORD_MAX_GB",
                    };
                    tracing::info!(day = %day, bytes_freed = bytes, reason = why, "recorded day deleted");
                }
            }
            Err(e) => {
                if self.errors.occur("retention") {
                    tracing::warn!(error = %e, "cannot apply the recording retention; retrying later");
                }
            }
        }
    }
}

/// The next flush request; never, without a channel or once it closed.
async fn next_request(requests: &mut Option<mpsc::Receiver<FlushRequest>>) -> Option<FlushRequest> {
    match requests {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The IST day of a receive time.
pub fn ist_day(ts_ns: i64) -> NaiveDate {
    let secs = ts_ns.div_euclid(1_000_000_000);
    let t = DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or_default();
    feedgate_session::ist::ist_date(t)
}

fn ns(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt()
        .unwrap_or_else(|| t.timestamp_millis().saturating_mul(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::clock::TokioClock;
    use crate::store::recording::format::FrameKind;
    use crate::store::recording::reader::DayRecording;
    use bytes::Bytes;

    const SEC: i64 = 1_000_000_000;

    /// 2026-12-07 10:00 IST.
    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-07T10:00:00+05:30")
            .unwrap()
            .to_utc()
    }

    fn spawn(root: PathBuf) -> (FrameTap, CancellationToken, tokio::task::JoinHandle<()>) {
        let (tap, rx) = FrameTap::channel(1024);
        let recorder = Recorder::new(
            root,
            RecordedBroker::Kite,
            Retention {
                days: 2,
                max_bytes: u64::MAX,
            },
            Arc::new(TokioClock::starting_at(start())),
            tap.stats().clone(),
        );
        let stop = CancellationToken::new();
        let task = tokio::spawn(recorder.run(rx, stop.clone()));
        (tap, stop, task)
    }

    fn offer(tap: &FrameTap, ts_ns: i64, n: u8) {
        tap.offer(ts_ns, FrameKind::Binary, Bytes::from(vec![n; 40]));
    }

    /// Waits (in paused time) until `done` holds.
    async fn until(mut done: impl FnMut() -> bool) {
        for _ in 0..200 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("condition not reached");
    }

    fn on_disk(root: &std::path::Path, day: NaiveDate) -> Vec<i64> {
        let rec = DayRecording::open(root, day).unwrap();
        rec.frames(i64::MIN, i64::MAX)
            .map(|f| f.frame.ts_ns)
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn frames_reach_disk_within_a_second_and_a_new_day_gets_its_own_directory() {
        let root = tempfile::tempdir().unwrap();
        let old = day_dir(root.path(), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join("seg-000001.fgr"), [0u8; 1000]).unwrap();
        let (tap, stop, task) = spawn(root.path().to_path_buf());
        let t0 = ns(start());
        for i in 0..5 {
            offer(&tap, t0 + i, i as u8);
        }
        let stats = tap.stats().clone();
        until(|| stats.frames_written.load(Ordering::Relaxed) == 5).await;
        let today = ist_day(t0);
        assert_eq!(
            on_disk(root.path(), today),
            (0..5).map(|i| t0 + i).collect::<Vec<_>>()
        );
        assert!(
            !old.exists(),
            "a day outside the retention is deleted at start"
        );
        assert_eq!(stats.day(), Some(today));
        assert!(stats.bytes_today.load(Ordering::Relaxed) > 0);

        // 14 hours later: the next IST day.
        let t1 = t0 + 14 * 3600 * SEC;
        offer(&tap, t1, 9);
        until(|| stats.frames_written.load(Ordering::Relaxed) == 6).await;
        assert_eq!(on_disk(root.path(), ist_day(t1)), vec![t1]);
        assert_eq!(stats.day(), Some(ist_day(t1)));
        stop.cancel();
        task.await.unwrap();
        assert_eq!(stats.dropped_frames.load(Ordering::Relaxed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_disk_error_drops_frames_pauses_and_recovers_with_a_fresh_segment() {
        let root = tempfile::tempdir().unwrap();
        let day = ist_day(ns(start()));
        // The day's directory cannot be created while a file has its name.
        let dir = day_dir(root.path(), day);
        std::fs::write(&dir, b"in the way").unwrap();
        let (tap, stop, task) = spawn(root.path().to_path_buf());
        let t0 = ns(start());
        offer(&tap, t0, 1);
        let stats = tap.stats().clone();
        until(|| stats.failing.load(Ordering::Relaxed)).await;
        assert_eq!(stats.dropped_frames.load(Ordering::Relaxed), 1);
        offer(&tap, t0 + 1, 2);
        until(|| stats.dropped_frames.load(Ordering::Relaxed) == 2).await;
        std::fs::remove_file(&dir).unwrap();
        tokio::time::sleep(PAUSE_AFTER_ERROR).await;
        offer(&tap, t0 + 2, 3);
        until(|| stats.frames_written.load(Ordering::Relaxed) == 1).await;
        assert!(!stats.failing.load(Ordering::Relaxed));
        assert_eq!(on_disk(root.path(), day), vec![t0 + 2]);
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_writes_what_was_waiting() {
        let root = tempfile::tempdir().unwrap();
        let (tap, stop, task) = spawn(root.path().to_path_buf());
        let t0 = ns(start());
        offer(&tap, t0, 1);
        offer(&tap, t0 + 1, 2);
        stop.cancel();
        task.await.unwrap();
        assert_eq!(on_disk(root.path(), ist_day(t0)), vec![t0, t0 + 1]);
    }

    /// A flush request is answered once every frame offered before it is on disk, without
    /// waiting for the block's time (a resume reads the recording right after).
    #[tokio::test(start_paused = true)]
    async fn a_flush_request_writes_out_what_was_offered_before_it() {
        let root = tempfile::tempdir().unwrap();
        let (tap, rx) = FrameTap::channel(1024);
        let (flush, requests) = mpsc::channel(4);
        let recorder = Recorder::new(
            root.path().to_path_buf(),
            RecordedBroker::Kite,
            Retention {
                days: 2,
                max_bytes: u64::MAX,
            },
            Arc::new(TokioClock::starting_at(start())),
            tap.stats().clone(),
        )
        .with_flush_requests(requests);
        let stop = CancellationToken::new();
        let task = tokio::spawn(recorder.run(rx, stop.clone()));
        // Past the interval's first (immediate) tick: the next is a second away.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let began = Instant::now();
        let t0 = ns(start());
        for i in 0..3 {
            offer(&tap, t0 + i, i as u8);
        }
        let (ack, done) = tokio::sync::oneshot::channel();
        flush.send(ack).await.unwrap();
        let answered = tokio::time::timeout(FLUSH_EVERY / 2, done).await;
        assert!(
            answered.is_ok_and(|r| r.is_ok()),
            "answered before the block's time"
        );
        assert!(began.elapsed() < FLUSH_EVERY);
        assert_eq!(on_disk(root.path(), ist_day(t0)), vec![t0, t0 + 1, t0 + 2]);
        stop.cancel();
        task.await.unwrap();
    }
}
