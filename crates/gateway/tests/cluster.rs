//! Leader election against a real `redis-server` (DESIGN.md §9): two contenders, exactly one
//! leader; a leader that dies (its task gone, no release) is replaced within 3 s with a higher
//! term; a clean shutdown releases the lock at once; Redis down at start is logged once and
//! the election recovers when Redis comes. Real time throughout: Redis expires keys on its own
//! clock.

mod common;

use common::Capture;
use common::redis_server::{RedisServer, free_port};
use feedgate_gateway::cluster::elect::{self, ElectionIo, ElectionView};
use feedgate_gateway::cluster::lease::LeaseTimes;
use feedgate_gateway::cluster::store::{self, LockStore};
use feedgate_gateway::config::RedisUrl;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const ANSWER: Duration = Duration::from_millis(1000);

/// One contender: its election task and what it publishes.
struct Contender {
    leading: watch::Receiver<bool>,
    view: watch::Receiver<ElectionView>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn contender(url: &str, node: &str) -> Contender {
    let url = RedisUrl::parse(url).expect("a redis URL");
    let times = LeaseTimes::default();
    let conn = store::connect(&url, ANSWER).expect("a Redis client");
    let (leading_tx, leading) = watch::channel(false);
    let (view_tx, view) = watch::channel(ElectionView::default());
    let shutdown = CancellationToken::new();
    let io = ElectionIo {
        store: LockStore::new(conn, node, times.lease, ANSWER),
        times,
        node: node.into(),
        redis: url.redacted().into(),
        leading: leading_tx,
        view: view_tx,
    };
    let task = tokio::spawn(elect::run(io, shutdown.clone()));
    Contender {
        leading,
        view,
        shutdown,
        task,
    }
}

/// Waits (polling, up to `within`) until `pick` finds a leader among `all`; returns its index
/// and how long it took.
async fn leader_among(all: &[&Contender], within: Duration) -> (usize, Duration) {
    let started = Instant::now();
    loop {
        let leaders: Vec<usize> = (0..all.len())
            .filter(|&i| *all[i].leading.borrow())
            .collect();
        assert!(leaders.len() <= 1, "two leaders at once: {leaders:?}");
        if let [one] = leaders[..] {
            return (one, started.elapsed());
        }
        assert!(started.elapsed() < within, "no leader within {within:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Checks for `span` that exactly one of `all` leads at every sample, the same one.
async fn one_leader_for(all: &[&Contender], span: Duration) -> usize {
    let started = Instant::now();
    let (first, _) = leader_among(all, Duration::ZERO).await;
    while started.elapsed() < span {
        let (now, _) = leader_among(all, Duration::ZERO).await;
        assert_eq!(now, first, "leadership moved while the leader was healthy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first
}

fn term(c: &Contender) -> u64 {
    c.view.borrow().term.expect("a term")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_contenders_elect_one_and_a_dead_leader_is_replaced_within_3_s() {
    let redis = RedisServer::start();
    let a = contender(&redis.url(), "node-a");
    let b = contender(&redis.url(), "node-b");
    let (_, took) = leader_among(&[&a, &b], Duration::from_secs(2)).await;
    assert!(
        took < Duration::from_millis(500),
        "first election took {took:?}"
    );
    // Renewals keep the same leader for longer than a lease.
    let first = one_leader_for(&[&a, &b], Duration::from_millis(4000)).await;
    let (leader, standby) = if first == 0 { (a, b) } else { (b, a) };
    let old_term = term(&leader);
    assert_eq!(
        standby.view.borrow().leader.as_deref(),
        Some(if first == 0 { "node-a" } else { "node-b" }),
        "the standby knows who leads"
    );
    // The leader dies: its task is gone, nothing is released, no renewal comes.
    leader.task.abort();
    let died = Instant::now();
    let (_, _) = leader_among(&[&standby], Duration::from_millis(3200)).await;
    let takeover = died.elapsed();
    eprintln!("takeover after the leader's death: {takeover:?}");
    assert!(takeover <= Duration::from_millis(3100), "{takeover:?}");
    assert!(term(&standby) > old_term, "the fencing token increases");
    standby.shutdown.cancel();
    standby.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_shutdown_releases_the_lock_and_the_standby_takes_over_within_a_second() {
    let redis = RedisServer::start();
    let a = contender(&redis.url(), "node-a");
    leader_among(&[&a], Duration::from_secs(2)).await;
    let b = contender(&redis.url(), "node-b");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!*b.leading.borrow());
    let old_term = term(&a);
    a.shutdown.cancel();
    a.task.await.unwrap();
    assert!(!*a.leading.borrow(), "a stopped leader says so");
    let released = Instant::now();
    leader_among(&[&b], Duration::from_millis(1100)).await;
    eprintln!("takeover after a clean release: {:?}", released.elapsed());
    assert_eq!(term(&b), old_term + 1);
    b.shutdown.cancel();
    b.task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_redis_steps_down_and_redis_trouble_is_logged_once() {
    let capture = Capture::default();
    capture
        .install(tracing_subscriber::EnvFilter::new("feedgate_gateway=info"))
        .unwrap();
    let port = free_port();
    let url = format!("redis://:s3cret-pass@127.0.0.1:{port}/0");
    // No Redis yet: the election retries, logging the trouble once.
    let a = contender(&url, "node-a");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(!*a.leading.borrow());
    assert!(a.view.borrow().redis_down);
    let down = capture.lines_with("redis unreachable");
    assert_eq!(down.len(), 1, "logged once: {down:#?}");
    assert!(
        down[0].contains(&format!("redis://:***@127.0.0.1:{port}/0")),
        "{}",
        down[0]
    );
    // Redis comes (with that password): the election recovers and says so once.
    let redis = RedisServer::start_on(port, Some("s3cret-pass")).expect("redis on its port");
    leader_among(&[&a], Duration::from_secs(5)).await;
    assert_eq!(capture.lines_with("redis reachable again").len(), 1);
    // Redis goes away: the leader steps down at once (no renewal answered), and is alone
    // in saying so.
    drop(redis);
    let cut = Instant::now();
    while *a.leading.borrow() {
        assert!(cut.elapsed() < Duration::from_millis(2900), "still leading");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!("stepped down {:?} after Redis went away", cut.elapsed());
    assert!(
        !capture.text().contains("s3cret-pass"),
        "the password never reaches a log"
    );
    a.shutdown.cancel();
    a.task.await.unwrap();
}

mod demand {
    //! Edges' demand through a real Redis: the leader's union, an edge's change, a dead edge
    //! dropped after its heartbeat expires, a stopped edge withdrawn at once.

    use super::*;
    use feedgate_gateway::cluster::demand_io::{self, DemandLink};
    use feedgate_gateway::model::demand::Demand;
    use feedgate_gateway::model::instruments::{InstrumentSpec, Registry};
    use feedgate_gateway::model::tick::Mode;
    use std::sync::Arc;

    fn demand(pairs: &[(u32, Mode)]) -> Arc<Demand> {
        Arc::new(pairs.iter().copied().collect())
    }

    fn link(url: &str) -> DemandLink {
        let url = RedisUrl::parse(url).expect("a redis URL");
        DemandLink {
            conn: store::connect(&url, ANSWER).expect("a Redis client"),
            redis: url.redacted().into(),
            answer_within: ANSWER,
        }
    }

    struct Edge {
        demand: watch::Sender<Arc<Demand>>,
        shutdown: CancellationToken,
        task: tokio::task::JoinHandle<()>,
    }

    fn edge(url: &str, node: &str, d: Arc<Demand>, reg: &watch::Receiver<Arc<Registry>>) -> Edge {
        let (tx, rx) = watch::channel(d);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(demand_io::publish(
            link(url),
            node.into(),
            rx,
            reg.clone(),
            shutdown.clone(),
        ));
        Edge {
            demand: tx,
            shutdown,
            task,
        }
    }

    async fn until(
        union: &watch::Receiver<Arc<Demand>>,
        want: &Arc<Demand>,
        within: Duration,
    ) -> Duration {
        let started = Instant::now();
        while **union.borrow() != **want {
            assert!(
                started.elapsed() < within,
                "union {:?}, want {want:?}",
                union.borrow()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        started.elapsed()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_leader_subscribes_the_union_of_live_edges() {
        let redis = RedisServer::start();
        let (_reg_tx, reg) = watch::channel(Arc::new(Registry::new([
            InstrumentSpec::nse_equity(1, "INFY", "Infosys"),
            InstrumentSpec::nse_equity(2, "SBIN", "SBI"),
            InstrumentSpec::nse_equity(3, "TCS", "TCS"),
        ])));
        let one = edge(&redis.url(), "edge-1", demand(&[(1, Mode::Quote)]), &reg);
        let two = edge(
            &redis.url(),
            "edge-2",
            demand(&[(1, Mode::Full), (2, Mode::Ltp)]),
            &reg,
        );
        let (_local_tx, local) = watch::channel(demand(&[(3, Mode::Ltp)]));
        let tracker = tokio_util::task::TaskTracker::new();
        let shutdown = CancellationToken::new();
        let union = demand_io::spawn_union(
            link(&redis.url()),
            local,
            reg.clone(),
            shutdown.clone(),
            &tracker,
        );
        assert_eq!(
            **union.borrow(),
            *demand(&[(3, Mode::Ltp)]),
            "starts from its own"
        );
        until(
            &union,
            &demand(&[(1, Mode::Full), (2, Mode::Ltp), (3, Mode::Ltp)]),
            Duration::from_secs(3),
        )
        .await;
        // An edge's change arrives at the leader's next read.
        one.demand
            .send_replace(demand(&[(1, Mode::Quote), (2, Mode::Full)]));
        let took = until(
            &union,
            &demand(&[(1, Mode::Full), (2, Mode::Full), (3, Mode::Ltp)]),
            Duration::from_millis(1500),
        )
        .await;
        eprintln!("an edge's change reached the union in {took:?}");
        // edge-2 dies: no withdrawal, its heartbeat stops; dropped once its key expires.
        two.task.abort();
        let took = until(
            &union,
            &demand(&[(1, Mode::Quote), (2, Mode::Full), (3, Mode::Ltp)]),
            Duration::from_millis(4500),
        )
        .await;
        eprintln!("a dead edge's demand dropped after {took:?}");
        assert!(
            took > Duration::from_millis(1500),
            "not before its TTL: {took:?}"
        );
        // edge-1 stops cleanly: withdrawn at the leader's next read.
        one.shutdown.cancel();
        one.task.await.unwrap();
        until(
            &union,
            &demand(&[(3, Mode::Ltp)]),
            Duration::from_millis(1500),
        )
        .await;
        shutdown.cancel();
        tracker.close();
        tracker.wait().await;
    }
}
