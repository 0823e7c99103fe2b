//! The soak's client, as a dashboard is one: a WebSocket on `/ws/market` subscribed to the
//! symbols in `quote` mode with one-minute candles, read continuously, noting when each symbol
//! last had a fresh tick (a live or REST value; the cache's replay of a last-known value on
//! reconnect is not fresh), and how long after an instant (a fault, a login) every symbol had
//! one again: the fault's *time to data*, as the chaos run defines it. Times are tokio's, so
//! under paused time they are the simulated instants at which the messages arrived.

use crate::ws::{OP_CLOSE, OP_TEXT, WsConn};
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// The client and what it has seen.
pub struct Watch {
    conn: WsConn,
    symbols: Vec<String>,
    last: HashMap<String, Instant>,
    /// Instants whose time to data is still being measured, with the symbols fresh since.
    pending: Vec<Pending>,
}

/// A time to data being measured.
struct Pending {
    id: usize,
    since: Instant,
    fresh: HashSet<String>,
    /// The latest of the symbols' first fresh ticks so far.
    until: Instant,
}

impl Watch {
    /// Connects, subscribes and reads the ack.
    pub async fn subscribe(gateway: SocketAddr, symbols: &[&str]) -> anyhow::Result<Self> {
        let conn = WsConn::connect(gateway, "/ws/market", 64 << 10)
            .await
            .context("client connects")?;
        let mut watch = Self {
            conn,
            symbols: symbols.iter().map(|s| (*s).to_string()).collect(),
            last: HashMap::new(),
            pending: Vec::new(),
        };
        let req =
            json!({"action": "subscribe", "symbols": symbols, "mode": "quote", "candles": "1m"});
        watch.conn.send_text(&req.to_string()).await?;
        let until = Instant::now() + Duration::from_secs(10);
        let mut acked = false;
        while !acked && Instant::now() < until {
            for v in watch
                .read_until(until.min(Instant::now() + Duration::from_millis(100)))
                .await?
            {
                if v["type"] == "ack" {
                    if v["count"] != symbols.len() {
                        bail!("subscribe ack {v}");
                    }
                    acked = true;
                }
            }
        }
        if !acked {
            bail!("no subscribe ack");
        }
        Ok(watch)
    }

    /// Reads until `deadline`, noting fresh ticks; returns the other messages.
    pub async fn read_until(&mut self, deadline: Instant) -> anyhow::Result<Vec<Value>> {
        let mut others = Vec::new();
        loop {
            let mut texts = Vec::new();
            let mut closed = false;
            let read = tokio::time::timeout_at(
                deadline,
                self.conn.read_frames(|op, payload| match op {
                    OP_TEXT => texts.push(payload.to_vec()),
                    OP_CLOSE => closed = true,
                    _ => {}
                }),
            )
            .await;
            let at = Instant::now();
            for t in texts {
                let v: Value = serde_json::from_slice(&t).context("a JSON message")?;
                if v["type"] == "ticker" && v["data"]["src"] != "cache" {
                    if let Some(s) = v["data"]["symbol"].as_str() {
                        self.fresh(s, at);
                    }
                } else {
                    others.push(v);
                }
            }
            match read {
                Err(_elapsed) => return Ok(others),
                Ok(Ok(true)) if !closed => {}
                Ok(Ok(_)) => bail!("the gateway closed the client"),
                Ok(Err(e)) => return Err(e).context("reading the client socket"),
            }
        }
    }

    /// The longest any symbol has gone without a fresh tick.
    pub fn worst_silence(&self) -> Duration {
        self.symbols
            .iter()
            .map(|s| self.last.get(s).map_or(Duration::MAX, |t| t.elapsed()))
            .max()
            .unwrap_or_default()
    }

    fn fresh(&mut self, symbol: &str, at: Instant) {
        self.last.insert(symbol.to_string(), at);
        for p in &mut self.pending {
            if at > p.since && p.fresh.insert(symbol.to_string()) {
                p.until = p.until.max(at);
            }
        }
    }

    /// Starts measuring the time to data from now; `id` names it in [`Self::recovered`].
    pub fn measure_from_now(&mut self, id: usize) {
        let now = Instant::now();
        self.pending.push(Pending {
            id,
            since: now,
            fresh: HashSet::new(),
            until: now,
        });
    }

    /// The measurements completed since the last call: `(id, time to data)`.
    pub fn recovered(&mut self) -> Vec<(usize, Duration)> {
        let n = self.symbols.len();
        let (done, open): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.fresh.len() >= n);
        self.pending = open;
        done.into_iter()
            .map(|p| (p.id, p.until.duration_since(p.since)))
            .collect()
    }

    /// Forgets the silence before now (the market opens, a login arrives).
    pub fn restart(&mut self) {
        let now = Instant::now();
        for s in &self.symbols {
            self.last.insert(s.clone(), now);
        }
    }
}
