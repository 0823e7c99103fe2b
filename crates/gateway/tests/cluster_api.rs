//! `GET /api/cluster` and the node label on `/metrics` with the real binary (DESIGN.md §9):
//! an ingest node and an edge share a real `redis-server` and one simulator; the edge names
//! the leader, itself and its own demand as Redis holds them, with the Redis round trip on
//! `?ping=1`; with Redis gone it still answers 200, `redis_ok: false`. A node of role `all`
//! answers `{"role":"all","clustered":false}` and its metrics carry no node label. Needs the
//! built binary (`FEEDGATE_BIN`, set by `./scripts/test`); without it, says so and passes.

mod common;

use common::data_dir::feedgate_binary;
use common::redis_server::free_port;
use common::redis_server::{self, RedisServer};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One `feedgate serve` process, killed on drop.
struct Node {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Setup<'a> {
    bin: &'a Path,
    dir: &'a Path,
    redis_url: &'a str,
    kite_api: String,
    kite_ws: String,
    token: String,
}

impl Setup<'_> {
    fn node(&self, name: &str, role: &str, instruments: &str) -> Node {
        self.node_with(name, role, instruments, &[])
    }

    fn node_with(&self, name: &str, role: &str, instruments: &str, env: &[(&str, &str)]) -> Node {
        let data = self.dir.join(name);
        std::fs::create_dir_all(&data).expect("data dir");
        let log = self.dir.join(format!("{name}.log"));
        let port = free_port();
        let defaults = feedgate_sim::SimConfig::default();
        let child = Command::new(self.bin)
            .arg("serve")
            .current_dir(&data)
            .env_clear()
            .env("FEEDGATE_DATA_DIR", &data)
            .env("FEEDGATE_LOG", "info")
            .env("FEEDGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("FEEDGATE_ROLE", role)
            .env("FEEDGATE_REDIS_URL", self.redis_url)
            .env("FEEDGATE_NODE", name)
            .env("FEEDGATE_SECRET_KEY", redis_server::SECRET_KEY)
            .env("FEEDGATE_RECORD", "off")
            .env("FEEDGATE_INSTRUMENTS", instruments)
            .env("DEV_MODE", "true")
            .env("KITE_API_URL", &self.kite_api)
            .env("KITE_WS_URL", &self.kite_ws)
            .env("ZERODHA_API_KEY", &defaults.api_key)
            .env("ZERODHA_API_SECRET", &defaults.api_secret)
            .env("ZERODHA_ACCESS_TOKEN", &self.token)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("feedgate serve starts");
        Node { child, port, log }
    }
}

impl Node {
    async fn get(&self, path: &str) -> Option<(u16, String)> {
        self.get_as(path, None).await
    }

    async fn get_as(&self, path: &str, key: Option<&str>) -> Option<(u16, String)> {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let mut req = reqwest::Client::new().get(&url);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let r = req.send().await.ok()?;
        let status = r.status().as_u16();
        Some((status, r.text().await.ok()?))
    }

    async fn json(&self, path: &str) -> Option<Value> {
        let (status, body) = self.get(path).await?;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).ok()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Polls `node`'s `path` (up to `within`) until `ok` holds; returns that document.
async fn until(node: &Node, path: &str, within: Duration, ok: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    let mut last = Value::Null;
    loop {
        if let Some(doc) = node.json(path).await {
            if ok(&doc) {
                return doc;
            }
            last = doc;
        }
        assert!(
            started.elapsed() < within,
            "{path} not as expected within {within:?}: {last}\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_shows_the_leader_the_nodes_and_its_demand_and_labels_its_metrics() {
    let Some(bin) = feedgate_binary() else {
        eprintln!("SKIPPED: target/debug/feedgate is not built (cargo build -p feedgate)");
        return;
    };
    let sim_shutdown = tokio_util::sync::CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = feedgate_sim::Sim::start(
        feedgate_sim::SimConfig::default(),
        listener,
        sim_shutdown.clone(),
    )
    .await
    .unwrap();
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let redis_url = redis.url();
    let setup = Setup {
        bin: &bin,
        dir: dir.path(),
        redis_url: &redis_url,
        kite_api: sim.base_url(),
        kite_ws: sim.ws_url(),
        token: sim.mint_access_token(),
    };
    let ingest = setup.node("in-1", "ingest", "NSE:INFY");
    let edge = setup.node("edge-1", "edge", "NSE:RELIANCE,NSE:SBIN");
    let solo = setup.node("solo", "all", "NSE:INFY");
    let keys = "boss:0123456789abcdef0123:admin,viewer:abcdef0123456789abcd:read";
    let locked = setup.node_with(
        "locked",
        "all",
        "NSE:INFY",
        &[("FEEDGATE_AUTH", "keys"), ("FEEDGATE_API_KEYS", keys)],
    );

    let doc = until(&edge, "/api/cluster?ping=1", Duration::from_secs(20), |d| {
        d["leader"]["node"] == "in-1" && d["edges"].as_array().is_some_and(|e| !e.is_empty())
    })
    .await;
    eprintln!("edge: {doc}");
    assert_eq!(doc["clustered"], true, "{doc}");
    assert_eq!(doc["node"], "edge-1", "{doc}");
    assert_eq!(doc["role"], "edge", "{doc}");
    assert_eq!(doc["redis_ok"], true, "{doc}");
    assert!(
        doc["redis_rtt_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{doc}"
    );
    assert!(
        doc["leader"]["term"].as_u64().is_some_and(|t| t >= 1),
        "{doc}"
    );
    assert!(
        doc["leader"]["lease_age_ms"]
            .as_u64()
            .is_some_and(|ms| ms <= 3000),
        "{doc}"
    );
    let nodes: Vec<(&str, &str, bool)> = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["node"].as_str().unwrap(),
                n["role"].as_str().unwrap(),
                n["this"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        nodes,
        [("in-1", "ingest", false), ("edge-1", "edge", true)],
        "{doc}"
    );
    let demand = &doc["edges"][0];
    assert_eq!(demand["node"], "edge-1", "{doc}");
    assert_eq!(demand["instruments"], 2, "{doc}");
    let by_mode: u64 = demand["modes"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(by_mode, 2, "{doc}");
    // Without `?ping` no round trip is measured.
    let quiet = edge.json("/api/cluster").await.expect("the edge answers");
    assert!(quiet.get("redis_rtt_ms").is_none(), "{quiet}");
    // The leader sees itself as the leader.
    let led = until(&ingest, "/api/cluster", Duration::from_secs(5), |d| {
        d["nodes"][0]["this"] == true
    })
    .await;
    assert_eq!(led["role"], "ingest", "{led}");

    // Every metric of a clustered node carries its name; role `all` is unchanged.
    let (status, metrics) = edge.get("/metrics").await.expect("the edge's metrics");
    assert_eq!(status, 200);
    let lines: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("feedgate_"))
        .collect();
    assert!(!lines.is_empty(), "{metrics}");
    assert!(
        lines.iter().all(|l| l.contains("node=\"edge-1\"")),
        "{metrics}"
    );
    let single = until(&solo, "/api/cluster", Duration::from_secs(20), |_| true).await;
    assert_eq!(
        single,
        serde_json::json!({"role": "all", "clustered": false})
    );
    let (_, metrics) = solo
        .get("/metrics")
        .await
        .expect("the single node's metrics");
    assert!(!metrics.contains("node="), "{metrics}");

    // Admin only, like /metrics.
    let started = Instant::now();
    let anonymous = loop {
        if let Some((status, _)) = locked.get("/api/cluster").await {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            locked.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(anonymous, 401);
    let reader = locked
        .get_as("/api/cluster", Some("viewer:abcdef0123456789abcd"))
        .await;
    assert_eq!(reader.map(|r| r.0), Some(403));
    let admin = locked
        .get_as("/api/cluster", Some("boss:0123456789abcdef0123"))
        .await;
    assert_eq!(admin.map(|r| r.0), Some(200));

    // Redis gone: still an answer, saying so.
    drop(redis);
    let down = until(&edge, "/api/cluster?ping=1", Duration::from_secs(10), |d| {
        d["redis_ok"] == false
    })
    .await;
    eprintln!("redis down: {down}");
    assert!(down["redis_error"].is_string(), "{down}");
    assert!(down.get("redis_rtt_ms").is_none(), "{down}");
    assert_eq!(down["nodes"][0]["node"], "edge-1", "{down}");
    sim_shutdown.cancel();
}
