//! The frames of a replay, in recorded order and on time: [`Feed::next`] reads the day's
//! recording a block at a time (one read and one zstd block of at most 256 KiB, about a
//! millisecond, on the ticker's task: a reading thread would make a paused-time test runtime
//! look idle and jump its clock past the gateway's liveness timeout while it decompresses) and
//! hands each frame out when the replay clock says it is due,
//! moving a `--speed max` clock to it. Connection starts and decoder contexts are not
//! WebSocket messages and are skipped; every shard's frames come out merged in the order they
//! were recorded (Kite frames name their instruments, so one socket carries them all).

use super::clock::ReplayClock;
use crate::store::recording::format::{Frame, FrameKind, RecordedBroker};
use crate::store::recording::reader::{Damage, DayRecording, Frames};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;

/// What a finished replay sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// WebSocket messages sent (ticks, heartbeats, text).
    pub frames: u64,
    /// Ticks in them (Kite's packet counts).
    pub ticks: u64,
    /// From the first frame sent to the last.
    pub wall: std::time::Duration,
    /// The receive time of the last frame sent (ns).
    pub last_ns: i64,
    /// Damage the reader skipped (a torn tail ends its segment there).
    pub damage: Vec<Damage>,
}

impl Summary {
    pub fn ticks_per_second(&self) -> f64 {
        self.ticks as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// The frames still to send (see the module doc).
#[derive(Debug)]
pub struct Feed {
    frames: Frames,
    clock: Arc<ReplayClock>,
    /// A frame taken but not delivered (its socket closed): sent first on the next socket.
    held: Option<Frame>,
    started: Option<Instant>,
    last_sent: Option<Instant>,
    summary: Summary,
    ended: bool,
    /// Nothing is handed out before this says `true` (see [`Feed::start`]).
    go: watch::Receiver<bool>,
}

/// The first frame of `[from_ns, to_ns]` and the broker that recorded it; `None` if the range
/// holds no frame. Blocking.
pub fn first_frame(day: &DayRecording, from_ns: i64, to_ns: i64) -> Option<(RecordedBroker, i64)> {
    day.frames(from_ns, to_ns)
        .find(|rf| is_message(rf.frame.kind))
        .map(|rf| (rf.broker, rf.frame.ts_ns))
}

fn is_message(kind: FrameKind) -> bool {
    matches!(kind, FrameKind::Binary | FrameKind::Text)
}

impl Feed {
    /// The frames of `[from_ns, to_ns]` of `day`, handed out once `go` is `true` (the replay
    /// clock is started then too).
    pub fn start(
        day: DayRecording,
        from_ns: i64,
        to_ns: i64,
        clock: Arc<ReplayClock>,
        go: watch::Receiver<bool>,
    ) -> Self {
        Self {
            frames: day.frames(from_ns, to_ns),
            clock,
            held: None,
            started: None,
            last_sent: None,
            summary: Summary::default(),
            ended: false,
            go,
        }
    }

    /// The next frame, once it is due; `None` at the end of the range.
    pub async fn next(&mut self) -> Option<Frame> {
        // A dropped sender counts as go: nobody is left to hold the replay.
        let _ = self.go.wait_for(|go| *go).await;
        self.clock.run();
        let frame = match self.held.take() {
            Some(f) => f,
            None => self.read()?,
        };
        if let Some(due) = self.clock.due(frame.ts_ns) {
            tokio::time::sleep_until(due).await;
        }
        self.clock.reach(frame.ts_ns);
        Some(frame)
    }

    /// The next WebSocket message of the recording; `None` (and the damage noted) at the end.
    fn read(&mut self) -> Option<Frame> {
        if self.ended {
            return None;
        }
        match self.frames.by_ref().find(|rf| is_message(rf.frame.kind)) {
            Some(rf) => Some(rf.frame),
            None => {
                self.summary.damage = self.frames.damage().to_vec();
                self.ended = true;
                None
            }
        }
    }

    /// `frame` (from [`Feed::next`]) reached the socket.
    pub fn sent(&mut self, frame: &Frame) {
        let now = Instant::now();
        self.started.get_or_insert(now);
        self.last_sent = Some(now);
        self.summary.frames += 1;
        self.summary.last_ns = frame.ts_ns;
        if frame.kind == FrameKind::Binary {
            self.summary.ticks += kite_packets(&frame.data);
        }
    }

    /// `frame` (from [`Feed::next`]) could not be sent: it goes out first on the next socket.
    pub fn unsent(&mut self, frame: Frame) {
        self.held = Some(frame);
    }

    /// The summary, once [`Feed::next`] returned `None`.
    pub fn finished(&self) -> Option<Summary> {
        self.ended.then(|| {
            let mut s = self.summary.clone();
            if let (Some(a), Some(b)) = (self.started, self.last_sent) {
                s.wall = b - a;
            }
            s
        })
    }
}

/// The packet count a Kite binary frame starts with (0 for a 1-byte heartbeat).
fn kite_packets(data: &[u8]) -> u64 {
    match data {
        [hi, lo, ..] => u64::from(u16::from_be_bytes([*hi, *lo])),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kite_frames_count_their_packets_and_heartbeats_none() {
        assert_eq!(kite_packets(&[0]), 0);
        assert_eq!(kite_packets(&[0, 3, 0, 8]), 3);
        assert_eq!(kite_packets(&[1, 0]), 256);
    }
}
