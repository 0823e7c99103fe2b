//! The gateway under test, in its own process: this binary re-executed as
//! `feedgate-bench gateway …`, which wires a complete gateway (the same `Gateway::start` as
//! `feedgate serve`) against the harness's simulator. Its own process so that its CPU time and
//! resident memory can be read from `/proc/<pid>` apart from the simulator and the clients,
//! and so that it gets its own runtime threads, as in production.
//!
//! The child prints `listening <addr>` once serving and shuts down gracefully when its stdin
//! closes — including when the harness dies, so no gateway outlives a run.

use anyhow::{Context, anyhow, bail};
use feedgate_gateway::config::GatewayConfig;
use feedgate_gateway::model::clock::{SharedClock, SystemClock};
use feedgate_gateway::runtime::Gateway;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// Settings passed to the child on its command line.
#[derive(Debug, Clone, clap::Args)]
pub struct ChildArgs {
    /// The simulator's base URL (`http://127.0.0.1:PORT`).
    #[arg(long)]
    pub sim: String,
    #[arg(long)]
    pub api_key: String,
    /// Passed in the environment, not on the command line (visible in `ps`).
    #[arg(long, env = "FEEDGATE_BENCH_API_SECRET", hide_env_values = true)]
    pub api_secret: String,
    #[arg(long, env = "FEEDGATE_BENCH_ACCESS_TOKEN", hide_env_values = true)]
    pub access_token: String,
    /// `TICK_THROTTLE_MS` for clients that do not set their own.
    #[arg(long, default_value_t = 0)]
    pub throttle_ms: u64,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Address to serve on (default: a free loopback port). Set when the simulator's login page
    /// must redirect back to this gateway, whose address it needs before the gateway starts.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// `FEEDGATE_RECORD=off` (recording is on by default, as in production).
    #[arg(long)]
    pub no_record: bool,
    /// A cluster node (DESIGN.md §9): `FEEDGATE_ROLE`, `FEEDGATE_REDIS_URL`, `FEEDGATE_NODE`.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// A cluster node's settings; without `--role`, the default single process (`all`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterArgs {
    /// `FEEDGATE_ROLE`: ingest, edge or ingest,edge.
    #[arg(long)]
    pub role: Option<String>,
    /// `FEEDGATE_REDIS_URL` (in the environment: it may hold a password).
    #[arg(long, env = "FEEDGATE_BENCH_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// `FEEDGATE_NODE`.
    #[arg(long)]
    pub node: Option<String>,
    /// `FEEDGATE_SECRET_KEY`, which clustered roles need (in the environment: a secret).
    #[arg(long, env = "FEEDGATE_BENCH_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
}

/// A running gateway child.
#[derive(Debug)]
pub struct GatewayProc {
    child: Child,
    stdin: Option<ChildStdin>,
    pub addr: SocketAddr,
    pub pid: u32,
}

impl GatewayProc {
    pub async fn spawn(args: &ChildArgs) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find the harness's own executable")?;
        // Profiling: FEEDGATE_BENCH_WRAP="valgrind --tool=massif" runs the gateway under it.
        let wrap = std::env::var("FEEDGATE_BENCH_WRAP").unwrap_or_default();
        let mut words = wrap.split_whitespace();
        let mut cmd = match words.next() {
            Some(tool) => {
                let mut c = Command::new(tool);
                c.args(words).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        cmd.arg("gateway")
            .args(["--sim", &args.sim])
            .args(["--api-key", &args.api_key])
            .env("FEEDGATE_BENCH_API_SECRET", &args.api_secret)
            .env("FEEDGATE_BENCH_ACCESS_TOKEN", &args.access_token)
            .args(["--throttle-ms", &args.throttle_ms.to_string()]);
        if let Some(t) = args.threads {
            cmd.args(["--threads", &t.to_string()]);
        }
        if let Some(a) = args.listen {
            cmd.args(["--listen", &a.to_string()]);
        }
        if args.no_record {
            cmd.arg("--no-record");
        }
        let c = &args.cluster;
        if let Some(role) = &c.role {
            cmd.args(["--role", role]);
        }
        if let Some(node) = &c.node {
            cmd.args(["--node", node]);
        }
        for (var, value) in [
            ("FEEDGATE_BENCH_REDIS_URL", &c.redis_url),
            ("FEEDGATE_BENCH_SECRET_KEY", &c.secret_key),
        ] {
            match value {
                Some(v) => cmd.env(var, v),
                None => cmd.env_remove(var),
            };
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("cannot start the gateway process")?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("the gateway process exited at once"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no stdout pipe"))?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
            .await
            .context("the gateway did not start within 120 s")?
            .context("reading the gateway's stdout")?
            .ok_or_else(|| anyhow!("the gateway exited before listening (see its stderr)"))?;
        let addr = line
            .strip_prefix("listening ")
            .and_then(|a| a.trim().parse().ok())
            .ok_or_else(|| anyhow!("unexpected line from the gateway: {line:?}"))?;
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let stdin = child.stdin.take();
        Ok(Self {
            child,
            stdin,
            addr,
            pid,
        })
    }

    /// `kill -9` and reap: no release of a cluster lock, no goodbye.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Asks the gateway to shut down (stdin closed) and waits; kills it after 30 s.
    pub async fn stop(mut self) {
        drop(self.stdin.take());
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// The child's main: serve until stdin closes.
pub fn child_main(args: ChildArgs) -> anyhow::Result<()> {
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(t) = args.threads {
        rt.worker_threads(t.max(1));
    }
    let rt = rt.enable_all().build().context("tokio runtime")?;
    rt.block_on(serve(args))
}

async fn serve(args: ChildArgs) -> anyhow::Result<()> {
    let at = args
        .listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let listener = tokio::net::TcpListener::bind(at)
        .await
        .with_context(|| format!("cannot bind the gateway's port ({at})"))?;
    let addr = listener.local_addr()?;
    let data_dir = tempfile::Builder::new()
        .prefix("feedgate-bench-")
        .tempdir()
        .context("temporary data directory")?;
    let vars = child_vars(&args, addr, data_dir.path());
    let config = GatewayConfig::from_vars(&vars).map_err(|e| anyhow!("gateway config: {e}"))?;
    let gw = start_gateway(config, listener).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening {}", gw.local_addr())?;
        out.flush()?;
    }
    wait_for_stdin_close().await;
    gw.shutdown(Duration::from_secs(5)).await;
    drop(data_dir);
    Ok(())
}

/// The gateway's settings: Kite against the harness's simulator, no watchlist, market open.
fn child_vars(args: &ChildArgs, addr: SocketAddr, data_dir: &Path) -> BTreeMap<String, String> {
    let ws_url = args.sim.replacen("http://", "ws://", 1);
    let mut vars = BTreeMap::new();
    for (k, v) in [
        ("FEEDGATE_LISTEN", addr.to_string()),
        ("FEEDGATE_DATA_DIR", data_dir.display().to_string()),
        ("FEEDGATE_INSTRUMENTS", String::new()),
        ("KITE_API_URL", args.sim.clone()),
        ("KITE_WS_URL", ws_url),
        ("KITE_LOGIN_URL", format!("{}/connect/login", args.sim)),
        ("ZERODHA_API_KEY", args.api_key.clone()),
        ("ZERODHA_API_SECRET", args.api_secret.clone()),
        ("ZERODHA_ACCESS_TOKEN", args.access_token.clone()),
        ("TICK_THROTTLE_MS", args.throttle_ms.to_string()),
        ("DEV_MODE", "true".into()),
        (
            "FEEDGATE_RECORD",
            if args.no_record { "off" } else { "on" }.into(),
        ),
    ] {
        vars.insert(k.to_string(), v);
    }
    let c = &args.cluster;
    for (k, v) in [
        ("FEEDGATE_ROLE", &c.role),
        ("FEEDGATE_REDIS_URL", &c.redis_url),
        ("FEEDGATE_NODE", &c.node),
        ("FEEDGATE_SECRET_KEY", &c.secret_key),
    ] {
        if let Some(v) = v {
            vars.insert(k.to_string(), v.clone());
        }
    }
    vars
}

/// The same `Gateway::start` as `feedgate serve`, with the Kite adapter and the system clock.
async fn start_gateway(
    config: GatewayConfig,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<Gateway> {
    let clock: SharedClock = Arc::new(SystemClock);
    feedgate_bench::kite_gateway::start(config, clock, None, listener).await
}

/// Serve until the harness closes our stdin (or dies).
async fn wait_for_stdin_close() {
    let mut stdin = tokio::io::stdin();
    let mut sink = [0u8; 64];
    loop {
        match stdin.read(&mut sink).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// `GET path` on the gateway (HTTP/1.0, so the body ends at EOF); returns the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut body = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut body))
        .await
        .context("HTTP GET timed out")??;
    match body.split_once("\r\n\r\n") {
        Some((head, rest))
            if head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200") =>
        {
            Ok(rest.to_string())
        }
        _ => bail!("GET {path}: unexpected response"),
    }
}

/// The gateway's hub counters from `/metrics`.
#[derive(Debug, Default, Clone, Copy)]
pub struct HubCounters {
    pub ticks: f64,
    pub conflated: f64,
    /// Ticks decoded from the broker's frames.
    pub upstream_ticks: f64,
    /// Bytes the recorder wrote to disk, and frames it had to drop.
    pub record_bytes: f64,
    pub record_dropped: f64,
}

pub async fn hub_counters(addr: SocketAddr) -> anyhow::Result<HubCounters> {
    let text = http_get(addr, "/metrics").await?;
    let value = |name: &str| -> f64 {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(' '))
            .filter(|(k, _)| *k == name || k.starts_with(&format!("{name}{{")))
            .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
            .sum()
    };
    Ok(HubCounters {
        ticks: value("feedgate_hub_ticks_total"),
        conflated: value("feedgate_hub_conflated_total"),
        upstream_ticks: value("feedgate_upstream_ticks_total"),
        record_bytes: value("feedgate_record_bytes_total"),
        record_dropped: value("feedgate_record_dropped_frames_total"),
    })
}
