//! One data socket's protocol state and behaviour, without I/O: authentication by `hsm_key`,
//! full/lite mode per channel, pause/resume, subscriptions with `S` snapshots before any
//! `U`/`L`, per-connection diffs for updates, message numbers and acknowledgements, and pings.
//! The connection task feeds it client messages and market batches and writes what it returns.
//!
//! Server behaviour where the spec leaves it open (§14), chosen to be useful to clients:
//! * pings (`00 01 0B`) are answered with the same three bytes, at any time, even before auth;
//! * a connection whose upgrade carried an `Authorization` header is silent: every frame,
//!   auth included, is ignored (the behaviour reported for the real server, spec §1);
//! * auth with an unknown `hsm_key` gets status `N`; with an expired or invalidated token, `N`
//!   followed by a type-51 message (code 11001, ref_type 1); the socket stays open;
//! * requests before a successful auth get status `N`;
//! * unknown topics are skipped with a type-51 notice (code 51002, ref_type 4); if no topic of
//!   a subscribe is usable the status is `N`; more than 5000 topics on one connection are
//!   refused with type 51 code 51001 "Symbol limit exceeded";
//! * lite mode sends `S` on subscribe (so clients have the topic) and then `L` records for
//!   `sf`/`if` topics when the price changes, nothing for `dp`; switching a channel back to full
//!   re-sends `S` for its topics; resuming a channel sends the changes missed while paused;
//! * with `enforce_acks`, a client two ack periods behind for [`super::acks::ACK_DEADLINE`] gets a type-51
//!   message (code 51003, ref_type 3) and the socket is closed (1008).

/// What `/_sim/state` shows of a session.
mod summary;
#[cfg(test)]
mod tests;

pub(crate) use summary::SessionSummary;

use super::acks::AckTracker;
use super::topics::{AddError, TopicTable};
use crate::fyers::catalog::FyersCatalog;
use crate::fyers::feed::FyersBatch;
use crate::fyers::registry::{FyersCounters, FyersDemand, add};
use crate::fyers::tokens::{FyersTokens, Rejected};
use crate::fyers::values;
use crate::market::{Market, Quote};
use crate::registry::lock;
use crate::universe::{Instrument, Universe};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use feedgate_fyers::hsm::{
    AuthReply, Channel, ChannelMask, ClientFrame, CustomMessage, DataFrame, FeedMode, Lite, Record,
    ReplyStatus, ServerFrame, Snapshot, StatusKind, StatusReply, TopicKind, TopicName,
    TopicRequest, Update, decode_client,
};
use secrecy::ExposeSecret;
use std::sync::Mutex;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Topics one connection may hold (Fyers: 5000 symbols).
pub(crate) const MAX_TOPICS: usize = 5_000;
/// Records per data frame: keeps every frame far below the 64 KiB length limit.
const MAX_RECORDS_PER_FRAME: usize = 256;
/// The ping frame, also sent back as the answer, and the heartbeat flood's frame.
const PING: [u8; 3] = [0x00, 0x01, 0x0b];
/// Type-51 codes (51001 is named in the official client; the others are the simulator's).
const CODE_SYMBOL_LIMIT: i32 = 51_001;
const CODE_UNKNOWN_TOPIC: i32 = 51_002;
const CODE_ACK_MISSING: i32 = 51_003;
const CODE_AUTH_EXPIRED: i32 = 11_001;
/// Request types named in type-51 `ref_type`.
const REF_AUTH: u8 = 1;
const REF_ACK: u8 = 3;
const REF_SUBSCRIBE: u8 = 4;
/// Unknown topics named in one notice at most.
const MAX_NAMED_TOPICS: usize = 10;

/// Everything a session step reads besides its own state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Env<'a> {
    pub catalog: &'a FyersCatalog,
    pub universe: &'a Universe,
    pub market: &'a Mutex<Market>,
    pub tokens: &'a Mutex<FyersTokens>,
    pub demand: &'a FyersDemand,
    pub counters: &'a FyersCounters,
    /// Wall clock, epoch seconds (token expiry).
    pub now_secs: i64,
    /// Wall clock (the market's tick when nobody streams it).
    pub wall: DateTime<Utc>,
    /// Monotonic now (ack deadlines).
    pub now: Instant,
}

/// What a step produced: frames to write in order, and whether to close afterwards.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub frames: Vec<Bytes>,
    /// Close the socket after writing `frames` (code, reason).
    pub close: Option<(u16, &'static str)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Pending,
    Ok { token_id: u64 },
    Refused,
}

/// One connection's protocol state.
#[derive(Debug)]
pub(crate) struct Session {
    auth: Auth,
    /// The upgrade carried an `Authorization` header: ignore everything.
    silent: bool,
    acks: AckTracker,
    /// Channels switched to lite (all others are full).
    lite: ChannelMask,
    paused: ChannelMask,
    topics: TopicTable,
    /// Number of the last data frame sent (the first is 1).
    message_number: u32,
    frames_sent: u64,
    records_sent: u64,
    pings_received: u64,
}

impl Session {
    pub(crate) fn new(silent: bool, ack_count: u32, enforce_acks: bool) -> Self {
        Self {
            auth: Auth::Pending,
            silent,
            acks: AckTracker::new(ack_count, enforce_acks),
            lite: ChannelMask::EMPTY,
            paused: ChannelMask::EMPTY,
            topics: TopicTable::new(MAX_TOPICS),
            message_number: 0,
            frames_sent: 0,
            records_sent: 0,
            pings_received: 0,
        }
    }

    /// The same session with a smaller topic limit (tests of the limit).
    #[cfg(test)]
    pub(crate) fn with_topic_limit(mut self, limit: usize) -> Self {
        self.topics = TopicTable::new(limit);
        self
    }

    fn authed(&self) -> bool {
        matches!(self.auth, Auth::Ok { .. })
    }

    fn mode(&self, channel: Channel) -> FeedMode {
        if self.lite.contains(channel) {
            FeedMode::Lite
        } else {
            FeedMode::Full
        }
    }

    /// Handles one binary message from the client.
    pub(crate) fn on_message(&mut self, msg: &[u8], env: &Env<'_>) -> Output {
        let mut out = Output::default();
        let Some(frame) = self.decode(msg, env) else {
            return out;
        };
        if let Some(kind) = needs_auth(&frame)
            && self.refuse_unless_authed(kind, &mut out)
        {
            return out;
        }
        match frame {
            ClientFrame::Ping => {
                self.pings_received += 1;
                add(&env.counters.pings_received, 1);
                add(&env.counters.pongs_sent, 1);
                out.frames.push(Bytes::from_static(&PING));
            }
            ClientFrame::Auth(request) => {
                self.on_auth(request.hsm_key.expose_secret(), env, &mut out)
            }
            ClientFrame::Ack { message_number } => self.on_ack(message_number, env),
            ClientFrame::Unsupported(raw) => {
                debug!(
                    msg_type = raw.msg_type,
                    "ignoring an unsupported request type"
                );
            }
            ClientFrame::Mode(request) => {
                self.on_mode(request.channels, request.mode, env, &mut out);
            }
            ClientFrame::Subscribe(request) => self.on_subscribe(&request, env, &mut out),
            ClientFrame::Unsubscribe(request) => self.on_unsubscribe(&request, env, &mut out),
            ClientFrame::Pause(mask) => {
                self.paused = ChannelMask::from_bits(self.paused.bits() | mask.bits());
                push_status(&mut out, StatusKind::Pause, true);
            }
            ClientFrame::Resume(mask) => self.on_resume(mask, env, &mut out),
        }
        out
    }

    /// The client's frame, or `None` when it is to be ignored: everything on a silent
    /// connection, and what does not decode.
    fn decode(&self, msg: &[u8], env: &Env<'_>) -> Option<ClientFrame> {
        if self.silent {
            if msg.get(2) == Some(&1) {
                add(&env.counters.auth_ignored, 1);
                debug!("auth frame ignored: the upgrade carried an authorization header");
            }
            return None;
        }
        match decode_client(msg) {
            Ok(frame) => Some(frame),
            Err(error) => {
                add(&env.counters.bad_frames_received, 1);
                debug!(error = %error, len = msg.len(), "ignoring an undecodable client frame");
                None
            }
        }
    }

    /// Sends `N` for a request that needs auth first; returns whether it did.
    fn refuse_unless_authed(&self, kind: StatusKind, out: &mut Output) -> bool {
        if self.authed() {
            return false;
        }
        debug!(request = ?kind, "request before a successful auth refused");
        push_status(out, kind, false);
        true
    }

    fn on_auth(&mut self, hsm_key: &str, env: &Env<'_>, out: &mut Output) {
        let verdict = lock(env.tokens).check_hsm_key(hsm_key, env.now_secs);
        match verdict {
            Ok(accepted) => {
                self.auth = Auth::Ok {
                    token_id: accepted.id,
                };
                add(&env.counters.auth_ok, 1);
                info!(
                    token_id = accepted.id,
                    ack_count = self.acks.ack_count(),
                    "fyers data socket authenticated"
                );
                push(
                    out,
                    &ServerFrame::AuthReply(AuthReply {
                        status: ReplyStatus::OK,
                        ack_count: self.acks.ack_count(),
                        extra_fields: Vec::new(),
                    }),
                );
            }
            Err(reason) => {
                self.auth = Auth::Refused;
                add(&env.counters.auth_refused, 1);
                info!(reason = ?reason, "fyers data socket auth refused");
                push(
                    out,
                    &ServerFrame::AuthReply(AuthReply {
                        status: ReplyStatus::FAILED,
                        ack_count: 0,
                        extra_fields: Vec::new(),
                    }),
                );
                if matches!(reason, Rejected::Expired | Rejected::Revoked) {
                    push(
                        out,
                        &custom(
                            CODE_AUTH_EXPIRED,
                            "Token expired or invalidated".to_owned(),
                            REF_AUTH,
                        ),
                    );
                }
            }
        }
    }

    fn on_ack(&mut self, number: u32, env: &Env<'_>) {
        if !self.authed() {
            return;
        }
        add(&env.counters.acks_received, 1);
        self.acks.acked(number);
    }

    fn on_unsubscribe(&mut self, request: &TopicRequest, env: &Env<'_>, out: &mut Output) {
        for topic in &request.topics {
            if let Some(entry) = self.topics.remove(topic.as_str()) {
                env.demand.remove(entry.idx);
            }
        }
        push_status(out, StatusKind::Unsubscribe, true);
    }

    fn on_resume(&mut self, mask: ChannelMask, env: &Env<'_>, out: &mut Output) {
        self.paused = ChannelMask::from_bits(self.paused.bits() & !mask.bits());
        push_status(out, StatusKind::Resume, true);
        let resumed = self.topics.names_where(|c| mask.contains(c));
        self.catch_up(&resumed, env, out);
    }

    fn on_mode(&mut self, mask: ChannelMask, mode: FeedMode, env: &Env<'_>, out: &mut Output) {
        let was_lite = self.lite;
        self.lite = match mode {
            FeedMode::Lite => ChannelMask::from_bits(self.lite.bits() | mask.bits()),
            FeedMode::Full => ChannelMask::from_bits(self.lite.bits() & !mask.bits()),
        };
        push_status(out, StatusKind::Mode, true);
        if mode == FeedMode::Full {
            // Lite updates carried only the price: give the client whole records again.
            let back = self
                .topics
                .names_where(|c| was_lite.contains(c) && mask.contains(c));
            self.snapshot(&back, env, out);
        }
    }

    fn on_subscribe(&mut self, request: &TopicRequest, env: &Env<'_>, out: &mut Output) {
        let mut fresh = Vec::new();
        let mut unknown = Vec::new();
        let mut over_limit = 0usize;
        let mut accepted = 0usize;
        for topic in &request.topics {
            let Some((inst, kind)) = env.catalog.by_topic(topic.as_str()) else {
                unknown.push(topic.as_str());
                continue;
            };
            match self
                .topics
                .add(topic.as_str(), kind, inst.idx, request.channel)
            {
                Ok(true) => {
                    env.demand.add(inst.idx);
                    accepted += 1;
                    fresh.push(topic.as_str().to_owned());
                }
                // Already subscribed: a fresh snapshot, as for a new one.
                Ok(false) => {
                    accepted += 1;
                    fresh.push(topic.as_str().to_owned());
                }
                Err(AddError::Full) => over_limit += 1,
            }
        }
        let ok = accepted > 0 || request.topics.is_empty();
        push_status(out, StatusKind::Subscribe, ok);
        debug!(
            requested = request.topics.len(),
            accepted,
            unknown = unknown.len(),
            over_limit,
            channel = request.channel.get(),
            "fyers subscribe"
        );
        if !unknown.is_empty() {
            let named: Vec<&str> = unknown.iter().take(MAX_NAMED_TOPICS).copied().collect();
            let more = unknown.len().saturating_sub(named.len());
            let mut text = format!("Invalid topics: {}", named.join(", "));
            if more > 0 {
                text.push_str(&format!(" and {more} more"));
            }
            push(out, &custom(CODE_UNKNOWN_TOPIC, text, REF_SUBSCRIBE));
        }
        if over_limit > 0 {
            push(
                out,
                &custom(
                    CODE_SYMBOL_LIMIT,
                    "Symbol limit exceeded".to_owned(),
                    REF_SUBSCRIBE,
                ),
            );
        }
        self.snapshot(&fresh, env, out);
    }

    /// Sends `S` records with the current market state of `names` (all subscribed).
    fn snapshot(&mut self, names: &[String], env: &Env<'_>, out: &mut Output) {
        if names.is_empty() {
            return;
        }
        let mut records = Vec::with_capacity(names.len());
        {
            let mut market = lock(env.market);
            market.follow(env.wall);
            let seq = market.seq();
            for name in names {
                let Some(entry) = self.topics.get_mut(name) else {
                    continue;
                };
                // Names come from the catalogue's topics, all far below the 255-byte limit.
                let (Some(quote), Some(inst), Some(fy), Ok(topic)) = (
                    market.quote(entry.idx),
                    env.universe.get(entry.idx),
                    env.catalog.by_idx(entry.idx),
                    TopicName::new(name.as_str()),
                ) else {
                    continue;
                };
                let vals = values::values(entry.kind, quote, inst.is_derivative());
                let token = fy
                    .index_name
                    .clone()
                    .unwrap_or_else(|| fy.scrip_code.to_string());
                records.push(Record::Snapshot(Snapshot {
                    topic_id: entry.id,
                    topic,
                    values: vals.clone(),
                    reserved: 0,
                    multiplier: 1,
                    precision: fy.precision,
                    exchange: fy.segment.code().to_owned(),
                    exchange_token: token,
                    symbol: fy.ticker().to_owned(),
                }));
                entry.last = vals;
                entry.from_seq = seq;
            }
        }
        add(&env.counters.snapshots_sent, records.len() as u64);
        self.push_records(records, env, out);
    }

    /// Sends what changed for `names` since the client last heard of them (after a resume).
    fn catch_up(&mut self, names: &[String], env: &Env<'_>, out: &mut Output) {
        let mut updates = Vec::new();
        {
            let mut market = lock(env.market);
            market.follow(env.wall);
            let seq = market.seq();
            for name in names {
                if let Some(entry) = self.topics.get_mut(name)
                    && let Some(quote) = market.quote(entry.idx)
                {
                    updates.push((name.clone(), *quote));
                    entry.from_seq = seq;
                }
            }
        }
        let mut records = Vec::new();
        for (name, quote) in &updates {
            if let Some(record) = self.update_record(name, quote, env) {
                records.push(record);
            }
        }
        self.push_records(records, env, out);
    }

    /// Handles one market batch: updates for the subscribed, unpaused topics it touches.
    pub(crate) fn on_batch(&mut self, batch: &FyersBatch, env: &Env<'_>) -> Output {
        let mut out = Output::default();
        if !self.authed() || self.topics.len() == 0 {
            return out;
        }
        let mut records = Vec::new();
        for (idx, quote) in &batch.updates {
            let names: Vec<String> = self.topics.topics_of(*idx).to_vec();
            for name in names {
                let live = self
                    .topics
                    .get(&name)
                    .is_some_and(|e| batch.seq > e.from_seq && !self.paused.contains(e.channel));
                if live && let Some(record) = self.update_record(&name, quote, env) {
                    records.push(record);
                }
            }
        }
        self.push_records(records, env, &mut out);
        out
    }

    /// The `U` (full) or `L` (lite) record taking `name` to `quote`, if anything changed.
    fn update_record(&mut self, name: &str, quote: &Quote, env: &Env<'_>) -> Option<Record> {
        let derivative = self
            .topics
            .get(name)
            .and_then(|e| env.universe.get(e.idx))
            .is_some_and(Instrument::is_derivative);
        let mode = self.topics.get(name).map(|e| self.mode(e.channel))?;
        let entry = self.topics.get_mut(name)?;
        match (mode, entry.kind) {
            (FeedMode::Full, kind) => {
                let new = values::values(kind, quote, derivative);
                let changed = values::diff(&entry.last, &new)?;
                entry.last = new;
                add(&env.counters.updates_sent, 1);
                Some(Record::Update(Update {
                    topic_id: entry.id,
                    values: changed,
                }))
            }
            (FeedMode::Lite, TopicKind::Scrip | TopicKind::Index) => {
                let ltp = values::ltp(quote);
                let slot = entry.last.first_mut()?;
                if *slot == ltp {
                    return None;
                }
                *slot = ltp;
                add(&env.counters.lite_sent, 1);
                Some(Record::Lite(Lite {
                    topic_id: entry.id,
                    ltp,
                }))
            }
            (FeedMode::Lite, TopicKind::Depth) => None,
        }
    }

    /// Packs records into numbered data frames (at most [`MAX_RECORDS_PER_FRAME`] each).
    fn push_records(&mut self, records: Vec<Record>, env: &Env<'_>, out: &mut Output) {
        for chunk in records.chunks(MAX_RECORDS_PER_FRAME) {
            self.message_number = self.message_number.wrapping_add(1);
            let number = self.message_number;
            let frame = ServerFrame::Data(DataFrame {
                message_number: number,
                records: chunk.to_vec(),
            });
            if push(out, &frame) {
                self.frames_sent += 1;
                self.records_sent += chunk.len() as u64;
                add(&env.counters.frames_sent, 1);
                self.acks.sent(number, env.now);
            }
        }
    }

    /// Whether the session ignores its client and sends nothing (an `Authorization` header on
    /// the upgrade).
    pub(crate) fn is_silent(&self) -> bool {
        self.silent
    }

    /// One frame of a heartbeat flood: the 3-byte ping, the frame the server already answers
    /// pings with. It carries no market data, is not a data frame (no message number, nothing
    /// to acknowledge) and every client ignores it, yet it is traffic on the socket. A silent
    /// session sends nothing.
    pub(crate) fn flood_frame(&self, env: &Env<'_>) -> Output {
        let mut out = Output::default();
        if !self.silent {
            add(&env.counters.flood_pings_sent, 1);
            out.frames.push(Bytes::from_static(&PING));
        }
        out
    }

    /// When the ack deadline must next be checked, if acks are enforced and some are owed.
    pub(crate) fn ack_deadline(&self) -> Option<Instant> {
        self.acks.deadline()
    }

    /// Checks the ack deadline at `now`: the type-51 notice and the close when it passed.
    pub(crate) fn check_acks(&mut self, env: &Env<'_>) -> Output {
        let mut out = Output::default();
        if self.acks.overdue(env.now) {
            add(&env.counters.ack_violations, 1);
            warn!(
                last_ack = ?self.acks.last_ack(),
                sent = self.message_number,
                ack_count = self.acks.ack_count(),
                "fyers client stopped acknowledging data frames; closing"
            );
            push(
                &mut out,
                &custom(
                    CODE_ACK_MISSING,
                    "Acknowledgements not received".to_owned(),
                    REF_ACK,
                ),
            );
            out.close = Some((1008, "acknowledgements not received"));
        }
        out
    }

    /// Restarts the ack clock (after a stall, during which the client could not be heard).
    pub(crate) fn restart_ack_clock(&mut self, now: Instant) {
        self.acks.restart(now);
    }

    /// Forgets every subscription, releasing its demand (the connection ends).
    pub(crate) fn release(&mut self, demand: &FyersDemand) {
        for entry in self.topics.drain() {
            demand.remove(entry.idx);
        }
    }
}

/// The status a request answers with, for the requests that need a successful auth first.
fn needs_auth(frame: &ClientFrame) -> Option<StatusKind> {
    match frame {
        ClientFrame::Mode(_) => Some(StatusKind::Mode),
        ClientFrame::Subscribe(_) => Some(StatusKind::Subscribe),
        ClientFrame::Unsubscribe(_) => Some(StatusKind::Unsubscribe),
        ClientFrame::Pause(_) => Some(StatusKind::Pause),
        ClientFrame::Resume(_) => Some(StatusKind::Resume),
        ClientFrame::Auth(_)
        | ClientFrame::Ack { .. }
        | ClientFrame::Ping
        | ClientFrame::Unsupported(_) => None,
    }
}

fn push_status(out: &mut Output, kind: StatusKind, ok: bool) {
    let status = if ok {
        ReplyStatus::OK
    } else {
        ReplyStatus::FAILED
    };
    push(out, &ServerFrame::Status(StatusReply { kind, status }));
}

fn custom(code: i32, message: String, ref_type: u8) -> ServerFrame {
    ServerFrame::Custom(CustomMessage {
        code: Some(code),
        message,
        ref_type: Some(ref_type),
    })
}

/// Encodes `frame` onto `out`; returns whether it could (it always can: every frame built here
/// is far below the size limit, but an encoder error must not take the simulator down).
fn push(out: &mut Output, frame: &ServerFrame) -> bool {
    match frame.to_bytes() {
        Ok(bytes) => {
            out.frames.push(bytes);
            true
        }
        Err(error) => {
            warn!(error = %error, msg_type = frame.msg_type(), "cannot encode a fyers frame; skipped");
            false
        }
    }
}
