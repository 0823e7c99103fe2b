//! One Fyers data-socket connection: feeds client messages and market batches to the
//! connection's [`Session`], writes what it returns, and checks the ack deadline. The socket,
//! the fault injector's orders (drop, stall, garbage frame, flood) and the way the task ends are
//! [`crate::link`]'s, shared with the Kite ticker. No application heartbeats: the real server is
//! reported to send none; only a heartbeat flood makes it send ping frames (`00 01 0B`, every
//! [`crate::link::FLOOD_INTERVAL`]) while it drops the market batches.

use super::session::{Env, Output, Session};
use crate::fyers::feed::FyersBatch;
use crate::fyers::registry::{FyersConn, add};
use crate::link::{Event, Exit, Link, Profile, Step, serve};
use crate::registry::lock;
use crate::shared::Shared;
use axum::extract::ws::{Message, WebSocket};
use std::sync::Arc;
use tokio::time::Instant;
use tracing::{debug, info};

/// The `malformed` fault's frame: a data frame (correct length, message number 0) whose one
/// record has the unknown kind `X`, so no decoder can read past it.
const GARBAGE_FRAME: [u8; 14] = [
    0x00, 0x0c, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x58, 0xde, 0xad, 0xbe, 0xef,
];

/// The data socket's side of the shared connection machinery.
static PROFILE: Profile = Profile {
    label: "fyers data socket",
    garbage: &GARBAGE_FRAME,
    malformed_sent: |shared| &shared.fyers.registry.counters.malformed_sent,
    batches_skipped: |shared| &shared.fyers.registry.counters.batches_skipped,
};

struct Conn {
    link: Link<FyersConn, FyersBatch>,
}

/// Serves an upgraded data socket until it closes, a fault drops it or the simulator stops.
pub(crate) async fn run(shared: Arc<Shared>, socket: WebSocket, silent: bool) {
    let cfg = &shared.cfg;
    let session = Session::new(silent, cfg.fyers_ack_count, cfg.fyers_enforce_acks);
    let handle = shared.fyers.registry.register(session);
    let batches = shared.fyers.batches.subscribe();
    let mut conn = Conn {
        link: Link::new(shared, handle, socket, batches, &PROFILE),
    };
    let id = conn.link.id();
    info!(
        conn = id,
        authorization_header = silent,
        "fyers data socket opened"
    );
    let exit = serve(&mut conn).await;
    let fyers = &conn.link.shared.fyers;
    lock(&conn.link.handle.session).release(&fyers.registry.demand);
    fyers.registry.unregister(id);
    conn.link.finish(exit).await;
}

/// The session's view of the simulator.
fn env(shared: &Shared) -> Env<'_> {
    let fyers = &shared.fyers;
    let wall = shared.clock.now();
    Env {
        catalog: &fyers.catalog,
        universe: &shared.universe,
        market: &shared.market,
        tokens: &fyers.tokens,
        demand: &fyers.registry.demand,
        counters: &fyers.registry.counters,
        now_secs: wall.timestamp(),
        wall,
        now: Instant::now(),
    }
}

impl Step for Conn {
    /// Obeys the fault orders, then handles one event; the timers are the ack deadline and,
    /// during a heartbeat flood, the next flood frame.
    async fn step(&mut self) -> Result<(), Exit> {
        if self.link.obey_orders().await? {
            // Batches skipped while stalled need no catching up: later updates are diffs
            // against what the client really has, so it converges. The client could not be
            // heard either, so its ack clock starts again.
            lock(&self.link.handle.session).restart_ack_clock(Instant::now());
        }
        let (ack_at, silent) = {
            let session = lock(&self.link.handle.session);
            (session.ack_deadline(), session.is_silent())
        };
        // A silent session sends nothing, so no flood timer (it would fire at once, forever).
        let flood_at = self.link.flood_deadline().filter(|_| !silent);
        match self.link.next(earliest(ack_at, flood_at)).await? {
            Event::Message(msg) => self.on_message(msg).await,
            // Dropped like a stall's, and for the same reason they need no catching up.
            Event::Batch(_) if self.link.flooding() => Ok(()),
            Event::Batch(batch) => {
                let out = lock(&self.link.handle.session).on_batch(&batch, &env(&self.link.shared));
                self.write(out, true).await
            }
            Event::Deadline => self.on_deadline(flood_at).await,
            Event::Idle => Ok(()),
        }
    }
}

/// The earlier of two optional deadlines.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Conn {
    /// A deadline passed: the flood's next frame if it is due, then the ack check.
    async fn on_deadline(&mut self, flood_at: Option<Instant>) -> Result<(), Exit> {
        if flood_at.is_some_and(|at| at <= Instant::now()) && self.link.flooding() {
            let out = lock(&self.link.handle.session).flood_frame(&env(&self.link.shared));
            self.write(out, false).await?;
        }
        let out = lock(&self.link.handle.session).check_acks(&env(&self.link.shared));
        self.write(out, false).await
    }

    async fn on_message(&mut self, msg: Message) -> Result<(), Exit> {
        match msg {
            Message::Binary(data) => {
                let out =
                    lock(&self.link.handle.session).on_message(&data, &env(&self.link.shared));
                self.write(out, false).await
            }
            Message::Text(_) => {
                add(
                    &self.link.shared.fyers.registry.counters.bad_frames_received,
                    1,
                );
                debug!(
                    conn = self.link.id(),
                    "ignoring a text message (binary frames only)"
                );
                Ok(())
            }
            // WebSocket pings are answered by tungstenite.
            _ => Ok(()),
        }
    }

    /// Writes a session step's frames (market frames are shown to the send observer first),
    /// then closes if the session asked to.
    async fn write(&mut self, out: Output, market: bool) -> Result<(), Exit> {
        if !out.frames.is_empty() {
            if market && let Some(observer) = &self.link.shared.cfg.send_observer {
                observer.observe(&out.frames);
            }
            self.link
                .send(out.frames.into_iter().map(Message::Binary).collect())
                .await?;
        }
        match out.close {
            Some((code, reason)) => Err(Exit::Closing(code, reason)),
            None => Ok(()),
        }
    }
}
