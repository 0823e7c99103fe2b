//! The cluster runs' `redis-server`: a child process on a free loopback port, in its own
//! temporary directory, without persistence (as the process tests start it), killed when
//! dropped. Its CPU is read from `/proc/<pid>` like the gateway's; its traffic from
//! `INFO stats` (`total_net_input_bytes`, `total_net_output_bytes`: what Redis itself read from
//! and wrote to its client sockets, loopback included, protocol framing included).

use anyhow::{Context, anyhow, bail};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// Where the install hint sends whoever lacks the server.
const INSTALL: &str = "install it: `apt-get install redis-server` (Debian/Ubuntu), or \
                       ./scripts/setup-test-deps";

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisProc {
    _child: Child,
    pub pid: u32,
    pub port: u16,
    _dir: tempfile::TempDir,
}

/// Bytes Redis read from and wrote to its clients since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetBytes {
    pub input: u64,
    pub output: u64,
}

impl RedisProc {
    /// Starts one on a free port (retrying another port if it was taken meanwhile) and waits
    /// until it answers PING.
    pub async fn start() -> anyhow::Result<Self> {
        let mut last = None;
        for _ in 0..5 {
            let port = crate::bed::free_port()?.port();
            match Self::start_on(port).await {
                Ok(r) => return Ok(r),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("redis-server did not start")))
    }

    async fn start_on(port: u16) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("feedgate-bench-redis-")
            .tempdir()?;
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("redis-server is not installed: {INSTALL}")
            }
            Err(e) => return Err(e).context("cannot run redis-server"),
        };
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("redis-server exited at once"))?;
        let proc = Self {
            _child: child,
            pid,
            port,
            _dir: dir,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if proc.ping().await.is_ok() {
                return Ok(proc);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("redis-server on port {port} did not answer PING within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    async fn connection(&self) -> anyhow::Result<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(self.url())?;
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            client.get_multiplexed_async_connection(),
        )
        .await
        .context("connecting to redis-server timed out")??;
        Ok(conn)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self.connection().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    /// Its traffic counters now (one short connection: a few hundred bytes of its own).
    pub async fn net_bytes(&self) -> anyhow::Result<NetBytes> {
        let mut conn = self.connection().await?;
        let info: String = redis::cmd("INFO")
            .arg("stats")
            .query_async(&mut conn)
            .await?;
        parse_net_bytes(&info).ok_or_else(|| anyhow!("INFO stats without the net byte counters"))
    }
}

/// `total_net_input_bytes` and `total_net_output_bytes` from an `INFO stats` answer.
pub fn parse_net_bytes(info: &str) -> Option<NetBytes> {
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
    };
    Some(NetBytes {
        input: field("total_net_input_bytes")?,
        output: field("total_net_output_bytes")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_net_counters() {
        let info = "# Stats\r\ntotal_connections_received:3\r\ntotal_net_input_bytes:1234\r\n\
                    total_net_output_bytes:98765\r\ntotal_net_repl_input_bytes:0\r\n";
        assert_eq!(
            parse_net_bytes(info),
            Some(NetBytes {
                input: 1234,
                output: 98_765
            })
        );
        assert_eq!(parse_net_bytes("total_net_input_bytes:1\r\n"), None);
    }
}
