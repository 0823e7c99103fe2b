//! Real `feedgate serve` processes in a cluster ([`Cluster`], [`Node`]): each with its own data
//! directory, port, log file and role, all sharing one Redis and one simulator; a node is
//! killed (kill -9) on drop. [`Cluster::node`] starts one; [`Node::health`] reads its health.

// Helpers outside #[test] functions may unwrap too: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

use super::data_dir::feedgate_binary;
use super::redis_server::{RedisServer, SECRET_KEY, free_port};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// One `feedgate serve` process, killed on drop.
pub struct Node {
    pub name: &'static str,
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
    pub rt: tokio::runtime::Handle,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// The health document, or `None` while the node does not answer.
    pub fn health(&self) -> Option<Value> {
        let url = format!("http://127.0.0.1:{}/api/system/health", self.port);
        self.rt.block_on(async {
            let r = reqwest::get(&url).await.ok()?;
            r.json::<Value>().await.ok()
        })
    }

    /// What the node logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// kill -9 and reap: no release, no goodbye.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// What every node of a test shares: the binary, a temp dir, Redis and the simulator.
pub struct Cluster {
    pub rt: tokio::runtime::Handle,
    pub bin: PathBuf,
    pub dir: tempfile::TempDir,
    pub redis_url: String,
    pub kite_api: String,
    pub kite_ws: String,
    pub token: String,
}

impl Cluster {
    /// Starts `feedgate serve` as node `name` with `role` and its own watchlist `instruments`.
    pub fn node(&self, name: &'static str, role: &str, instruments: &str) -> Node {
        self.node_with(name, role, instruments, &[])
    }

    /// [`Cluster::node`] with variables changed: `(name, Some(value))` sets one, `(name,
    /// None)` removes one.
    pub fn node_with(
        &self,
        name: &'static str,
        role: &str,
        instruments: &str,
        vars: &[(&str, Option<&str>)],
    ) -> Node {
        let data = self.dir.path().join(name);
        std::fs::create_dir_all(&data).expect("data dir");
        let log = self.dir.path().join(format!("{name}.log"));
        let port = free_port();
        let defaults = feedgate_sim::SimConfig::default();
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve")
            .current_dir(&data)
            .env_clear()
            .env("FEEDGATE_DATA_DIR", &data)
            .env("FEEDGATE_LOG", "info")
            .env("FEEDGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("FEEDGATE_ROLE", role)
            .env("FEEDGATE_REDIS_URL", &self.redis_url)
            .env("FEEDGATE_NODE", name)
            .env("FEEDGATE_SECRET_KEY", SECRET_KEY)
            .env("FEEDGATE_RECORD", "off")
            .env("FEEDGATE_INSTRUMENTS", instruments)
            .env("DEV_MODE", "true")
            .env("KITE_API_URL", &self.kite_api)
            .env("KITE_WS_URL", &self.kite_ws)
            .env("KITE_LOGIN_URL", format!("{}/connect/login", self.kite_api))
            .env("ZERODHA_API_KEY", &defaults.api_key)
            .env("ZERODHA_API_SECRET", &defaults.api_secret)
            .env("ZERODHA_ACCESS_TOKEN", &self.token)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        for (k, v) in vars {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let child = cmd.spawn().expect("feedgate serve starts");
        Node {
            name,
            child,
            port,
            log,
            rt: self.rt.clone(),
        }
    }
}

/// Every node's log, headed by its name (for failure messages).
pub fn logs(nodes: &[&Node]) -> String {
    nodes
        .iter()
        .map(|n| format!("--- {} ---\n{}", n.name, n.log()))
        .collect()
}

/// The simulator (aggregate tick rate `rate`), Redis and the cluster's shared settings.
pub struct World {
    pub rt: tokio::runtime::Runtime,
    pub sim: feedgate_sim::Sim,
    pub sim_shutdown: tokio_util::sync::CancellationToken,
    pub redis: Option<RedisServer>,
    pub cluster: Cluster,
}

impl World {
    /// Starts the simulator at `rate` ticks/s and a Redis; `None` (the test says SKIPPED
    /// and passes) without a built binary.
    pub fn start(rate: f64) -> Option<World> {
        let Some(bin) = feedgate_binary() else {
            eprintln!("SKIPPED: target/debug/feedgate is not built (cargo build -p feedgate)");
            return None;
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sim_shutdown = tokio_util::sync::CancellationToken::new();
        let sim = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let cfg = feedgate_sim::SimConfig {
                rate: Some(rate),
                ..feedgate_sim::SimConfig::default()
            };
            feedgate_sim::Sim::start(cfg, listener, sim_shutdown.clone())
                .await
                .unwrap()
        });
        let redis = RedisServer::start();
        let cluster = Cluster {
            rt: rt.handle().clone(),
            bin,
            dir: tempfile::tempdir().unwrap(),
            redis_url: redis.url(),
            kite_api: sim.base_url(),
            kite_ws: sim.ws_url(),
            token: sim.mint_access_token(),
        };
        Some(World {
            rt,
            sim,
            sim_shutdown,
            redis: Some(redis),
            cluster,
        })
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.sim_shutdown.cancel();
    }
}
