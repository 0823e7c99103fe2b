//! DESIGN.md §10's limits, attacked over real sockets while a well-behaved canary client
//! streams ticks: a ping flood whose pongs are never read, 300 sockets each sending an
//! unfinished 1 MiB frame, a binary-frame flood, the connection caps (503, freed when
//! connections close), a slowloris header trickle (closed 10 s after its first byte), an idle
//! keep-alive connection (closed at 60 s, not before) and an oversized head (431).
//!
//! The gateway runs in this process, so memory is this process's resident set
//! (`/proc/self/statm`); the tests of this file run one at a time so they do not measure each
//! other. Floods run in real time on two worker threads (the canary's ticks need the market's
//! clock to move while the attacker is busy); timeouts run in paused time.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Env, EnvBuilder, WAIT, client, subscribe, wait_until};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// One test at a time: each measures the process's memory.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MIB: u64 = 1 << 20;
/// What an attack may add to the resident set.
const MAX_GROWTH: u64 = 64 * MIB;

fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// A subscribed client whose ticks are counted by a task of its own.
struct Canary {
    ticks: Arc<AtomicU64>,
}

impl Canary {
    async fn start(env: &Env) -> Self {
        let mut c = client(env).await;
        subscribe(
            &mut c,
            &["NSE:SBIN", "NSE:INFY", "NSE:RELIANCE", "NSE:TCS"],
            "ltp",
        )
        .await;
        let ticks = Arc::new(AtomicU64::new(0));
        let count = ticks.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = c.ws.next().await {
                if let Message::Text(t) = msg
                    && t.as_str().starts_with(r#"{"type":"ticker""#)
                {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Self { ticks }
    }

    /// Ticks received within the next `window`.
    async fn ticks_in(&self, window: Duration) -> u64 {
        let before = self.ticks.load(Ordering::Relaxed);
        tokio::time::sleep(window).await;
        self.ticks.load(Ordering::Relaxed) - before
    }
}

/// A fast market (about ten updates a second per instrument) on real time.
async fn busy_env() -> Env {
    EnvBuilder::new().sim(|s| s.speed = 10.0).start().await
}

/// A raw WebSocket (handshake done) for writing hand-made frames.
async fn raw_ws(env: &Env) -> TcpStream {
    let tcp = TcpStream::connect(env.gw().local_addr()).await.unwrap();
    let url = format!("ws://{}/ws/market", env.gw().local_addr());
    let (ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    ws.into_inner()
}

/// A masked client frame header: FIN, `opcode`, a 64-bit length, a zero mask.
fn frame_header(opcode: u8, len: u64) -> Vec<u8> {
    let mut h = vec![0x80 | opcode, 0x80 | 127];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0]);
    h
}

/// The attack runs while the canary is measured; memory and ticks before, during and after.
async fn under_attack<F>(env: &Env, attack: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let canary = Canary::start(env).await;
    let base_rss = rss();
    let before = canary.ticks_in(Duration::from_millis(1000)).await;
    assert!(
        before > 5,
        "the canary streams before the attack ({before} ticks/s)"
    );
    let t0 = std::time::Instant::now();
    let attack = tokio::spawn(attack);
    let during = canary.ticks_in(Duration::from_millis(1500)).await;
    let peak = rss();
    attack.await.unwrap();
    eprintln!("attack took {:?}", t0.elapsed());
    let after = canary.ticks_in(Duration::from_millis(1000)).await;
    let growth = peak
        .saturating_sub(base_rss)
        .max(rss().saturating_sub(base_rss));
    eprintln!(
        "rss {} MiB → +{} KiB; canary ticks/s before {before}, during {:.0}, after {after}",
        base_rss / MIB,
        growth / 1024,
        during as f64 / 1.5
    );
    assert!(
        growth <= MAX_GROWTH,
        "the attack grew the process by {} MiB",
        growth / MIB
    );
    assert!(during > 0, "the canary was starved during the attack");
    assert!(after > 0, "the canary streams after the attack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_that_never_reads_its_pongs_is_bounded_and_closed() {
    let _one = SERIAL.lock().await;
    let env = busy_env().await;
    let mut attacker = client(&env).await;
    under_attack(&env, async move {
        // Never reads: pongs pile up on the gateway's side unless they are bounded.
        let ping = Message::Ping(vec![7u8; 125].into());
        let started = std::time::Instant::now();
        'flood: while started.elapsed() < Duration::from_secs(1) {
            for _ in 0..1000 {
                if attacker.ws.feed(ping.clone()).await.is_err() {
                    break 'flood;
                }
            }
            if attacker.ws.flush().await.is_err() {
                break;
            }
        }
        // The gateway closed it: the close frame is among what it sent.
        let closed = tokio::time::timeout(WAIT, async {
            while let Some(Ok(msg)) = attacker.ws.next().await {
                if let Message::Close(Some(c)) = msg {
                    return Some(u16::from(c.code));
                }
            }
            None
        })
        .await;
        assert!(
            matches!(closed, Ok(Some(1008)) | Ok(None)),
            "the flooder is disconnected: {closed:?}"
        );
    })
    .await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_unfinished_one_mib_frames_are_refused_at_their_header() {
    let _one = SERIAL.lock().await;
    let env = busy_env().await;
    let mut sockets = Vec::new();
    for _ in 0..300 {
        sockets.push(raw_ws(&env).await);
    }
    under_attack(&env, async move {
        let chunk = vec![b'x'; 64 * 1024];
        let mut writers = Vec::new();
        for mut s in sockets {
            let chunk = chunk.clone();
            writers.push(tokio::spawn(async move {
                if s.write_all(&frame_header(0x1, MIB)).await.is_err() {
                    return s;
                }
                // All but the last byte, then silence.
                for _ in 0..15 {
                    if s.write_all(&chunk).await.is_err() {
                        return s;
                    }
                }
                let _ = s.write_all(&chunk[1..]).await;
                s
            }));
        }
        for w in writers {
            // Held open (not dropped) until the measurement ends.
            std::mem::forget(tokio::time::timeout(WAIT, w).await);
        }
    })
    .await;
    env.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_message_left_unfinished_closes_the_connection_after_10_s() {
    let _one = SERIAL.lock().await;
    let env = EnvBuilder::new().start().await;
    let mut s = raw_ws(&env).await;
    let t0 = tokio::time::Instant::now();
    s.write_all(&frame_header(0x1, 60_000)).await.unwrap();
    s.write_all(&[b'x'; 1000]).await.unwrap();
    // Trickling more of it does not help: the deadline runs from its first byte.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        s.write_all(&[b'x'; 10]).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => panic!("still open 30 s later"),
        }
    }
    let elapsed = t0.elapsed();
    assert!(
        (Duration::from_secs(10)..Duration::from_secs(12)).contains(&elapsed),
        "closed after {elapsed:?}"
    );
    // The close frame (opcode 0x8) with 1008 is the last thing sent.
    let close = [0x88u8, 0x1f, 0x03, 0xf0];
    assert!(
        seen.windows(4).any(|w| w == close),
        "a close 1008 was sent: {:?}",
        String::from_utf8_lossy(&seen)
    );
    env.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_binary_flood_gets_one_error_a_second_and_is_disconnected() {
    let _one = SERIAL.lock().await;
    let env = EnvBuilder::new().start().await;
    let mut flood = client(&env).await;
    for _ in 0..2000 {
        if flood
            .ws
            .feed(Message::binary(vec![1u8, 2, 3]))
            .await
            .is_err()
        {
            break;
        }
    }
    let _ = flood.ws.flush().await;
    let (mut unsupported, mut close) = (0, None);
    while let Some(v) = flood.next_within(WAIT).await {
        if v["code"] == "unsupported_frame" {
            unsupported += 1;
        }
        if v["type"] == "close" {
            close = Some(v["code"].clone());
            break;
        }
    }
    assert_eq!(unsupported, 1, "one error for the lot, not one per frame");
    assert_eq!(
        close,
        Some(serde_json::json!(1008)),
        "binary frames count as a flood"
    );
    env.shutdown().await;
}

/// Reads what the gateway answers a connection over a cap.
async fn refused(env: &Env) -> String {
    let mut s = TcpStream::connect(env.gw().local_addr()).await.unwrap();
    let mut out = String::new();
    let read = tokio::time::timeout(WAIT, s.read_to_string(&mut out)).await;
    assert!(
        read.is_ok(),
        "the refusal is written and closed promptly: {out:?}"
    );
    out
}

async fn metric(env: &Env, cause: &str) -> String {
    let Ok(resp) = env.http.get(format!("{}/metrics", env.base())).send().await else {
        return String::new();
    };
    let text = resp.text().await.unwrap_or_default();
    let key = format!("feedgate_limit_rejections_total{{cause=\"{cause}\"}}");
    text.lines()
        .find(|l| l.starts_with(&key))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(start_paused = true)]
async fn over_the_connection_cap_new_connections_get_503_until_some_close() {
    let _one = SERIAL.lock().await;
    let env = EnvBuilder::new()
        .var("FEEDGATE_MAX_CONNECTIONS", "4")
        .start()
        .await;
    let mut canary = client(&env).await;
    subscribe(&mut canary, &["NSE:SBIN"], "ltp").await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(env.gw().local_addr()).await.unwrap());
    }
    let answer = refused(&env).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("connection limit"), "{answer}");
    // The canary keeps streaming.
    assert!(
        common::next_tick(&mut canary, "NSE:SBIN", WAIT)
            .await
            .is_some()
    );
    // Freed when connections close.
    idle.clear();
    assert!(
        wait_until(WAIT, || async {
            env.http
                .get(format!("{}/api/system/health", env.base()))
                .send()
                .await
                .is_ok()
        })
        .await
    );
    assert!(!metric(&env, "max_connections").await.is_empty());
    env.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_per_ip_cap_counts_tcp_peers_and_exempts_trusted_proxies() {
    let _one = SERIAL.lock().await;
    let env = EnvBuilder::new()
        .var("FEEDGATE_MAX_CONNECTIONS_PER_IP", "2")
        .start()
        .await;
    let _a = client(&env).await;
    let b = TcpStream::connect(env.gw().local_addr()).await.unwrap();
    let answer = refused(&env).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    drop(b);
    assert!(
        wait_until(WAIT, || async {
            !metric(&env, "max_connections_per_ip").await.is_empty()
        })
        .await
    );
    env.shutdown().await;

    let env = EnvBuilder::new()
        .var("FEEDGATE_MAX_CONNECTIONS_PER_IP", "2")
        .var("FEEDGATE_TRUSTED_PROXIES", "127.0.0.1")
        .start()
        .await;
    let _a = client(&env).await;
    let _b = TcpStream::connect(env.gw().local_addr()).await.unwrap();
    let _c = client(&env).await;
    env.shutdown().await;
}

/// Reads until the gateway closes the connection; how long that took.
async fn closed_after(s: &mut TcpStream) -> Duration {
    let t0 = tokio::time::Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(300), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return t0.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("still open after 300 s"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_header_trickle_is_closed_10_s_after_its_first_byte() {
    let _one = SERIAL.lock().await;
    let env = EnvBuilder::new().start().await;
    let mut s = TcpStream::connect(env.gw().local_addr()).await.unwrap();
    // Idle for a while first: the header clock starts at the first byte, not the connect.
    tokio::time::sleep(Duration::from_secs(30)).await;
    s.write_all(b"GET /api/system/health HTTP/1.1\r\n")
        .await
        .unwrap();
    let trickle = async {
        for i in 0..100 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if s.write_all(format!("x-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    };
    let t0 = tokio::time::Instant::now();
    trickle.await;
    let mut s2 = s;
    let elapsed = t0.elapsed() + closed_after(&mut s2).await;
    assert!(
        (Duration::from_secs(10)..Duration::from_secs(13)).contains(&elapsed),
        "closed {elapsed:?} after the first byte"
    );
    assert!(!metric(&env, "header_timeout").await.is_empty());
    env.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn an_idle_keep_alive_connection_is_closed_at_60_s_not_before() {
    let _one = SERIAL.lock().await;
    let env = EnvBuilder::new().start().await;
    let mut s = TcpStream::connect(env.gw().local_addr()).await.unwrap();
    s.write_all(b"GET /api/system/health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = s.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // Hyper's own header timer would have closed it at 10 s; 59 s later it still serves.
    tokio::time::sleep(Duration::from_secs(59)).await;
    s.write_all(b"GET /api/system/health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "still open at 59 s");
    let elapsed = closed_after(&mut s).await;
    assert!(
        (Duration::from_secs(60)..Duration::from_secs(62)).contains(&elapsed),
        "closed {elapsed:?} after the last response"
    );
    env.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_head_over_16_kib_is_refused_with_431() {
    let _one = SERIAL.lock().await;
    let env = EnvBuilder::new().start().await;
    let mut s = TcpStream::connect(env.gw().local_addr()).await.unwrap();
    let big = format!(
        "GET /api/system/health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-pad: {}\r\n\r\n",
        "y".repeat(20 * 1024)
    );
    let _ = s.write_all(big.as_bytes()).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut out)).await;
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    env.shutdown().await;
}
