//! A real `redis-server` per test ([`RedisServer`]): on a free port, in its own temp dir, no
//! persistence, killed on drop. `scripts/setup-test-deps` installs it (Debian's package).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`, killed when dropped.
pub struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one on a free port and waits until it answers PING. Panics (the test fails) when
    /// `redis-server` is not installed: run `scripts/setup-test-deps`.
    pub fn start() -> RedisServer {
        for _ in 0..5 {
            let port = free_port();
            if let Some(server) = Self::start_on(port, None) {
                return server;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// Starts one on `port` (e.g. where a gateway already tries to reach Redis), requiring
    /// `password` if given; `None` when it exits (the port was taken meanwhile).
    pub fn start_on(port: u16, password: Option<&str>) -> Option<RedisServer> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path());
        if let Some(p) = password {
            cmd.args(["--requirepass", p]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run redis-server ({e}): install it with scripts/setup-test-deps")
            });
        let mut server = RedisServer {
            child,
            port,
            _dir: dir,
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if server.child.try_wait().ok().flatten().is_some() {
                return None;
            }
            if ping(port, password.is_some()) {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {port} did not answer PING within 10 s");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
/// The `FEEDGATE_SECRET_KEY` the nodes of a test cluster share (a clustered role needs one).
pub const SECRET_KEY: &str = "3f9c1b7e5a2d4c8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Whether a Redis on `port` answers PING (with a password set, any answer will do: it is
/// the refusal to answer without one).
fn ping(port: u16, password: bool) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok()
        && s.read_exact(&mut buf).is_ok()
        && (password || &buf == b"+PONG\r\n")
}
