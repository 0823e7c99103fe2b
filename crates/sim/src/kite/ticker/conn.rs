//! One Kite ticker connection: applies the client's `subscribe`/`mode`/`unsubscribe` requests
//! (with snapshots), forwards the shared market batches it subscribed to, and sends a 1-byte
//! heartbeat after each idle interval and after a stall. During a heartbeat flood it sends only
//! heartbeats, every [`crate::link::FLOOD_INTERVAL`], and drops the market batches (requests are
//! still answered). The socket, the fault injector's orders (drop, stall, garbage frame, flood)
//! and the way the task ends are [`crate::link`]'s, shared with the Fyers data socket. It never
//! sends a Pong on its own: tungstenite answers Pings, and only Pings.

use super::batch::{Batch, select};
use super::subs::{MAX_SLOTS, Subscriptions};
use crate::kite::packets::packet;
use crate::link::{Event, Exit, Link, Profile, Step, serve};
use crate::registry::{ConnHandle, ConnLease, bump, lock};
use crate::shared::Shared;
use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use feedgate_kite::{HEARTBEAT, MAX_PACKETS_PER_FRAME, Mode, Request, TextMessage, encode_frames};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tracing::{debug, info};

/// The `malformed` fault's frame: it announces 2 packets, the first claiming 44 bytes, and
/// then ends after 4 bytes (a truncated packet and a bad count at once).
const GARBAGE_FRAME: [u8; 8] = [0x00, 0x02, 0x00, 0x2c, 0xde, 0xad, 0xbe, 0xef];

/// The ticker's side of the shared connection machinery.
static PROFILE: Profile = Profile {
    label: "ticker connection",
    garbage: &GARBAGE_FRAME,
    malformed_sent: |shared| &shared.registry.counters.malformed_sent,
    batches_skipped: |shared| &shared.registry.counters.batches_skipped,
};

/// Encoded snapshot frames and the number of packets in them.
#[derive(Debug, Default)]
struct Snapshot {
    frames: Vec<Bytes>,
    packets: usize,
}

struct Conn {
    link: Link<ConnHandle, Batch>,
    subs: Subscriptions,
}

/// Serves an upgraded ticker socket until it closes, a fault drops it or the simulator stops.
/// The lease (the api_key's connection slot) is released when this returns.
pub(crate) async fn run(shared: Arc<Shared>, socket: WebSocket, mut lease: ConnLease) {
    let handle = lease.activate();
    let batches = shared.batches.subscribe();
    let mut conn = Conn {
        link: Link::new(shared, handle, socket, batches, &PROFILE),
        subs: Subscriptions::default(),
    };
    let handle = &conn.link.handle;
    info!(conn = handle.id, api_key = %handle.api_key, "ticker connection opened");
    let exit = serve(&mut conn).await;
    conn.release_demand();
    conn.link.finish(exit).await;
    drop(lease);
}

impl Step for Conn {
    /// Obeys the fault orders, then handles one event; a heartbeat is due an interval after the
    /// last write (a flood's short one during a heartbeat flood), and right after a stall (the
    /// client has heard nothing for a while).
    async fn step(&mut self) -> Result<(), Exit> {
        if self.link.obey_orders().await? {
            self.heartbeat().await?;
        }
        let heartbeat_at = self
            .link
            .flood_deadline()
            .unwrap_or(self.link.last_sent + self.link.shared.cfg.heartbeat_interval);
        match self.link.next(Some(heartbeat_at)).await? {
            Event::Message(Message::Text(text)) => self.on_request(text.as_str()).await,
            // Pings are answered by tungstenite; binary frames and pongs mean nothing here.
            Event::Message(_) | Event::Idle => Ok(()),
            // Withheld, not queued: the market moves on without this client.
            Event::Batch(_) if self.link.flooding() => Ok(()),
            Event::Batch(batch) => self.on_batch(&batch).await,
            Event::Deadline => self.heartbeat().await,
        }
    }
}

impl Conn {
    async fn on_request(&mut self, text: &str) -> Result<(), Exit> {
        let request = match Request::parse(text) {
            Ok(request) => request,
            Err(error) => {
                debug!(conn = self.link.id(), error = %error, "ignoring invalid ticker request");
                return Ok(());
            }
        };
        debug!(
            conn = self.link.id(),
            action = request.action(),
            tokens = request.tokens().len(),
            "ticker request"
        );
        let mut out = Vec::new();
        let snapshot = match request {
            Request::Subscribe(tokens) => self.subscribe(&tokens, &mut out),
            Request::Unsubscribe(tokens) => {
                for (token, mode) in self.subs.unsubscribe(&tokens) {
                    self.remove_demand(token, mode);
                }
                Snapshot::default()
            }
            Request::Mode(mode, tokens) => self.set_mode(mode, &tokens),
        };
        *lock(&self.link.handle.subscriptions) = self.subs.summary();
        let frames = snapshot.frames.len();
        out.extend(snapshot.frames.into_iter().map(Message::Binary));
        if out.is_empty() {
            return Ok(());
        }
        self.link.send(out).await?;
        self.record(frames, snapshot.packets);
        Ok(())
    }

    /// Subscribes `tokens` in quote mode (an error text onto `out` for those over the cap) and
    /// returns the snapshot of the new ones.
    fn subscribe(&mut self, tokens: &[u32], out: &mut Vec<Message>) -> Snapshot {
        let result = self.subs.subscribe(tokens);
        for token in &result.added {
            self.add_demand(*token, Mode::Quote);
        }
        if result.over_limit > 0 {
            let text = format!(
                "Subscription limit exceeded: at most {MAX_SLOTS} instruments per connection; {} ignored",
                result.over_limit
            );
            info!(
                conn = self.link.id(),
                ignored = result.over_limit,
                "subscription over the per-connection cap"
            );
            out.push(Message::Text(TextMessage::Error(text).to_json().into()));
        }
        self.snapshot(&result.added)
    }

    /// Moves the subscribed ones of `tokens` to `mode` and returns their snapshot in it.
    fn set_mode(&mut self, mode: Mode, tokens: &[u32]) -> Snapshot {
        let changed = self.subs.set_mode(mode, tokens);
        for (token, old) in &changed {
            self.remove_demand(*token, *old);
            self.add_demand(*token, mode);
        }
        let tokens: Vec<u32> = changed.iter().map(|(t, _)| *t).collect();
        self.snapshot(&tokens)
    }

    /// Frames with the current state of `tokens` in their subscribed modes; batches up to
    /// this market sequence are then skipped for them. Demand must already include them.
    fn snapshot(&mut self, tokens: &[u32]) -> Snapshot {
        if tokens.is_empty() {
            return Snapshot::default();
        }
        let universe = &self.link.shared.universe;
        let (seq, packets) = {
            let mut market = lock(&self.link.shared.market);
            market.follow(self.link.shared.clock.now());
            let packets: Vec<_> = tokens
                .iter()
                .filter_map(|token| {
                    let mode = self.subs.mode(*token)?;
                    let idx = universe.index_of_token(*token)?;
                    Some(packet(universe.get(idx)?, market.quote(idx)?, mode))
                })
                .collect();
            (market.seq(), packets)
        };
        self.subs.snapshot_sent(tokens, seq);
        Snapshot {
            frames: encode_frames(&packets, MAX_PACKETS_PER_FRAME),
            packets: packets.len(),
        }
    }

    async fn on_batch(&mut self, batch: &Batch) -> Result<(), Exit> {
        let mut out = Vec::new();
        let mut ticks = 0;
        for round in &batch.rounds {
            if let Some(selected) = select(round, |token| self.subs.wants(token, batch.seq)) {
                ticks += selected.packets;
                out.push(Message::Binary(selected.frame));
            }
        }
        if out.is_empty() {
            return Ok(());
        }
        if let Some(observer) = &self.link.shared.cfg.send_observer {
            let frames: Vec<Bytes> = out
                .iter()
                .filter_map(|m| match m {
                    Message::Binary(frame) => Some(frame.clone()),
                    _ => None,
                })
                .collect();
            observer.observe(&frames);
        }
        let frames = out.len();
        self.link.send(out).await?;
        self.record(frames, ticks);
        Ok(())
    }

    async fn heartbeat(&mut self) -> Result<(), Exit> {
        let flooding = self.link.flooding();
        self.link
            .send(vec![Message::Binary(Bytes::from_static(&HEARTBEAT))])
            .await?;
        let counters = &self.link.shared.registry.counters;
        bump(&counters.heartbeats_sent);
        if flooding {
            bump(&counters.flood_heartbeats_sent);
        }
        Ok(())
    }

    fn record(&self, frames: usize, ticks: usize) {
        let counters = &self.link.shared.registry.counters;
        let (frames, ticks) = (frames as u64, ticks as u64);
        counters.frames_sent.fetch_add(frames, Ordering::Relaxed);
        counters.ticks_sent.fetch_add(ticks, Ordering::Relaxed);
        self.link.handle.frames.fetch_add(frames, Ordering::Relaxed);
        self.link.handle.ticks.fetch_add(ticks, Ordering::Relaxed);
    }

    fn add_demand(&self, token: u32, mode: Mode) {
        if let Some(idx) = self.link.shared.universe.index_of_token(token) {
            self.link.shared.registry.demand.add(idx, mode);
        }
    }

    fn remove_demand(&self, token: u32, mode: Mode) {
        if let Some(idx) = self.link.shared.universe.index_of_token(token) {
            self.link.shared.registry.demand.remove(idx, mode);
        }
    }

    fn release_demand(&mut self) {
        for (token, mode) in self.subs.drain() {
            self.remove_demand(token, mode);
        }
        *lock(&self.link.handle.subscriptions) = self.subs.summary();
    }
}
