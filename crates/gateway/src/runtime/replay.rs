//! Wiring of a replay (`feedgate replay`, DESIGN.md §12): the normal gateway, with the replay
//! clock as its wall clock, the local replay broker as its REST API and the loopback replay
//! ticker as its Kite WebSocket, so a recorded day goes through the normal decode path into the
//! hub, candles, dashboard and every client endpoint. The caller gives a configuration whose
//! data directory is the replay's own (the gateway writes its token file, candles and last
//! values there); recording is turned off here so a replay never records itself.

use super::{Gateway, GatewayDeps, StartError};
use crate::brokers::kite::wire::KiteWire;
use crate::config::{Broker, GatewayConfig};
use crate::model::instruments::InstrumentSpec;
use crate::replay::broker::{REPLAY_TOKEN, ReplayBroker};
use crate::replay::clock::{ReplayClock, Speed};
use crate::replay::feed::{Feed, first_frame};
use crate::replay::ticker::TickerServer;
use crate::store::recording::format::RecordedBroker;
use crate::store::recording::reader::DayRecording;
use axum::Router;
use chrono::NaiveDate;
use feedgate_session::Calendar;
use secrecy::SecretString;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplayPlan {
    /// The recordings root (`<data dir>/recordings`).
    pub recordings: PathBuf,
    pub date: NaiveDate,
    /// The receive-time range, in ns (inclusive).
    pub from_ns: i64,
    pub to_ns: i64,
    pub speed: Speed,
    /// Hold the frames until [`Replay::release`] (to connect clients first); otherwise they
    /// flow as soon as the gateway's upstream connects.
    pub hold: bool,
}

/// Everything a replay is built from.
#[derive(Debug)]
pub struct ReplayDeps {
    pub plan: ReplayPlan,
    /// The gateway's configuration; its data directory must be the replay's own.
    pub config: GatewayConfig,
    /// The instrument list naming the recorded tokens (the live data directory's cache).
    pub instruments: Vec<InstrumentSpec>,
    pub calendar: Arc<Calendar>,
    pub extra_routes: Option<Router>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read the recordings in {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("nothing recorded on {date} in that time range (recordings in {path})")]
    Empty { date: NaiveDate, path: PathBuf },
    #[error("replay supports Kite recordings; {date} was recorded from Fyers")]
    Fyers { date: NaiveDate },
    #[error("cannot open a loopback port for the replay's ticker: {0}")]
    Ticker(#[source] std::io::Error),
    #[error(transparent)]
    Start(#[from] StartError),
}

/// A running replay: the gateway and the ticker feeding it.
#[derive(Debug)]
pub struct Replay {
    pub gateway: Gateway,
    pub ticker: TickerServer,
    /// The first replayed instant (ns): where the replay clock started.
    pub origin_ns: i64,
    /// The gateway's (recorded) wall clock.
    pub clock: Arc<ReplayClock>,
    go: watch::Sender<bool>,
}

impl Replay {
    /// Starts the replay's ticker and a gateway on `listener` fed by it.
    pub async fn start(deps: ReplayDeps, listener: TcpListener) -> Result<Replay, ReplayError> {
        let ReplayDeps {
            plan,
            mut config,
            instruments,
            calendar,
            extra_routes,
        } = deps;
        let (day, origin_ns) = open(&plan).await?;
        let clock = Arc::new(ReplayClock::new(origin_ns, plan.speed));
        let (go, go_rx) = watch::channel(!plan.hold);
        let feed = Feed::start(day, plan.from_ns, plan.to_ns, clock.clone(), go_rx);
        let gateway_clock = clock.clone();
        let ticker_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(ReplayError::Ticker)?;
        let ticker = TickerServer::start(ticker_listener, feed, CancellationToken::new())
            .map_err(ReplayError::Ticker)?;
        point_at_replay(&mut config, &ticker);
        let wire = KiteWire::new(&config.kite.ws_url, &config.kite.api_key);
        let started = Gateway::start(
            GatewayDeps {
                config,
                broker: Arc::new(ReplayBroker::new("kite", instruments)),
                wire,
                clock: gateway_clock,
                calendar,
                extra_routes,
            },
            listener,
        )
        .await;
        let gateway = match started {
            Ok(g) => g,
            Err(e) => {
                ticker.shutdown();
                return Err(e.into());
            }
        };
        Ok(Replay {
            gateway,
            ticker,
            origin_ns,
            clock,
            go,
        })
    }

    /// Lets a held replay's frames flow (see [`ReplayPlan::hold`]).
    pub fn release(&self) {
        self.go.send_replace(true);
    }

    /// Stops the gateway, then the ticker.
    pub async fn shutdown(self, deadline: std::time::Duration) {
        self.gateway.shutdown(deadline).await;
        self.ticker.shutdown();
    }
}

/// The day's recording and the first replayed instant; refuses an empty range and Fyers.
async fn open(plan: &ReplayPlan) -> Result<(DayRecording, i64), ReplayError> {
    let p = plan.clone();
    let opened = tokio::task::spawn_blocking(move || {
        let day = DayRecording::open(&p.recordings, p.date)?;
        let first = first_frame(&day, p.from_ns, p.to_ns);
        Ok::<_, std::io::Error>((day, first))
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|r| r);
    let (day, first) = opened.map_err(|source| ReplayError::Read {
        path: plan.recordings.clone(),
        source,
    })?;
    match first {
        None => Err(ReplayError::Empty {
            date: plan.date,
            path: plan.recordings.clone(),
        }),
        Some((RecordedBroker::Fyers, _)) => Err(ReplayError::Fyers { date: plan.date }),
        Some((RecordedBroker::Kite, ts)) => Ok((day, ts)),
    }
}

/// How long the replayed feed may go without data before it counts as stale or gets a REST
/// bridge: never, in practice. A gap in a replay is the recording's (a quiet instrument, the
/// end of the range), not a broker failing, and the replay has no REST quotes to bridge it.
const REPLAY_NEVER_STALE: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

/// The Kite side of `config` pointed at the replay: its socket, its token, no REST beyond it
/// (`/kite`'s REST pass-through reaches the ticker server, which answers 404, never the real
/// broker with a replay token), no recording, no history backfill (the replay's broker has no
/// history, and the live broker's is another day's), and a feed that is never judged stale.
fn point_at_replay(config: &mut GatewayConfig, ticker: &TickerServer) {
    config.broker = Broker::Kite;
    config.kite.ws_url = ticker.ws_url();
    config.kite.api_url = ticker.http_url();
    config.kite.login_url = format!("{}/connect/login", ticker.http_url());
    config.kite.access_token = Some(SecretString::from(REPLAY_TOKEN));
    if config.kite.api_key.is_empty() {
        config.kite.api_key = "replay".into();
    }
    config.record.enabled = false;
    config.backfill = false;
    config.feed.stale_threshold = REPLAY_NEVER_STALE;
    config.feed.bridge_after = REPLAY_NEVER_STALE;
}
