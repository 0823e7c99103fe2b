//! What the failover run watches while it kills leaders: well-behaved `/ws/market` clients on
//! the edges (quote mode, throttle 0) that note every *fresh* tick — a higher cumulative volume
//! than they had for that instrument, so a value replayed from the Redis hash or a broker
//! snapshot after a failover is not mistaken for the feed resuming — and never reconnect (a
//! lost connection is a finding); and the simulator's broker sockets, sampled every 100 ms.

use super::analysis::{ClientTrace, SocketSample};
use feedgate_sim::Sim;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How often the simulator's sockets are counted.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Connects to the edge at `addr`, subscribes and records until `stop`. `ready` counts the
/// clients that saw a fresh tick.
pub async fn client(
    addr: SocketAddr,
    edge: String,
    symbols: Vec<String>,
    base: Instant,
    ready: Arc<AtomicUsize>,
    stop: CancellationToken,
) -> ClientTrace {
    let mut rec = Recorder {
        base,
        last: HashMap::new(),
        ready,
        trace: ClientTrace {
            edge,
            ..ClientTrace::default()
        },
    };
    let result = tokio::select! {
        () = stop.cancelled() => Ok(()),
        r = session(addr, &symbols, &mut rec) => r,
    };
    if let Err(e) = result {
        rec.trace.ended = Some(e.to_string());
    }
    rec.trace
}

async fn session(addr: SocketAddr, symbols: &[String], rec: &mut Recorder) -> std::io::Result<()> {
    crate::ws::watch_quotes(addr, symbols, |payload, at| rec.on_text(payload, at)).await
}

struct Recorder {
    base: Instant,
    /// The highest volume seen per token.
    last: HashMap<u64, u64>,
    ready: Arc<AtomicUsize>,
    trace: ClientTrace,
}

impl Recorder {
    /// A few hundred messages a second per client: plain `serde_json` is cheap enough.
    fn on_text(&mut self, payload: &[u8], at: Instant) {
        let Ok(msg) = serde_json::from_slice::<Value>(payload) else {
            return;
        };
        if msg.get("type").and_then(Value::as_str) != Some("ticker") {
            return;
        }
        let data = msg.get("data").unwrap_or(&Value::Null);
        let token = data.get("token").and_then(Value::as_u64);
        let volume = data.get("volume").and_then(Value::as_u64);
        let Some((token, volume)) = token.zip(volume) else {
            return;
        };
        let last = self.last.entry(token).or_insert(0);
        if volume <= *last {
            return;
        }
        *last = volume;
        if self.trace.fresh.is_empty() {
            self.ready.fetch_add(1, Ordering::Relaxed);
        }
        self.trace
            .fresh
            .push(at.saturating_duration_since(self.base).as_secs_f64());
    }
}

/// The simulator's broker sockets every [`SAMPLE_EVERY`] until `stop`.
pub async fn sockets(sim: Sim, base: Instant, stop: CancellationToken) -> Vec<SocketSample> {
    let mut out = Vec::new();
    let mut every = tokio::time::interval(SAMPLE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = every.tick() => {}
        }
        let ids = sim.state().connections.iter().map(|c| c.id).collect();
        out.push(SocketSample {
            t: base.elapsed().as_secs_f64(),
            ids,
        });
    }
    out
}
