//! The connection loop against a scripted broker: a WebSocket server on port 0 whose frames the
//! test sends and reads, and a [`Wire`] speaking text frames (`hb`, `tick <token>`,
//! `skip <n>` in; `sub <token>`, `unsub <token>` out). Paused time throughout.

use super::live::take_batch;
use super::*;
use crate::brokers::TokenVerdict;
use crate::brokers::wire::{Inbound, WireError};
use crate::model::clock::TokioClock;
use crate::model::tick::{Mode, Source, Token};
use crate::upstream::ShardStatus;
use crate::upstream::state::FeedState;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use secrecy::SecretString;
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One broker-side connection: frames to send to the gateway, frames it sent.
struct BrokerConn {
    tx: mpsc::UnboundedSender<Message>,
    rx: mpsc::UnboundedReceiver<Message>,
}

impl BrokerConn {
    fn send(&self, text: &str) {
        let _ = self.tx.send(Message::text(text.to_string()));
    }

    /// The next text frame from the gateway within `deadline`.
    async fn next_text(&mut self, deadline: Duration) -> Option<String> {
        let end = Instant::now() + deadline;
        loop {
            let m = tokio::time::timeout_at(end, self.rx.recv()).await.ok()??;
            if let Message::Text(t) = m {
                return Some(t.to_string());
            }
        }
    }

    /// Sends `hb` every `every` until the connection goes away.
    fn heartbeats(&self, every: Duration) -> JoinHandle<()> {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if tx.send(Message::text("hb")).is_err() {
                    return;
                }
            }
        })
    }
}

struct FakeBroker {
    url: String,
    conns: mpsc::UnboundedReceiver<BrokerConn>,
}

impl FakeBroker {
    /// A broker that accepts upgrades, or refuses them with 403.
    async fn start(refuse: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        let (conn_tx, conns) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                // Small frames must leave at once: with Nagle's algorithm a frame can wait for
                // the previous one's (delayed) ACK for longer than paused time takes to race
                // through every timeout.
                tcp.set_nodelay(true).unwrap();
                // The error type is tungstenite's handshake callback's.
                #[allow(clippy::result_large_err)]
                let accept =
                    |_: &tungstenite::handshake::server::Request,
                     resp: tungstenite::handshake::server::Response| {
                        if refuse {
                            let mut r = tungstenite::handshake::server::ErrorResponse::new(None);
                            *r.status_mut() = tungstenite::http::StatusCode::FORBIDDEN;
                            Err(r)
                        } else {
                            Ok(resp)
                        }
                    };
                let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, accept).await else {
                    continue;
                };
                let (to_gateway, mut outgoing) = mpsc::unbounded_channel::<Message>();
                let (incoming, rx) = mpsc::unbounded_channel();
                let _ = conn_tx.send(BrokerConn { tx: to_gateway, rx });
                tokio::spawn(async move {
                    let (mut sink, mut stream) = ws.split();
                    loop {
                        tokio::select! {
                            m = outgoing.recv() => match m {
                                Some(m) => if sink.send(m).await.is_err() { return },
                                None => return,
                            },
                            m = stream.next() => match m {
                                Some(Ok(m)) => { let _ = incoming.send(m); }
                                _ => return,
                            },
                        }
                    }
                });
            }
        });
        Self { url, conns }
    }

    async fn next_conn(&mut self) -> BrokerConn {
        tokio::time::timeout(Duration::from_secs(5), self.conns.recv())
            .await
            .expect("the gateway connects")
            .expect("broker running")
    }
}

/// Text frames as a wire. `prepare` can be made to fail; an instrument is covered once a
/// `prepare` succeeded for it (like Fyers' symbol resolution).
#[derive(Debug, Clone)]
struct TextWire {
    url: String,
    gather: Duration,
    prepares: Arc<AtomicUsize>,
    failing_prepares: Arc<AtomicUsize>,
    /// Prepares that never answer (a lookup stuck behind a rate limiter).
    hanging_prepares: Arc<AtomicUsize>,
    resolved: HashSet<Token>,
}

impl TextWire {
    fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
            gather: Duration::ZERO,
            prepares: Arc::default(),
            failing_prepares: Arc::default(),
            hanging_prepares: Arc::default(),
            resolved: HashSet::new(),
        }
    }
}

fn tick(token: Token, received_ms: i64) -> Tick {
    Tick {
        token,
        divisor: 100,
        ltp: 100,
        quote: None,
        full: None,
        received_ms,
        src: Source::Ws,
    }
}

impl Wire for TextWire {
    fn url(&self, _access_token: &str) -> String {
        self.url.clone()
    }

    fn diff(&self, from: &Demand, to: &Demand, out: &mut Vec<Message>) {
        for t in from.keys().filter(|t| !to.contains_key(t)) {
            out.push(Message::text(format!("unsub {t}")));
        }
        for t in to.keys().filter(|t| !from.contains_key(t)) {
            out.push(Message::text(format!("sub {t}")));
        }
    }

    fn decode(&mut self, msg: &Message, received_ms: i64, ticks: &mut Vec<Tick>) -> Inbound {
        let Message::Text(text) = msg else {
            return Inbound::Ignored;
        };
        let text = text.as_str();
        if text == "hb" {
            return Inbound::Heartbeat;
        }
        if let Some(t) = text.strip_prefix("tick ") {
            ticks.push(tick(t.parse().unwrap(), received_ms));
            return Inbound::Data { skipped: 0 };
        }
        if let Some(n) = text.strip_prefix("skip ") {
            return Inbound::Data {
                skipped: n.parse().unwrap(),
            };
        }
        Inbound::Ignored
    }

    async fn prepare(
        &mut self,
        _access_token: &SecretString,
        demand: &Demand,
        _fresh: bool,
    ) -> Result<(), WireError> {
        self.prepares.fetch_add(1, Ordering::SeqCst);
        let hanging = self.hanging_prepares.load(Ordering::SeqCst);
        if hanging > 0 {
            self.hanging_prepares.store(hanging - 1, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
        let failing = self.failing_prepares.load(Ordering::SeqCst);
        if failing > 0 {
            self.failing_prepares.store(failing - 1, Ordering::SeqCst);
            return Err(WireError::Unavailable("symbol lookup: HTTP 503".into()));
        }
        self.resolved.extend(demand.keys().copied());
        Ok(())
    }

    fn covers(&self, token: Token) -> bool {
        self.resolved.contains(&token)
    }

    fn coalesce(&self) -> Duration {
        self.gather
    }
}

/// A token check that gives the scripted answers, then never answers (a REST call hanging
/// until its timeout).
#[derive(Debug, Default)]
struct Checker(Mutex<VecDeque<TokenVerdict>>);

impl Checker {
    fn answering(answers: &[TokenVerdict]) -> Arc<Self> {
        Arc::new(Self(Mutex::new(answers.iter().cloned().collect())))
    }
}

impl TokenCheck for Checker {
    fn check(&self, _token: SecretString) -> BoxFuture<'static, TokenVerdict> {
        let next = self.0.lock().unwrap().pop_front();
        Box::pin(async move {
            match next {
                Some(v) => v,
                None => std::future::pending().await,
            }
        })
    }
}

const VALID: [TokenVerdict; 8] = [
    TokenVerdict::Valid,
    TokenVerdict::Valid,
    TokenVerdict::Valid,
    TokenVerdict::Valid,
    TokenVerdict::Valid,
    TokenVerdict::Valid,
    TokenVerdict::Valid,
    TokenVerdict::Valid,
];

/// A running connection task and the ends of its channels.
struct Rig {
    demand: watch::Sender<Arc<Demand>>,
    run: watch::Sender<RunPolicy>,
    _token: watch::Sender<Option<CurrentToken>>,
    ticks_tx: mpsc::Sender<Vec<Tick>>,
    ticks: mpsc::Receiver<Vec<Tick>>,
    events: broadcast::Receiver<FeedEvent>,
    status_tx: Arc<watch::Sender<Vec<ShardStatus>>>,
    status: watch::Receiver<Vec<ShardStatus>>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

struct Setup {
    token: Option<CurrentToken>,
    run: RunPolicy,
    demand: Demand,
    checker: Arc<Checker>,
    tick_capacity: usize,
    record: FrameTap,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            token: Some(CurrentToken {
                epoch: 1,
                token: SecretString::from("tok"),
            }),
            run: RunPolicy::ALWAYS,
            demand: [(1, Mode::Quote)].into_iter().collect(),
            checker: Checker::answering(&VALID),
            tick_capacity: 16,
            record: FrameTap::off(),
        }
    }
}

fn params() -> ConnParams {
    ConnParams {
        shard: 0,
        feed: FeedConfig {
            stale_threshold: Duration::from_secs(10),
            reconnect_delay: Duration::from_secs(1),
            max_reconnect_delay: Duration::from_secs(4),
            max_reconnects: 10,
            rest_poll_interval: Duration::from_secs(2),
            liveness_timeout: Duration::from_secs(3),
            bridge_after: Duration::from_secs(1),
            attempts_per_minute: 12,
        },
        healthy_after: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(5),
        seed: 7,
    }
}

fn start(wire: TextWire, s: Setup) -> Rig {
    let (demand, demand_rx) = watch::channel(Arc::new(s.demand));
    let (token, token_rx) = watch::channel(s.token);
    let (run_tx, run_rx) = watch::channel(s.run);
    let (ticks_tx, ticks) = mpsc::channel(s.tick_capacity);
    let (events_tx, events) = broadcast::channel(256);
    let (status_tx, status) = watch::channel(vec![ShardStatus::default()]);
    let status_tx = Arc::new(status_tx);
    let shutdown = CancellationToken::new();
    let io = ConnIo {
        demand: demand_rx,
        token: token_rx,
        run: run_rx,
        ticks: ticks_tx.clone(),
        orders: Arc::new(crate::upstream::orders::OrderGate::new(
            Arc::new(crate::model::order::NoOrderRelay),
            Arc::default(),
        )),
        events: events_tx,
        status: ShardSlot::new(status_tx.clone(), 0, shutdown.clone()),
        checker: s.checker,
        clock: Arc::new(TokioClock::starting_at(chrono::Utc::now())),
        gauges: Arc::default(),
        record: s.record,
        shutdown: shutdown.clone(),
    };
    let task = tokio::spawn(run(wire, params(), io));
    Rig {
        demand,
        run: run_tx,
        _token: token,
        ticks_tx,
        ticks,
        events,
        status_tx,
        status,
        shutdown,
        task,
    }
}

impl Rig {
    /// Events so far (without waiting).
    fn events(&mut self) -> Vec<FeedEvent> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e);
        }
        out
    }

    fn state(&self) -> FeedState {
        self.status.borrow()[0].state
    }
}

fn disconnects(events: &[FeedEvent]) -> Vec<&Disconnect> {
    events
        .iter()
        .filter_map(|e| match e {
            FeedEvent::Disconnected { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_quiet_pre_open_is_not_a_stale_feed_when_the_market_opens() {
    let mut broker = FakeBroker::start(false).await;
    let mut rig = start(
        TextWire::new(&broker.url),
        Setup {
            run: RunPolicy {
                should_run: true,
                expects_data: false,
            },
            ..Setup::default()
        },
    );
    let mut conn = broker.next_conn().await;
    assert_eq!(conn.next_text(WAIT).await.as_deref(), Some("sub 1"));
    let _hb = conn.heartbeats(Duration::from_secs(1));
    // Pre-open and auction: heartbeats, no data, for a minute.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(disconnects(&rig.events()), Vec::<&Disconnect>::new());

    // 09:15: the market is live. Silence counts from now, not from the connection's start.
    let open = Instant::now();
    rig.run.send_replace(RunPolicy::ALWAYS);
    let stale_at = loop {
        match tokio::time::timeout(Duration::from_secs(30), rig.events.recv()).await {
            Ok(Ok(FeedEvent::Disconnected { reason, .. })) => {
                assert!(
                    matches!(reason, Disconnect::Stale { .. }),
                    "a live market without data is stale: {reason:?}"
                );
                break open.elapsed();
            }
            Ok(Ok(_)) => {}
            other => panic!("no stale detection: {other:?}"),
        }
    };
    assert!(
        stale_at >= Duration::from_secs(10) && stale_at < Duration::from_secs(11),
        "stale one threshold after the open, not at it: {stale_at:?}"
    );
    rig.shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_stopped_shard_leaves_its_slot_to_the_next_one() {
    let rig = start(
        TextWire::new("ws://127.0.0.1:9/"),
        Setup {
            token: None,
            ..Setup::default()
        },
    );
    // Let it settle in `wait_ready` (no token yet).
    tokio::time::sleep(Duration::from_millis(10)).await;
    rig.shutdown.cancel();
    // The supervisor starts a new shard at the same index before the old task has wound down,
    // and the new shard reports in.
    let connected = ShardStatus {
        state: FeedState::Connected,
        idle: false,
        subscribed: 3,
        ..ShardStatus::default()
    };
    let new_shard = ShardSlot::new(rig.status_tx.clone(), 0, CancellationToken::new());
    new_shard.send_modify(|s| *s = connected.clone());
    rig.task.await.unwrap();
    assert_eq!(
        rig.status.borrow()[0],
        connected,
        "the stopped task's last write must not land on the new shard"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_does_not_wait_for_a_token_check() {
    // The pre-flight check before the first attempt hangs (a REST call until its timeout).
    let rig = start(
        TextWire::new("ws://127.0.0.1:9/"),
        Setup {
            checker: Checker::answering(&[]),
            ..Setup::default()
        },
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
    rig.shutdown.cancel();
    assert!(
        tokio::time::timeout(Duration::from_millis(100), rig.task)
            .await
            .is_ok(),
        "stopped during the pre-flight check"
    );

    // A refused upgrade is classified with a check that hangs.
    let broker = FakeBroker::start(true).await;
    let rig = start(
        TextWire::new(&broker.url),
        Setup {
            checker: Checker::answering(&[TokenVerdict::Valid]),
            ..Setup::default()
        },
    );
    assert!(
        wait_for(|| rig.state() == FeedState::Connecting).await,
        "attempting"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    rig.shutdown.cancel();
    assert!(
        tokio::time::timeout(Duration::from_millis(100), rig.task)
            .await
            .is_ok(),
        "stopped while classifying the refusal"
    );
}

#[tokio::test(start_paused = true)]
async fn waiting_for_room_in_the_hub_is_not_broker_silence() {
    let mut broker = FakeBroker::start(false).await;
    let mut rig = start(
        TextWire::new(&broker.url),
        Setup {
            tick_capacity: 1,
            ..Setup::default()
        },
    );
    let mut conn = broker.next_conn().await;
    assert_eq!(conn.next_text(WAIT).await.as_deref(), Some("sub 1"));
    // The hub is busy: its channel is full.
    rig.ticks_tx.try_send(Vec::new()).unwrap();
    conn.send("tick 1");
    // The connection waits for the hub for longer than the liveness timeout while the broker
    // has nothing to say.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(rig.ticks.recv().await.unwrap().is_empty());
    assert_eq!(rig.ticks.recv().await.unwrap().len(), 1);
    let _hb = conn.heartbeats(Duration::from_millis(500));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(disconnects(&rig.events()), Vec::<&Disconnect>::new());
    assert_eq!(rig.state(), FeedState::Connected);
    assert!(broker.conns.try_recv().is_err(), "no reconnect");
    rig.shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_failed_prepare_keeps_the_socket_and_is_retried() {
    let mut broker = FakeBroker::start(false).await;
    let wire = TextWire::new(&broker.url);
    let failing = wire.failing_prepares.clone();
    let mut rig = start(wire, Setup::default());
    let mut conn = broker.next_conn().await;
    assert_eq!(conn.next_text(WAIT).await.as_deref(), Some("sub 1"));
    let _hb = conn.heartbeats(Duration::from_millis(500));

    // A client adds instrument 2; looking it up fails twice (a 503, a timeout…).
    failing.store(2, Ordering::SeqCst);
    rig.demand.send_replace(Arc::new(
        [(1, Mode::Quote), (2, Mode::Quote)].into_iter().collect(),
    ));
    let t0 = Instant::now();
    assert_eq!(
        conn.next_text(Duration::from_secs(30)).await.as_deref(),
        Some("sub 2"),
        "subscribed once a retry succeeds"
    );
    // Retried with backoff (1 s, then about 3 s), on the same socket.
    assert!(t0.elapsed() >= Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(disconnects(&rig.events()), Vec::<&Disconnect>::new());
    assert!(broker.conns.try_recv().is_err(), "no reconnect");
    assert_eq!(rig.status.borrow()[0].subscribed, 2);
    // Instrument 1 kept streaming meanwhile.
    conn.send("tick 1");
    assert_eq!(rig.ticks.recv().await.unwrap()[0].token, 1);
    rig.shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_stuck_lookup_does_not_stop_the_socket_being_read() {
    let mut broker = FakeBroker::start(false).await;
    let wire = TextWire::new(&broker.url);
    let hanging = wire.hanging_prepares.clone();
    let mut rig = start(wire, Setup::default());
    let mut conn = broker.next_conn().await;
    assert_eq!(conn.next_text(WAIT).await.as_deref(), Some("sub 1"));
    let _hb = conn.heartbeats(Duration::from_millis(500));

    // Looking up instrument 2 never answers.
    hanging.store(1, Ordering::SeqCst);
    let t0 = Instant::now();
    rig.demand.send_replace(Arc::new(
        [(1, Mode::Quote), (2, Mode::Quote)].into_iter().collect(),
    ));
    tokio::time::sleep(Duration::from_secs(6)).await;
    // The lookup was given up: the socket is read again, instrument 1 streams, and a retry
    // subscribes instrument 2, all on the same connection.
    conn.send("tick 1");
    assert_eq!(rig.ticks.recv().await.unwrap()[0].token, 1);
    assert_eq!(
        conn.next_text(Duration::from_secs(30)).await.as_deref(),
        Some("sub 2")
    );
    // Given up after the 5 s bound, retried after a short backoff (paused time would jump
    // straight to a much longer bound, so the elapsed time is what shows the bound).
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    assert_eq!(disconnects(&rig.events()), Vec::<&Disconnect>::new());
    assert!(broker.conns.try_recv().is_err(), "no reconnect");
    rig.shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn an_unsubscribe_does_not_wait_for_a_pending_lookup_retry() {
    let mut broker = FakeBroker::start(false).await;
    let wire = TextWire::new(&broker.url);
    let failing = wire.failing_prepares.clone();
    let rig = start(wire, Setup::default());
    let mut conn = broker.next_conn().await;
    assert_eq!(conn.next_text(WAIT).await.as_deref(), Some("sub 1"));
    let _hb = conn.heartbeats(Duration::from_millis(500));

    // Looking up instrument 2 fails: a retry is scheduled with backoff.
    failing.store(5, Ordering::SeqCst);
    rig.demand.send_replace(Arc::new(
        [(1, Mode::Quote), (2, Mode::Quote)].into_iter().collect(),
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The last client of instrument 1 leaves: it is unsubscribed at once, not after the retry.
    rig.demand
        .send_replace(Arc::new([(2, Mode::Quote)].into_iter().collect()));
    let t0 = Instant::now();
    assert_eq!(
        conn.next_text(Duration::from_secs(30)).await.as_deref(),
        Some("unsub 1")
    );
    assert!(
        t0.elapsed() < Duration::from_millis(100),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(rig.status.borrow()[0].subscribed, 0);
    rig.shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_demand_changes_is_prepared_once() {
    let mut broker = FakeBroker::start(false).await;
    let mut wire = TextWire::new(&broker.url);
    wire.gather = Duration::from_millis(200);
    let prepares = wire.prepares.clone();
    let rig = start(wire, Setup::default());
    let mut conn = broker.next_conn().await;
    assert_eq!(conn.next_text(WAIT).await.as_deref(), Some("sub 1"));
    let _hb = conn.heartbeats(Duration::from_millis(500));
    let before = prepares.load(Ordering::SeqCst);
    // Ten clients subscribe one after the other within 100 ms.
    let mut demand: Demand = [(1, Mode::Quote)].into_iter().collect();
    for t in 2..12 {
        demand.insert(t, Mode::Quote);
        rig.demand.send_replace(Arc::new(demand.clone()));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut subscribed = Vec::new();
    while let Some(text) = conn.next_text(Duration::from_secs(1)).await {
        subscribed.push(text);
    }
    assert_eq!(subscribed.len(), 10, "{subscribed:?}");
    assert_eq!(
        prepares.load(Ordering::SeqCst) - before,
        1,
        "one preparation"
    );
    rig.shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn skipped_packets_are_counted() {
    let handle = crate::status::telemetry::handle().expect("recorder");
    let mut broker = FakeBroker::start(false).await;
    let rig = start(TextWire::new(&broker.url), Setup::default());
    let mut conn = broker.next_conn().await;
    assert_eq!(conn.next_text(WAIT).await.as_deref(), Some("sub 1"));
    let counted = || {
        handle
            .render()
            .lines()
            .find_map(|l| l.strip_prefix("feedgate_upstream_skipped_packets_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let before = counted();
    conn.send("skip 3");
    assert!(wait_for(|| counted() >= before + 3.0).await, "counted");
    rig.shutdown.cancel();
}

#[test]
fn a_handed_over_batch_leaves_room_for_the_next() {
    let mut ticks: Vec<Tick> = (0..500).map(|t| tick(t, 0)).collect();
    let batch = take_batch(&mut ticks);
    assert_eq!(batch.len(), 500);
    assert!(ticks.is_empty());
    assert!(ticks.capacity() >= 500, "{}", ticks.capacity());
}

const WAIT: Duration = Duration::from_secs(5);

/// Polls `cond` every 10 ms for up to [`WAIT`].
async fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + WAIT;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

#[tokio::test(start_paused = true)]
async fn every_received_data_frame_is_offered_to_the_recorder_after_a_connected_mark() {
    let mut broker = FakeBroker::start(false).await;
    let (tap, mut recorded) = FrameTap::channel(64);
    let mut rig = start(
        TextWire::new(&broker.url),
        Setup {
            record: tap.for_shard(2),
            ..Setup::default()
        },
    );
    let mut conn = broker.next_conn().await;
    assert_eq!(conn.next_text(WAIT).await.as_deref(), Some("sub 1"));
    conn.send("tick 1");
    conn.send("hb");
    let _ = conn.tx.send(Message::binary(vec![1u8, 2, 3]));
    assert_eq!(rig.ticks.recv().await.unwrap().len(), 1);
    let mut got = Vec::new();
    while got.len() < 4 {
        let f = tokio::time::timeout(WAIT, recorded.recv())
            .await
            .unwrap()
            .unwrap();
        got.push((f.kind, f.shard, f.data.to_vec()));
    }
    assert_eq!(
        got,
        [
            (FrameKind::Connected, 2, vec![]),
            (FrameKind::Text, 2, b"tick 1".to_vec()),
            (FrameKind::Text, 2, b"hb".to_vec()),
            (FrameKind::Binary, 2, vec![1, 2, 3]),
        ]
    );
    rig.shutdown.cancel();
}
