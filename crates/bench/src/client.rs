//! One simulated gateway client: connects, subscribes, then reads until told to stop, matching
//! every `ticker` message to its send instant in the [`SendLog`] by (token, volume). Only the
//! fields needed are located in the JSON (the client must stay cheap: see [`crate::ws`]).

use crate::sendlog::SendLog;
use crate::ws::{OP_BINARY, OP_CLOSE, OP_TEXT, WsConn};
use hdrhistogram::Histogram;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

/// Phases of a run, shared by every client.
pub const WARMUP: u8 = 0;
pub const MEASURE: u8 = 1;
pub const DONE: u8 = 2;

/// Highest latency the histograms hold (larger values are clamped): 120 s in ns.
const MAX_LATENCY_NS: u64 = 120_000_000_000;

/// State shared by the harness and every client of a run.
#[derive(Debug)]
pub struct Control {
    pub phase: AtomicU8,
    /// Clients that received their first tick.
    pub ready: AtomicUsize,
    /// Clients connected (upgrade done).
    pub connected: AtomicUsize,
    pub stop: CancellationToken,
    pub log: Arc<SendLog>,
    /// Recovery probe: ns after `base` of a fault; `u64::MAX` when none is armed.
    pub mark_ns: AtomicU64,
    pub base: Instant,
    /// The first tick received after the armed mark that was sent after it (or that the
    /// simulator never logged: a resubscription snapshot), as ns after `base`.
    pub first_after_mark: AtomicU64,
}

impl Control {
    pub fn new(log: Arc<SendLog>) -> Arc<Self> {
        Arc::new(Self {
            phase: AtomicU8::new(WARMUP),
            ready: AtomicUsize::new(0),
            connected: AtomicUsize::new(0),
            stop: CancellationToken::new(),
            log,
            mark_ns: AtomicU64::new(u64::MAX),
            base: Instant::now(),
            first_after_mark: AtomicU64::new(u64::MAX),
        })
    }

    pub fn ns_since_base(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Arms the recovery probe at `at`.
    pub fn arm(&self, at: Instant) {
        self.first_after_mark.store(u64::MAX, Ordering::SeqCst);
        self.mark_ns.store(self.ns_since_base(at), Ordering::SeqCst);
    }
}

/// The endpoint a client speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// `/ws/market`: JSON `ticker` messages.
    #[default]
    Json,
    /// `/kite`: Kite's ticker protocol (binary frames of quote packets).
    Kite,
}

impl Protocol {
    fn path(self) -> &'static str {
        match self {
            Self::Json => "/ws/market",
            Self::Kite => "/kite",
        }
    }
}

/// What one client does.
#[derive(Debug, Clone)]
pub struct Plan {
    pub protocol: Protocol,
    pub symbols: Vec<String>,
    /// The same instruments' tokens (what a `/kite` client subscribes by).
    pub tokens: Vec<u32>,
    /// Sent as an `options` request when set (else the gateway's `TICK_THROTTLE_MS`).
    pub throttle_ms: Option<u64>,
    /// Subscribe, then never read again (the slow-consumer scenario).
    pub stop_reading: bool,
    /// Initial read buffer.
    pub buf_size: usize,
}

/// What one client saw during the measured phase.
#[derive(Debug)]
pub struct Report {
    pub ticks: u64,
    pub matched: u64,
    pub unmatched: u64,
    pub latency_ns: Histogram<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// The gateway closed the connection (or it failed).
    pub ended: Option<String>,
    pub stop_reading: bool,
}

impl Report {
    fn new(stop_reading: bool) -> Self {
        Self {
            ticks: 0,
            matched: 0,
            unmatched: 0,
            latency_ns: new_histogram(),
            errors: 0,
            first_error: None,
            ended: None,
            stop_reading,
        }
    }
}

pub fn new_histogram() -> Histogram<u64> {
    // Two significant digits (1 %): ~30 KiB per histogram, 500 clients → 15 MiB.
    match Histogram::new_with_bounds(1, MAX_LATENCY_NS, 2) {
        Ok(h) => h,
        Err(_) => unreachable!("constant, valid histogram bounds"),
    }
}

/// Runs one client until `ctl.stop`; its report lands in `out`.
/// `permit` bounds the connection attempts in flight; it is released once subscribed.
pub async fn run(
    addr: SocketAddr,
    plan: Plan,
    ctl: Arc<Control>,
    out: Arc<Mutex<Vec<Report>>>,
    permit: Option<OwnedSemaphorePermit>,
) {
    let mut report = Report::new(plan.stop_reading);
    if let Err(e) = serve(addr, &plan, &ctl, &mut report, permit).await {
        report.ended = Some(e.to_string());
    }
    out.lock().unwrap_or_else(|p| p.into_inner()).push(report);
}

async fn serve(
    addr: SocketAddr,
    plan: &Plan,
    ctl: &Control,
    report: &mut Report,
    permit: Option<OwnedSemaphorePermit>,
) -> std::io::Result<()> {
    let mut ws = tokio::select! {
        () = ctl.stop.cancelled() => return Ok(()),
        r = WsConn::connect(addr, plan.protocol.path(), plan.buf_size) => r?,
    };
    ctl.connected.fetch_add(1, Ordering::Relaxed);
    subscribe(&mut ws, plan, ctl).await?;
    drop(permit);
    if plan.stop_reading {
        ctl.ready.fetch_add(1, Ordering::Relaxed);
        ctl.stop.cancelled().await;
        return Ok(());
    }
    let mut frames = Frames::new(ctl, report, plan.symbols.is_empty());
    frames.read_until_stop(&mut ws).await;
    ws.close().await;
    Ok(())
}

/// Sends the plan's options and subscription; a client without symbols is ready at once.
async fn subscribe(ws: &mut WsConn, plan: &Plan, ctl: &Control) -> std::io::Result<()> {
    if plan.protocol == Protocol::Kite {
        if plan.tokens.is_empty() {
            ctl.ready.fetch_add(1, Ordering::Relaxed);
        } else {
            let tokens = serde_json::to_string(&plan.tokens).unwrap_or_default();
            ws.send_text(&format!(r#"{{"a":"subscribe","v":{tokens}}}"#))
                .await?;
        }
        return Ok(());
    }
    if let Some(ms) = plan.throttle_ms {
        ws.send_text(&format!(r#"{{"action":"options","throttle_ms":{ms}}}"#))
            .await?;
    }
    if !plan.symbols.is_empty() {
        let symbols = serde_json::to_string(&plan.symbols).unwrap_or_default();
        ws.send_text(&format!(
            r#"{{"action":"subscribe","symbols":{symbols},"mode":"quote"}}"#
        ))
        .await?;
    } else {
        ctl.ready.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// The reading side of a client: matches each `ticker` frame to its send instant.
struct Frames<'a> {
    ctl: &'a Control,
    report: &'a mut Report,
    /// Whether the first tick was seen (and counted in `ctl.ready`).
    got_first: bool,
    ticker: memchr::memmem::Finder<'static>,
    token_key: memchr::memmem::Finder<'static>,
    volume_key: memchr::memmem::Finder<'static>,
}

/// What a read checks its frames against, loaded once per read.
#[derive(Clone, Copy)]
struct ReadContext {
    /// When the read completed its first frame.
    received: Instant,
    phase: u8,
    /// The armed recovery mark, `u64::MAX` when none.
    mark: u64,
}

impl<'a> Frames<'a> {
    fn new(ctl: &'a Control, report: &'a mut Report, got_first: bool) -> Self {
        Self {
            ctl,
            report,
            got_first,
            ticker: memchr::memmem::Finder::new(b"{\"type\":\"ticker\""),
            token_key: memchr::memmem::Finder::new(b"\"token\":"),
            volume_key: memchr::memmem::Finder::new(b",\"volume\":"),
        }
    }

    /// Reads until `ctl.stop`, or until the gateway closes or the connection fails (noted in
    /// the report).
    async fn read_until_stop(&mut self, ws: &mut WsConn) {
        // Frames are timed at their read: the clock is read once per socket read, at the first
        // frame it completed, before any parsing.
        loop {
            let mut received: Option<Instant> = None;
            let phase = self.ctl.phase.load(Ordering::Relaxed);
            let mark = self.ctl.mark_ns.load(Ordering::Relaxed);
            let mut closed = false;
            let ctl = self.ctl;
            let read = tokio::select! {
                () = ctl.stop.cancelled() => break,
                r = ws.read_frames(|opcode, payload| {
                    let received = *received.get_or_insert_with(Instant::now);
                    if opcode == OP_CLOSE {
                        closed = true;
                    } else if opcode == OP_TEXT {
                        self.on_text(payload, ReadContext { received, phase, mark });
                    } else if opcode == OP_BINARY {
                        self.on_binary(payload, ReadContext { received, phase, mark });
                    }
                }) => r,
            };
            match read {
                Ok(true) if !closed => {}
                Ok(_) => {
                    self.report.ended = Some("closed by the gateway".into());
                    break;
                }
                Err(e) => {
                    self.report.ended = Some(e.to_string());
                    break;
                }
            }
        }
    }

    fn on_text(&mut self, payload: &[u8], at: ReadContext) {
        if self.ticker.find(payload) != Some(0) {
            self.on_other(payload);
            return;
        }
        let key = field(payload, &self.token_key).zip(field(payload, &self.volume_key));
        let key = key.and_then(|(t, v)| Some((u32::try_from(t).ok()?, v)));
        self.on_tick(key, at);
    }

    /// A Kite frame: every quote or full packet is a tick, keyed by its token and volume
    /// (bytes 0–4 and 16–20, kite.md §3.2). A 1-byte heartbeat carries none.
    fn on_binary(&mut self, payload: &[u8], at: ReadContext) {
        let Some(count) = payload.get(..2) else {
            return;
        };
        let mut rest = &payload[2..];
        for _ in 0..u16::from_be_bytes([count[0], count[1]]) {
            let Some((len, body)) = rest.split_first_chunk::<2>() else {
                return;
            };
            let len = usize::from(u16::from_be_bytes(*len));
            let Some(packet) = body.get(..len) else {
                return;
            };
            rest = &body[len..];
            let be = |r: std::ops::Range<usize>| {
                packet
                    .get(r)
                    .and_then(|b| Some(u32::from_be_bytes(b.try_into().ok()?)))
            };
            let key = be(0..4).zip(be(16..20)).map(|(t, v)| (t, u64::from(v)));
            self.on_tick(key, at);
        }
    }

    /// One tick: its send instant from the log by (token, volume), for the recovery probe
    /// and, in the measured window, the latency histogram.
    fn on_tick(&mut self, key: Option<(u32, u64)>, at: ReadContext) {
        if !self.got_first {
            self.got_first = true;
            self.ctl.ready.fetch_add(1, Ordering::Relaxed);
        }
        let ctl = self.ctl;
        let sent = key.and_then(|(t, v)| ctl.log.sent_at(t, v));
        if at.mark != u64::MAX {
            let after = sent.is_none_or(|s| ctl.ns_since_base(s) > at.mark);
            if after {
                ctl.first_after_mark
                    .fetch_min(ctl.ns_since_base(at.received), Ordering::SeqCst);
            }
        }
        if at.phase == MEASURE {
            self.record(sent, at.received);
        }
    }

    /// A non-ticker message: errors are counted, the first one kept.
    fn on_other(&mut self, payload: &[u8]) {
        if memchr::memmem::find(payload, b"\"type\":\"error\"").is_some() {
            self.report.errors += 1;
            if self.report.first_error.is_none() {
                self.report.first_error = Some(String::from_utf8_lossy(payload).into_owned());
            }
        }
    }

    /// A tick in the measured window: its latency when its send was logged.
    fn record(&mut self, sent: Option<Instant>, received: Instant) {
        let report = &mut *self.report;
        report.ticks += 1;
        match sent {
            Some(s) => {
                report.matched += 1;
                let ns = u64::try_from(received.saturating_duration_since(s).as_nanos())
                    .unwrap_or(MAX_LATENCY_NS)
                    .clamp(1, MAX_LATENCY_NS);
                let _ = report.latency_ns.record(ns);
            }
            None => report.unmatched += 1,
        }
    }
}

/// The unsigned integer after `key` in `payload`.
fn field(payload: &[u8], key: &memchr::memmem::Finder<'_>) -> Option<u64> {
    let at = key.find(payload)? + key.needle().len();
    let digits = payload.get(at..)?;
    let mut n: u64 = 0;
    let mut any = false;
    for &b in digits {
        if !b.is_ascii_digit() {
            break;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        any = true;
    }
    any.then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_token_and_volume() {
        let msg = br#"{"type":"ticker","data":{"symbol":"NSE:SYN0001","token":25600257,"ltp":100.5,"ch":0,"chp":0,"open":1,"high":1,"low":1,"close":1,"volume":4242,"ts":"x","src":"ws"}}"#;
        let t = memchr::memmem::Finder::new(b"\"token\":");
        let v = memchr::memmem::Finder::new(b",\"volume\":");
        assert_eq!(field(msg, &t), Some(25_600_257));
        assert_eq!(field(msg, &v), Some(4242));
        assert_eq!(field(b"{\"token\":x}", &t), None);
    }
}
