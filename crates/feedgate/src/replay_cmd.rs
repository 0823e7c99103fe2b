//! `feedgate replay`: a recorded day (DESIGN.md §12) served through the whole gateway as it
//! happened (`feedgate_gateway::runtime::replay`). The recordings and the instrument cache are
//! read from the configured data directory; everything the gateway writes (token file,
//! candles, last values) goes to a temporary data directory that is deleted at exit, so a
//! replay never touches the live state, and recording is off.

use crate::config_load;
use anyhow::Context;
use chrono::{NaiveDate, NaiveTime};
use feedgate_gateway::replay::clock::Speed;
use feedgate_gateway::replay::feed::Summary;
use feedgate_gateway::runtime::replay::{Replay, ReplayDeps, ReplayPlan};
use feedgate_gateway::store::instrument_cache::InstrumentCache;
use feedgate_gateway::store::recording::reader::DamageKind;
use feedgate_gateway::store::recording::root;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// What to replay, from the command line.
#[derive(Debug, Clone)]
pub struct ReplayArgs {
    pub date: NaiveDate,
    pub from: Option<NaiveTime>,
    pub to: Option<NaiveTime>,
    pub speed: Speed,
    pub listen: Option<SocketAddr>,
    pub exit_at_end: bool,
    pub config: Option<PathBuf>,
}

pub async fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let scratch = tempfile::Builder::new()
        .prefix("feedgate-replay-")
        .tempdir()
        .context("cannot create the replay's temporary data directory")?;
    let deps = replay_deps(&args, scratch.path())?;
    let listener = tokio::net::TcpListener::bind(deps.config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: try --listen 127.0.0.1:8081",
                deps.config.listen
            )
        })?;
    let stop = crate::shutdown::Signals::install().recv();
    tokio::pin!(stop);
    let replay = Replay::start(deps, listener).await?;
    tracing::info!(
        date = %args.date,
        speed = ?args.speed,
        dashboard = %format!("http://{}/", replay.gateway.local_addr()),
        websocket = %format!("ws://{}/ws/market", replay.gateway.local_addr()),
        "replaying"
    );
    tokio::select! {
        summary = replay.ticker.finished() => {
            report(&summary);
            if !args.exit_at_end {
                tracing::info!("replay finished; the dashboard stays up until Ctrl-C");
                (&mut stop).await;
            }
        }
        _ = &mut stop => {}
    }
    replay.shutdown(crate::serve_cmd::SHUTDOWN_DEADLINE).await;
    drop(scratch);
    Ok(ExitCode::SUCCESS)
}

/// The user's configuration with the replay's data directory (`scratch`), checked as `serve`
/// checks access, and what to replay from the live data directory.
fn replay_deps(args: &ReplayArgs, scratch: &Path) -> anyhow::Result<ReplayDeps> {
    let mut vars = config_load::collect(args.config.as_deref())?;
    let live = config_load::gateway_config(&vars)?.data_dir;
    copy_keys(&live, scratch)?;
    vars.insert("FEEDGATE_DATA_DIR".into(), scratch.display().to_string());
    if let Some(listen) = args.listen {
        vars.insert("FEEDGATE_LISTEN".into(), listen.to_string());
    }
    let cfg = config_load::gateway_config(&vars)?;
    crate::serve_cmd::check_access(&cfg, crate::serve_cmd::AccessCheck::Serve)?;
    let calendar = Arc::new(match &cfg.calendar {
        Some(path) => crate::calendar::load_from(path)?,
        None => feedgate_session::Calendar::builtin(),
    });
    let (from_ns, to_ns) = crate::export_cmd::range_ns(args.date, args.from, args.to);
    Ok(ReplayDeps {
        plan: ReplayPlan {
            recordings: root(&live),
            date: args.date,
            from_ns,
            to_ns,
            speed: args.speed,
            hold: false,
        },
        config: cfg,
        instruments: instruments(&live),
        calendar,
        extra_routes: None,
    })
}

/// The access keys of the live data directory, so the replay accepts the same keys.
fn copy_keys(live: &Path, scratch: &Path) -> anyhow::Result<()> {
    let keys = feedgate_gateway::access::KeyRing::file_in(live);
    if keys.exists() {
        let to = feedgate_gateway::access::KeyRing::file_in(scratch);
        std::fs::copy(&keys, &to)
            .with_context(|| format!("cannot copy {} for the replay", keys.display()))?;
    }
    Ok(())
}

/// The live data directory's Kite instrument cache (symbols for the recorded tokens).
fn instruments(live: &Path) -> Vec<feedgate_gateway::model::instruments::InstrumentSpec> {
    match InstrumentCache::new(live, "kite").read() {
        Ok(Some((_, specs))) => specs,
        Ok(None) => {
            tracing::warn!(dir = %live.display(), "no Kite instrument cache in the data directory: run `feedgate serve` once so recorded tokens have symbols");
            Vec::new()
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the instrument cache; recorded tokens have no symbols");
            Vec::new()
        }
    }
}

/// The end-of-range summary, and what was skipped.
fn report(s: &Summary) {
    for d in &s.damage {
        let what = match &d.problem {
            DamageKind::TornTail(e) => format!("torn tail (a crash while writing): {e}"),
            DamageKind::BadBlock(e) => format!("damaged block skipped: {e}"),
            DamageKind::Unreadable(e) => format!("unreadable: {e}"),
        };
        tracing::warn!(file = %d.path.display(), offset = d.offset, problem = %what, "recording damage; the frames before it were replayed");
    }
    tracing::info!(
        frames = s.frames,
        ticks = s.ticks,
        wall_s = s.wall.as_secs_f64(),
        ticks_per_s = s.ticks_per_second().round(),
        "replay done"
    );
}
