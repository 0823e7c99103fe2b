//! The hub's read access to the tick recording, for resumes that reach back past the ring
//! (DESIGN.md §12): asks the recorder to write out the frames it still holds, then reads the
//! day's frames from the oldest anchor on, off the hub task, decodes them through the normal
//! decode path and feeds each instrument's ticks to its [`Refill`]. The decoder comes from the
//! wiring ([`NewDecoder`]): decoding belongs to the broker layer, above the hub.

use crate::hub::refill::{Refill, Refilled};
use crate::hub::replay::RefillPlan;
use crate::model::tick::{Tick, Token};
use crate::store::recording::format::RecordedBroker;
use crate::store::recording::reader::{DayRecording, RecordedFrame};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long a resume waits for the recorder to write out what it holds; past it the read goes
/// ahead and a recording that does not reach the check point is not used.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

/// A request to the recorder: seal and write every frame offered so far, then answer.
pub type FlushRequest = oneshot::Sender<()>;

/// Decodes one recorded frame, appending its ticks (the live decode path); false when the
/// frame does not decode.
pub type DecodeFrame = Box<dyn FnMut(&RecordedFrame, &mut Vec<Tick>) -> bool + Send>;

/// Makes a fresh decoder for one read of the recording.
pub type NewDecoder = Arc<dyn Fn() -> DecodeFrame + Send + Sync>;

/// Where the recording is, how to have it written out, and how to decode it.
#[derive(Clone)]
pub struct RecordingSource {
    /// The recordings root (`<data dir>/recordings`).
    pub root: PathBuf,
    pub flush: mpsc::Sender<FlushRequest>,
    pub decoder: NewDecoder,
}

impl std::fmt::Debug for RecordingSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingSource")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl RecordingSource {
    /// Rebuilds `plans` from the recording, one result per plan in order.
    pub async fn refill(&self, plans: Vec<RefillPlan>) -> Vec<Refilled> {
        let (ack, done) = oneshot::channel();
        if self.flush.send(ack).await.is_ok() {
            let _ = tokio::time::timeout(FLUSH_WAIT, done).await;
        }
        let root = self.root.clone();
        let n = plans.len();
        let decoder = (self.decoder)();
        let read = tokio::task::spawn_blocking(move || read(&root, plans, decoder)).await;
        read.unwrap_or_else(|_| {
            let failed = Refilled {
                ticks: Vec::new(),
                failure: Some("reading the recording failed"),
            };
            vec![failed; n]
        })
    }
}

/// Which brokers' recordings can be rebuilt from any frame on: Kite's decoder keeps no state
/// between frames. Fyers' merges updates into per-connection snapshots, so a value decoded
/// from the middle of a connection is not what the live decoder produced.
pub fn refillable(broker: RecordedBroker) -> bool {
    broker == RecordedBroker::Kite
}

/// Reads the recording of the plans' day from the oldest anchor's millisecond until every
/// plan is done or the recording ends. Blocking.
pub fn read(root: &Path, plans: Vec<RefillPlan>, mut decode: DecodeFrame) -> Vec<Refilled> {
    let mut refills: Vec<Refill> = plans.into_iter().map(Refill::new).collect();
    let Some(from_ms) = refills.iter().map(Refill::from_ms).min() else {
        return Vec::new();
    };
    let day = DateTime::<Utc>::from_timestamp_millis(from_ms).unwrap_or_default();
    let day = feedgate_session::ist::ist_date(day);
    let recording = match DayRecording::open(root, day) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the recording for a resume");
            return refills.into_iter().map(Refill::finish).collect();
        }
    };
    // A client may resume many instruments; each tick goes to its own plans only.
    let mut by_token: HashMap<Token, Vec<usize>> = HashMap::new();
    for (i, r) in refills.iter().enumerate() {
        by_token.entry(r.plan().token).or_default().push(i);
    }
    let mut ticks = Vec::new();
    for frame in recording.frames(from_ms.saturating_mul(1_000_000), i64::MAX) {
        if refills.iter().all(Refill::is_done) {
            break;
        }
        ticks.clear();
        if !decode(&frame, &mut ticks) {
            continue;
        }
        for t in &ticks {
            for i in by_token.get(&t.token).into_iter().flatten() {
                let r = &mut refills[*i];
                if !r.is_done() {
                    r.on_tick(t);
                }
            }
        }
    }
    refills.into_iter().map(Refill::finish).collect()
}
