//! The chaos run's one client: subscribes to the symbols (quote mode, throttle 0) and records
//! when each fresh `ticker` arrives, per symbol, with the instant the simulator sent that update
//! (from the [`SendLog`], by token and cumulative volume). A few hundred messages a second, so
//! plain `serde_json` parsing is cheap enough here.

use crate::sendlog::SendLog;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// One fresh tick as received.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub symbol: usize,
    pub at: Instant,
    pub sent: Option<Instant>,
}

/// What the client saw.
#[derive(Debug, Default)]
pub struct ClientLog {
    /// Fresh ticks (`src` ws or rest), in arrival order.
    pub ticks: Vec<Received>,
    /// `ticker` messages by `src` (`cache` included).
    pub by_src: HashMap<String, u64>,
    /// `error` messages from the gateway.
    pub errors: u64,
    /// Why the connection ended before the run did.
    pub ended: Option<String>,
}

/// Shared with the harness while the client runs.
#[derive(Debug, Default)]
pub struct Progress {
    /// Distinct symbols that got a fresh tick.
    pub symbols_seen: AtomicUsize,
}

/// Connects, subscribes and records until `stop`.
pub async fn run(
    addr: SocketAddr,
    symbols: Vec<String>,
    log: Arc<SendLog>,
    progress: Arc<Progress>,
    stop: CancellationToken,
) -> ClientLog {
    let mut rec = Recorder::new(&symbols, log, progress);
    let result = tokio::select! {
        () = stop.cancelled() => Ok(()),
        r = session(addr, &symbols, &mut rec) => r,
    };
    if let Err(e) = result {
        rec.out.ended = Some(e.to_string());
    }
    rec.out
}

async fn session(addr: SocketAddr, symbols: &[String], rec: &mut Recorder) -> std::io::Result<()> {
    crate::ws::watch_quotes(addr, symbols, |payload, at| rec.on_text(payload, at)).await
}

struct Recorder {
    index: HashMap<String, usize>,
    seen: Vec<bool>,
    log: Arc<SendLog>,
    progress: Arc<Progress>,
    out: ClientLog,
}

impl Recorder {
    fn new(symbols: &[String], log: Arc<SendLog>, progress: Arc<Progress>) -> Self {
        Self {
            index: symbols
                .iter()
                .enumerate()
                .map(|(i, s)| (s.clone(), i))
                .collect(),
            seen: vec![false; symbols.len()],
            log,
            progress,
            out: ClientLog::default(),
        }
    }

    fn on_text(&mut self, payload: &[u8], at: Instant) {
        let Ok(msg) = serde_json::from_slice::<Value>(payload) else {
            return;
        };
        match msg.get("type").and_then(Value::as_str) {
            Some("ticker") => self.on_ticker(msg.get("data").unwrap_or(&Value::Null), at),
            Some("error") => self.out.errors += 1,
            _ => {}
        }
    }

    fn on_ticker(&mut self, data: &Value, at: Instant) {
        let src = data.get("src").and_then(Value::as_str).unwrap_or("?");
        *self.out.by_src.entry(src.to_string()).or_default() += 1;
        if src != "ws" && src != "rest" {
            return;
        }
        let symbol = data.get("symbol").and_then(Value::as_str);
        let Some(&i) = symbol.and_then(|s| self.index.get(s)) else {
            return;
        };
        let token = data.get("token").and_then(Value::as_u64);
        let volume = data.get("volume").and_then(Value::as_u64);
        let sent = token
            .zip(volume)
            .and_then(|(t, v)| self.log.sent_at(u32::try_from(t).ok()?, v));
        self.out.ticks.push(Received {
            symbol: i,
            at,
            sent,
        });
        if let Some(seen) = self.seen.get_mut(i).filter(|s| !**s) {
            *seen = true;
            self.progress.symbols_seen.fetch_add(1, Ordering::Relaxed);
        }
    }
}
