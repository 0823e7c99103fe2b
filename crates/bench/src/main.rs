//! `feedgate-bench`: the load harness (issue 9). Starts the simulator (in this process, with a
//! send hook that records when each update left it), the gateway (this binary re-executed, in
//! its own process, so its CPU and memory are read from `/proc/<pid>` alone) and N WebSocket
//! clients (tasks in this process) on loopback, and measures end-to-end latency, delivered
//! messages, conflation, gateway CPU and RSS, memory per idle client and recovery after faults.
//! Every run is bounded in time and exits by itself.
//!
//! ```text
//! cargo run --release -p feedgate-bench -- all          # the README table
//! cargo run --release -p feedgate-bench -- a --runs 5   # one scenario
//! cargo run -p feedgate-bench -- smoke                  # CI: proves the harness works
//! cargo run --release -p feedgate-bench -- chaos        # issue 13: faults every 12–25 s, 10 min
//! cargo run --release -p feedgate-bench -- soak --days 100   # issue 13: 100 days, paused time
//! cargo run --release -p feedgate-bench -- cluster      # issue 16: (a) on 1 process vs a cluster
//! cargo run --release -p feedgate-bench -- failover     # issue 16: leader kills, 10 min
//! ```

mod bed;
mod chaos;
mod client;
mod cluster;
mod decode;
mod gateway;
mod procstat;
mod recordday;
mod redis_proc;
mod report;
mod scenario;
mod sendlog;
use feedgate_bench::ws;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use client::Protocol;
use report::Table;
use scenario::{LoadSpec, Recovery};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "feedgate-bench",
    about = "feedgate load harness and benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Clone, clap::Args)]
struct RunOpts {
    /// Repetitions of each scenario (figures are medians over them).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Measured window of a load run, seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up after every client got its first tick, seconds.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Gateway runtime worker threads (default: one per core).
    #[arg(long)]
    gateway_threads: Option<usize>,
    /// Harness runtime worker threads (simulator + clients; default: one per core).
    #[arg(long)]
    harness_threads: Option<usize>,
    /// Idle clients of scenario (c).
    #[arg(long, default_value_t = 10_000)]
    idle_clients: usize,
    /// The simulator's batch period, ms (its default is 50: 10k ticks/s arrive as 500-tick
    /// frames). `all` also runs (a) at 1 ms.
    #[arg(long, default_value_t = 50)]
    batch_ms: u64,
    /// Python of the test venv (with kiteconnect 5.2.2).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python"))]
    python: PathBuf,
}

/// Options of the `chaos` run.
#[derive(Debug, Clone, clap::Args)]
struct ChaosOpts {
    /// Run length, minutes (real time).
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Run length in seconds instead of minutes (smoke runs).
    #[arg(long, conflicts_with = "minutes")]
    seconds: Option<f64>,
    /// Seed of the fault schedule (kinds, durations, intervals, re-login delays).
    #[arg(long, default_value_t = 13)]
    seed: u64,
    /// Fault kinds to draw from, comma-separated (default: every kind this simulator has):
    /// drop, stall, reject_ws, malformed, expire_token, heartbeat_flood.
    #[arg(long, value_delimiter = ',')]
    kinds: Vec<String>,
    /// Shortest time between two faults, seconds.
    #[arg(long, default_value_t = 12.0)]
    min_interval: f64,
    /// Longest time between two faults, seconds.
    #[arg(long, default_value_t = 25.0)]
    max_interval: f64,
    /// CI: fail unless the harness worked (faults injected, ticks received, re-logins done);
    /// the figures are never asserted.
    #[arg(long)]
    smoke: bool,
}

/// Options of the `cluster` run.
#[derive(Debug, Clone, clap::Args)]
struct ClusterOpts {
    /// Run pairs (single, cluster; alternating which goes first); figures are medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Measured window of each run, seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Warm-up after every client got its first tick, seconds.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Scenario (a)'s load: clients × symbols of the universe at `rate` ticks/s.
    #[arg(long, default_value_t = 500)]
    clients: usize,
    #[arg(long, default_value_t = 50)]
    symbols: usize,
    #[arg(long, default_value_t = 1000)]
    universe: usize,
    #[arg(long, default_value_t = 10_000.0)]
    rate: f64,
    /// The simulator's batch period, ms.
    #[arg(long, default_value_t = 50)]
    batch_ms: u64,
    /// Runtime worker threads of every gateway process (default: one per core).
    #[arg(long)]
    gateway_threads: Option<usize>,
    /// Harness runtime worker threads (simulator + clients; default: one per core).
    #[arg(long)]
    harness_threads: Option<usize>,
    /// CI: fail unless both setups delivered ticks without losing a client; the figures are
    /// never asserted.
    #[arg(long)]
    smoke: bool,
}

/// Options of the `failover` run.
#[derive(Debug, Clone, clap::Args)]
struct FailoverOpts {
    /// Run length, minutes (real time).
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Run length in seconds instead of minutes (smoke runs).
    #[arg(long, conflicts_with = "minutes")]
    seconds: Option<f64>,
    /// Seed of the kill schedule (intervals and restart delays).
    #[arg(long, default_value_t = 16)]
    seed: u64,
    /// Seconds between two leader kills, `MIN..MAX`.
    #[arg(long, default_value = "20..60")]
    kill_every: String,
    /// Clients watching ticks on each of the two edges.
    #[arg(long, default_value_t = 3)]
    clients_per_edge: usize,
    /// CI: fail only if the harness did not work (no kill, no new leader) or on a disconnect
    /// or a second broker socket; gaps over the target are reported, not failed.
    #[arg(long)]
    smoke: bool,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Every scenario and the decode comparison: the README table.
    All(RunOpts),
    /// (a) 500 clients × 50 symbols, 10k ticks/s, throttle 0.
    A(RunOpts),
    /// (b) 5,000 clients × 20 symbols, throttle 1000 ms.
    B(RunOpts),
    /// (c) 10,000 idle clients → resident memory per client.
    C(RunOpts),
    /// (d) (a) with one client that stops reading; runs (a) alongside for the comparison.
    D(RunOpts),
    /// (e) recovery after `drop` and `stall`.
    E(RunOpts),
    /// (f) Throughput: 500 clients × all 200 symbols, offered 5 M messages/s.
    Throughput(RunOpts),
    /// (g) `/kite`: 500 Kite-protocol clients × 50 of 2,000 instruments, 10k ticks/s, beside
    /// the same load on `/ws/market`; then idle `/kite` clients (memory per client).
    Kite(RunOpts),
    /// Kite decode: feedgate vs the official Python client, side by side.
    Decode(RunOpts),
    /// Issue 17: the cost of recording. 100 clients × 50 symbols at 10k and 100k ticks/s,
    /// recording off and on alternately in one run: gateway CPU, bytes on disk per million
    /// ticks, dropped frames.
    Record(RunOpts),
    /// A custom load run.
    Load {
        #[command(flatten)]
        opts: RunOpts,
        #[arg(long, default_value_t = 500)]
        clients: usize,
        #[arg(long, default_value_t = 50)]
        symbols: usize,
        #[arg(long, default_value_t = 1000)]
        universe: usize,
        #[arg(long, default_value_t = 10_000.0)]
        rate: f64,
        #[arg(long, default_value_t = 0)]
        throttle_ms: u64,
        #[arg(long, default_value_t = 0)]
        slow_clients: usize,
    },
    /// CI: a few seconds with tiny numbers; asserts the harness works (not how fast).
    Smoke,
    /// Issue 13: one client × 10 symbols while a broker fault hits every 12–25 s (real time;
    /// 10 minutes by default, never in CI but as a `--seconds` smoke).
    Chaos(ChaosOpts),
    /// Issue 13: whole simulated days (token expiry, login, faults every 2–15 min, close) in
    /// paused time, simulator and gateway in this process; prints the soak report.
    Soak(SoakOpts),
    /// Issue 17: a whole simulated trading day (09:15–15:30 IST) of N instruments written as a
    /// recording through the recorder's writer: bytes on disk per day and per million ticks.
    RecordDay(RecordDayOpts),
    /// Issue 16: scenario (a)'s load against one `all` process and against 1 ingest + 2 edges
    /// through a local redis-server, run by run: latency, added p99, delivery, CPU per
    /// process, Redis CPU and bytes.
    Cluster(ClusterOpts),
    /// Issue 16: 2 ingest + 2 edges + Redis; kill -9 the leader every 20–60 s and restart it as
    /// a standby; gaps at the clients, time to the new broker socket, sockets at once.
    Failover(FailoverOpts),
    /// (internal) The gateway child process.
    #[command(hide = true)]
    Gateway(gateway::ChildArgs),
}

/// Options of the `record-day` run.
#[derive(Debug, Clone, clap::Args)]
struct RecordDayOpts {
    #[arg(long, default_value_t = 2000)]
    instruments: usize,
    /// Market time recorded, seconds (the NSE session 09:15–15:30 is 22,500).
    #[arg(long, default_value_t = 22_500)]
    seconds: u64,
    /// Subscription modes to record, one day each.
    #[arg(long, value_delimiter = ',', default_value = "full,quote")]
    modes: Vec<String>,
    /// zstd levels to record at, one day each.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1",
        allow_negative_numbers = true
    )]
    levels: Vec<i32>,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// Options of the `soak` run.
#[derive(Debug, Clone, clap::Args)]
struct SoakOpts {
    /// Calendar days from Monday 2026-11-23 (weekends and holidays included).
    #[arg(long, default_value_t = 100)]
    days: u32,
    /// Seed of the script (login minutes, fault kinds, durations and intervals).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print each day's report as it completes (to stderr).
    #[arg(long)]
    verbose: bool,
    /// Print the table so far every this many days (a long run can be read before it ends).
    #[arg(long, default_value_t = 10)]
    table_every: u32,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Gateway(args) => {
            init_logging();
            gateway::child_main(args)
        }
        Cmd::Soak(o) => soak(&o),
        Cmd::RecordDay(o) => record_day(&o),
        cmd => harness(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("feedgate-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Errors only by default (the recovery scenarios make the gateway log warnings on purpose);
/// `FEEDGATE_BENCH_LOG=info` for more.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FEEDGATE_BENCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn harness(cmd: Cmd) -> anyhow::Result<()> {
    init_logging();
    // 10,000 clients need 10,000 descriptors in this process and as many in the gateway (which
    // inherits the limit). Raise the soft limit to the hard one.
    let nofile = rlimit::increase_nofile_limit(u64::MAX).context("raising RLIMIT_NOFILE")?;
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(t) = harness_threads(&cmd) {
        rt.worker_threads(t.max(1));
    }
    let rt = rt.enable_all().build()?;
    rt.block_on(async move {
        let mut table = Table::default();
        scenarios(cmd, nofile, &mut table).await?;
        table.print()?;
        // Only `all` records failures instead of stopping at the first.
        if table.has_failures() {
            bail!("some scenarios failed (see the table)");
        }
        Ok(())
    })
}

fn harness_threads(cmd: &Cmd) -> Option<usize> {
    match cmd {
        Cmd::All(o)
        | Cmd::A(o)
        | Cmd::B(o)
        | Cmd::C(o)
        | Cmd::D(o)
        | Cmd::E(o)
        | Cmd::Throughput(o)
        | Cmd::Kite(o)
        | Cmd::Decode(o)
        | Cmd::Record(o)
        | Cmd::Load { opts: o, .. } => o.harness_threads,
        Cmd::Cluster(o) => o.harness_threads,
        _ => None,
    }
}

/// Every scenario: the README table. A failing scenario is reported in the table; the others
/// still run.
async fn all(o: &RunOpts, nofile: u64, table: &mut Table) {
    if let Err(e) = decode_rows(o, table) {
        table.failed("decode", &e);
    }
    if let Err(e) = ad(o, table).await {
        table.failed("a/d", &e);
    }
    let smooth = LoadSpec {
        batch: Duration::from_millis(1),
        ..spec_a(o)
    };
    match runs(o, &smooth).await {
        Ok(r) => table.load("a (1 ms)", &smooth, &r),
        Err(e) => table.failed("a (1 ms)", &e),
    }
    match runs(o, &spec_b(o)).await {
        Ok(r) => table.load("b", &spec_b(o), &r),
        Err(e) => table.failed("b", &e),
    }
    for spec in throughput_specs(o) {
        match runs(o, &spec).await {
            Ok(r) => table.load("f (throughput)", &spec, &r),
            Err(e) => table.failed("f (throughput)", &e),
        }
    }
    if let Err(e) = idle_rows(o, nofile, table, Protocol::Json).await {
        table.failed("c", &e);
    }
    if let Err(e) = kite_rows(o, nofile, table).await {
        table.failed("g (/kite)", &e);
    }
    if let Err(e) = recovery_rows(o, table).await {
        table.failed("e", &e);
    }
}

/// Runs what `cmd` names, its rows added to `table`.
async fn scenarios(cmd: Cmd, nofile: u64, table: &mut Table) -> anyhow::Result<()> {
    match cmd {
        Cmd::All(o) => all(&o, nofile, table).await,
        Cmd::A(o) => table.load("a", &spec_a(&o), &runs(&o, &spec_a(&o)).await?),
        Cmd::B(o) => table.load("b", &spec_b(&o), &runs(&o, &spec_b(&o)).await?),
        Cmd::C(o) => idle_rows(&o, nofile, table, Protocol::Json).await?,
        Cmd::Kite(o) => kite_rows(&o, nofile, table).await?,
        Cmd::D(o) => ad(&o, table).await?,
        Cmd::E(o) => recovery_rows(&o, table).await?,
        Cmd::Throughput(o) => {
            for spec in throughput_specs(&o) {
                table.load("f (throughput)", &spec, &runs(&o, &spec).await?);
            }
        }
        Cmd::Decode(o) => decode_rows(&o, table)?,
        Cmd::Load {
            opts,
            clients,
            symbols,
            universe,
            rate,
            throttle_ms,
            slow_clients,
        } => {
            let spec = LoadSpec {
                clients,
                symbols,
                universe,
                rate,
                throttle_ms,
                slow_clients,
                ..base(&opts)
            };
            table.load("load", &spec, &runs(&opts, &spec).await?);
        }
        Cmd::Smoke => smoke(table).await?,
        Cmd::Record(o) => record_cost(&o).await?,
        Cmd::Chaos(o) => chaos(&o, table).await?,
        Cmd::Cluster(o) => cluster_load(&o).await?,
        Cmd::Failover(o) => failover(&o).await?,
        Cmd::Gateway(_) | Cmd::Soak(_) | Cmd::RecordDay(_) => {
            unreachable!("handled before the runtime starts")
        }
    }
    Ok(())
}

fn base(o: &RunOpts) -> LoadSpec {
    LoadSpec {
        protocol: Protocol::Json,
        clients: 500,
        symbols: 50,
        universe: 1000,
        rate: 10_000.0,
        throttle_ms: 0,
        slow_clients: 0,
        warmup: Duration::from_secs_f64(o.warmup),
        duration: Duration::from_secs_f64(o.duration),
        gateway_threads: o.gateway_threads,
        batch: Duration::from_millis(o.batch_ms.max(1)),
        record: true,
    }
}

fn spec_a(o: &RunOpts) -> LoadSpec {
    base(o)
}

fn spec_b(o: &RunOpts) -> LoadSpec {
    LoadSpec {
        clients: 5000,
        symbols: 20,
        throttle_ms: 1000,
        ..base(o)
    }
}

fn spec_d(o: &RunOpts) -> LoadSpec {
    LoadSpec {
        slow_clients: 1,
        ..base(o)
    }
}

/// Few clients with many symbols each, at a rate that offers more messages than the gateway
/// can write: what it delivers is its capacity.
fn throughput_specs(o: &RunOpts) -> Vec<LoadSpec> {
    vec![LoadSpec {
        clients: 500,
        symbols: 200,
        universe: 200,
        rate: 10_000.0,
        ..base(o)
    }]
}

async fn runs(o: &RunOpts, spec: &LoadSpec) -> anyhow::Result<Vec<scenario::LoadResult>> {
    let mut out = Vec::new();
    for i in 0..o.runs.max(1) {
        eprintln!("run {}/{}: {}", i + 1, o.runs.max(1), spec.describe());
        out.push(scenario::load(spec).await?);
    }
    Ok(out)
}

/// Simulated days written as recordings, one per mode and level: the README table.
fn record_day(o: &RecordDayOpts) -> anyhow::Result<()> {
    let mut out = String::from(
        "| day | ticks | as received | on disk | per million ticks | recorder time per tick | wall |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for mode in &o.modes {
        let mode = match mode.as_str() {
            "ltp" => feedgate_kite::Mode::Ltp,
            "quote" => feedgate_kite::Mode::Quote,
            "full" => feedgate_kite::Mode::Full,
            other => bail!("unknown mode {other:?} (ltp, quote or full)"),
        };
        for level in &o.levels {
            let spec = recordday::DaySpec {
                instruments: o.instruments,
                mode,
                seconds: o.seconds,
                level: *level,
                seed: o.seed,
            };
            eprintln!(
                "recording {} instruments in {mode:?} mode at zstd {level} ...",
                o.instruments
            );
            let r = recordday::run(&spec)?;
            let row = recordday::row(&spec, &r);
            out.push_str(&row);
            out.push('\n');
        }
    }
    std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes())?;
    Ok(())
}

/// Recording off and on, run by run in alternating order (both see the same machine), at
/// 10k and 100k ticks/s: prints each pair and the medians.
async fn record_cost(o: &RunOpts) -> anyhow::Result<()> {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    use std::fmt::Write as _;
    let mut out = String::from(
        "| ticks/s | gateway CPU off (%) | on (%) | on/off (median of pairs) | bytes on disk per M ticks | dropped frames |\n|---|---|---|---|---|---|\n",
    );
    for rate in [10_000.0, 100_000.0] {
        let on = LoadSpec {
            clients: 100,
            rate,
            ..base(o)
        };
        let off = LoadSpec {
            record: false,
            ..on.clone()
        };
        let (mut cpu_off, mut cpu_on, mut ratios, mut bytes, mut dropped) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), 0.0);
        for i in 0..o.runs.max(1) {
            let order = if i % 2 == 0 { [&off, &on] } else { [&on, &off] };
            let mut pair = [0.0; 2];
            for spec in order {
                eprintln!("run {}/{}: {}", i + 1, o.runs.max(1), spec.describe());
                let r = scenario::load(spec).await?;
                pair[usize::from(spec.record)] = r.gateway_cpu;
                if spec.record {
                    bytes.push(r.record_bytes_per_mtick);
                    dropped += r.record_dropped;
                }
            }
            cpu_off.push(pair[0]);
            cpu_on.push(pair[1]);
            ratios.push(pair[1] / pair[0]);
            eprintln!("  cpu off {:.1} %, on {:.1} %", pair[0], pair[1]);
        }
        writeln!(
            out,
            "| {rate} | {:.1} | {:.1} | {:.3} | {:.0} | {dropped} |",
            median(cpu_off),
            median(cpu_on),
            median(ratios),
            median(bytes)
        )?;
    }
    std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes())?;
    Ok(())
}

/// (a) and (d) interleaved, run by run, so that both see the same machine.
async fn ad(o: &RunOpts, table: &mut Table) -> anyhow::Result<()> {
    let (a, d) = (spec_a(o), spec_d(o));
    let (mut ra, mut rd) = (Vec::new(), Vec::new());
    for i in 0..o.runs.max(1) {
        eprintln!("run {}/{}: (a) {}", i + 1, o.runs.max(1), a.describe());
        ra.push(scenario::load(&a).await?);
        eprintln!("run {}/{}: (d) {}", i + 1, o.runs.max(1), d.describe());
        rd.push(scenario::load(&d).await?);
    }
    table.load("a", &a, &ra);
    table.load("d", &d, &rd);
    Ok(())
}

/// (g): the `/kite` load beside the same load on `/ws/market` (run by run, so both see the
/// same machine), then idle `/kite` clients.
async fn kite_rows(o: &RunOpts, nofile: u64, table: &mut Table) -> anyhow::Result<()> {
    let json = LoadSpec {
        universe: 2000,
        ..base(o)
    };
    let kite = LoadSpec {
        protocol: Protocol::Kite,
        ..json.clone()
    };
    let (mut rj, mut rk) = (Vec::new(), Vec::new());
    for i in 0..o.runs.max(1) {
        eprintln!("run {}/{}: (g) {}", i + 1, o.runs.max(1), kite.describe());
        rk.push(scenario::load(&kite).await?);
        eprintln!("run {}/{}: (g) {}", i + 1, o.runs.max(1), json.describe());
        rj.push(scenario::load(&json).await?);
    }
    table.load("g (/kite)", &kite, &rk);
    table.load("g (/ws/market)", &json, &rj);
    idle_rows(o, nofile, table, Protocol::Kite).await
}

async fn idle_rows(
    o: &RunOpts,
    nofile: u64,
    table: &mut Table,
    protocol: Protocol,
) -> anyhow::Result<()> {
    let clients = o.idle_clients;
    if nofile < clients as u64 + 500 {
        bail!(
            "RLIMIT_NOFILE hard limit is {nofile}; scenario (c) needs {} descriptors per process. \
             Raise it (ulimit -Hn, or LimitNOFILE in the service manager).",
            clients + 500
        );
    }
    let mut results = Vec::new();
    for i in 0..o.runs.max(1) {
        eprintln!(
            "run {}/{}: (c) {clients} idle clients",
            i + 1,
            o.runs.max(1)
        );
        results.push(scenario::idle(clients, protocol).await?);
    }
    let row = match protocol {
        Protocol::Json => "c",
        Protocol::Kite => "c (/kite)",
    };
    table.idle(row, &results);
    Ok(())
}

async fn recovery_rows(o: &RunOpts, table: &mut Table) -> anyhow::Result<()> {
    for kind in [
        Recovery::Drop,
        Recovery::StallEnd { seconds: 2.0 },
        Recovery::StallStart { seconds: 6.0 },
    ] {
        let mut secs = Vec::new();
        for i in 0..o.runs.max(1) {
            eprintln!("run {}/{}: (e) {}", i + 1, o.runs.max(1), kind.name());
            secs.push(scenario::recovery(kind).await?);
        }
        table.recovery("e", &kind.name(), &secs);
    }
    Ok(())
}

fn decode_rows(o: &RunOpts, table: &mut Table) -> anyhow::Result<()> {
    let script = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../bench/pyk_decode.py"
    ));
    eprintln!("decode: feedgate vs kiteconnect._parse_binary");
    let rows = decode::run(&o.python, &script)?;
    table.decode(&rows);
    Ok(())
}

/// Seconds, tiny numbers, real assertions on *working*, none on speed.
async fn smoke(table: &mut Table) -> anyhow::Result<()> {
    let spec = LoadSpec {
        protocol: Protocol::Json,
        clients: 4,
        symbols: 5,
        universe: 20,
        rate: 400.0,
        throttle_ms: 0,
        slow_clients: 1,
        warmup: Duration::from_millis(300),
        duration: Duration::from_secs(2),
        gateway_threads: Some(2),
        batch: Duration::from_millis(10),
        record: true,
    };
    eprintln!("smoke: {}", spec.describe());
    let r = scenario::load(&spec).await?;
    if r.delivered_per_s <= 0.0 || r.p50_ms <= 0.0 {
        bail!("smoke: no latency measured: {r:?}");
    }
    if r.unmatched > 0 || r.clients_lost > 0 {
        bail!("smoke: unmatched ticks or lost clients: {r:?}");
    }
    table.load("smoke", &spec, &[r]);
    let kite = LoadSpec {
        protocol: Protocol::Kite,
        ..spec.clone()
    };
    eprintln!("smoke: {}", kite.describe());
    let r = scenario::load(&kite).await?;
    if r.delivered_per_s <= 0.0 || r.p50_ms <= 0.0 || r.unmatched > 0 || r.clients_lost > 0 {
        bail!("smoke: /kite clients measured nothing, or lost ticks or connections: {r:?}");
    }
    table.load("smoke (/kite)", &kite, &[r]);
    eprintln!("smoke: 20 idle clients");
    let idle = scenario::idle(20, Protocol::Json).await?;
    table.idle("smoke", &[idle]);
    let idle = scenario::idle(20, Protocol::Kite).await?;
    table.idle("smoke (/kite)", &[idle]);
    eprintln!("smoke: drop recovery");
    let secs = scenario::recovery(Recovery::Drop).await?;
    if !(0.0..30.0).contains(&secs) {
        bail!("smoke: recovery took {secs} s");
    }
    table.recovery("smoke", &Recovery::Drop.name(), &[secs]);
    eprintln!("smoke: a recorded minute of 20 instruments");
    let day = recordday::run(&recordday::DaySpec {
        instruments: 20,
        mode: feedgate_kite::Mode::Full,
        seconds: 60,
        level: feedgate_gateway::store::recording::writer::LEVEL,
        seed: 7,
    })?;
    if day.ticks == 0 || day.disk_bytes == 0 {
        bail!("smoke: the recorded minute is empty: {day:?}");
    }
    Ok(())
}

/// The `chaos` run's spec from its options.
fn chaos_spec(o: &ChaosOpts) -> anyhow::Result<chaos::ChaosSpec> {
    use chaos::faults::{KINDS, Kind};
    let secs = o.seconds.unwrap_or(o.minutes * 60.0);
    if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0) {
        bail!("the run length must be between 0 and 24 hours, got {secs} s");
    }
    if !(o.min_interval > 0.0 && o.min_interval <= o.max_interval && o.max_interval.is_finite()) {
        bail!("need 0 < --min-interval ≤ --max-interval");
    }
    let kinds = if o.kinds.is_empty() {
        KINDS.iter().copied().filter(|k| k.available()).collect()
    } else {
        let mut kinds = Vec::new();
        for name in &o.kinds {
            let known: Vec<&str> = KINDS.iter().map(|k| k.name()).collect();
            let kind = Kind::parse(name.trim()).with_context(|| {
                format!("unknown fault kind {name:?}; known: {}", known.join(", "))
            })?;
            if !kind.available() {
                bail!("{name} is not in this simulator build (feedgate_sim::Fault)");
            }
            kinds.push(kind);
        }
        kinds
    };
    Ok(chaos::ChaosSpec {
        duration: Duration::from_secs_f64(secs),
        seed: o.seed,
        kinds,
        interval: o.min_interval..=o.max_interval,
    })
}

/// Issue 13's chaos run; with `--smoke`, fails unless the harness itself worked.
async fn chaos(o: &ChaosOpts, table: &mut Table) -> anyhow::Result<()> {
    let spec = chaos_spec(o)?;
    for k in chaos::faults::KINDS.iter().filter(|k| !k.available()) {
        eprintln!(
            "chaos: {} is not in this simulator build (feedgate_sim::Fault): not drawn",
            k.name()
        );
    }
    eprintln!(
        "chaos: {:.0} s, seed {}, 1 client × 10 symbols",
        spec.duration.as_secs_f64(),
        spec.seed
    );
    let r = chaos::run(spec).await?;
    table.chaos(&r);
    if o.smoke {
        let logins_failed = r.faults.iter().any(|f| matches!(f.login, Some(Err(_))));
        if r.faults.is_empty() || r.fresh_ticks == 0 || logins_failed || r.client_ended.is_some() {
            table.print()?;
            bail!(
                "chaos smoke: the harness did not work ({} faults, {} ticks, re-login failed: \
                 {logins_failed}, client ended: {:?})",
                r.faults.len(),
                r.fresh_ticks,
                r.client_ended
            );
        }
    }
    Ok(())
}

/// Issue 13's soak on its own paused runtime; fails if a target was missed.
fn soak(o: &SoakOpts) -> anyhow::Result<()> {
    use feedgate_bench::soak::{SoakSpec, run_paused};
    use std::io::Write as _;
    let spec = SoakSpec::new(o.days, o.seed);
    eprintln!(
        "soak: {} days from {}, seed {}",
        spec.days, spec.first_day, spec.seed
    );
    let every = o.table_every.max(1);
    let report = run_paused(&spec, |so_far| {
        let done = so_far.days.len();
        if let Some(d) = so_far.days.last().filter(|_| o.verbose) {
            eprintln!("{d:?}");
        }
        // A long run's figures so far, in case it is stopped before the end.
        if done % every as usize == 0 && done < spec.days as usize {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "after {done} days:\n{}", so_far.table());
            let _ = out.flush();
        }
    })?;
    let mut out = std::io::stdout().lock();
    out.write_all(report.table().as_bytes())?;
    let missed = report.violations();
    if !missed.is_empty() {
        bail!("soak targets missed: {}", missed.join("; "));
    }
    Ok(())
}

/// Issue 16's cluster-vs-single load: prints the table; with `--smoke`, fails unless both
/// setups worked.
async fn cluster_load(o: &ClusterOpts) -> anyhow::Result<()> {
    if !(o.seconds.is_finite() && o.seconds > 0.0 && o.warmup.is_finite() && o.warmup >= 0.0) {
        bail!("--seconds must be positive and --warmup not negative");
    }
    if o.clients == 0 || o.symbols == 0 || o.universe == 0 || !o.rate.is_finite() || o.rate <= 0.0 {
        bail!("--clients, --symbols, --universe and --rate must be positive");
    }
    let spec = LoadSpec {
        protocol: Protocol::Json,
        clients: o.clients,
        symbols: o.symbols,
        universe: o.universe,
        rate: o.rate,
        throttle_ms: 0,
        slow_clients: 0,
        warmup: Duration::from_secs_f64(o.warmup),
        duration: Duration::from_secs_f64(o.seconds),
        gateway_threads: o.gateway_threads,
        batch: Duration::from_millis(o.batch_ms.max(1)),
        record: true,
    };
    let (table, pairs) = cluster::load::run(&spec, o.runs).await?;
    std::io::Write::write_all(&mut std::io::stdout().lock(), table.as_bytes())?;
    if o.smoke {
        let broken = pairs.iter().flatten().any(|r| {
            r.load.delivered_per_s <= 0.0 || r.load.clients_lost > 0 || r.load.unmatched > 0
        });
        let no_redis = pairs
            .iter()
            .any(|[_, c]| c.redis.is_none_or(|(_, i, o)| i + o <= 0.0));
        if pairs.is_empty() || broken || no_redis {
            bail!(
                "cluster smoke: a setup delivered nothing, lost clients or Redis carried nothing"
            );
        }
    }
    Ok(())
}

/// `MIN..MAX` seconds.
fn parse_range(s: &str) -> anyhow::Result<std::ops::RangeInclusive<f64>> {
    let (a, b) = s
        .split_once("..")
        .with_context(|| format!("expected MIN..MAX seconds, got {s:?}"))?;
    let (a, b): (f64, f64) = (a.trim().parse()?, b.trim().parse()?);
    if !(a > 0.0 && a <= b && b.is_finite()) {
        bail!("need 0 < MIN <= MAX, got {s:?}");
    }
    Ok(a..=b)
}

/// Issue 16's failover soak: prints the table; fails on a missed target (with `--smoke`: only
/// when the harness did not work, or on a disconnect or a second broker socket).
async fn failover(o: &FailoverOpts) -> anyhow::Result<()> {
    let secs = o.seconds.unwrap_or(o.minutes * 60.0);
    if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0) {
        bail!("the run length must be between 0 and 24 hours, got {secs} s");
    }
    let spec = cluster::failover::FailoverSpec {
        duration: Duration::from_secs_f64(secs),
        seed: o.seed,
        kill_every: parse_range(&o.kill_every).context("--kill-every")?,
        clients_per_edge: o.clients_per_edge.max(1),
    };
    eprintln!(
        "failover: {secs:.0} s, seed {}, a kill every {} s, {} clients per edge",
        o.seed, o.kill_every, spec.clients_per_edge
    );
    let report = cluster::failover::run(&spec).await?;
    std::io::Write::write_all(&mut std::io::stdout().lock(), report.render().as_bytes())?;
    if report.rows.is_empty() {
        bail!("failover: no kill happened (the run is shorter than one interval plus 10 s)");
    }
    if o.smoke && report.rows.iter().any(|r| r.kill.new_leader.is_none()) {
        bail!("failover smoke: a kill was not followed by a new leader");
    }
    let missed: Vec<String> = report
        .violations()
        .into_iter()
        .filter(|v| !(o.smoke && v.starts_with("gaps over")))
        .collect();
    if !missed.is_empty() {
        bail!("failover targets missed: {}", missed.join("; "));
    }
    Ok(())
}
