//! The HTTP server: accepts connections under the connection caps and serves each with hyper's
//! HTTP/1 connection (upgrades included, for WebSockets) under the header, idle and size
//! limits (DESIGN.md §10, "Limits").
//!
//! axum's own `serve` cannot set hyper's timeouts or buffer limits, hence this loop. A
//! connection over a cap gets a plain `503` written straight to the socket and is closed; the
//! accept loop never spins on an error (out of file descriptors: it backs off briefly, counts
//! and logs once).

use super::conn_io::{HeadTimer, Tracked};
use super::slots::{ConnSlots, Full, Slot};
use crate::config::ServerLimits;
use crate::http::peer::{ClientAddr, ConnHold};
use crate::model::read_clock::ReadClock;
use crate::status::limits::{self, Cause};
use axum::Router;
use axum::extract::Request;
use axum::routing::future::RouteFuture;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What a refused connection is told.
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
retry-after: 5\r\nconnection: close\r\ncontent-length: 52\r\n\r\n\
feedgate is at its connection limit; retry shortly.\n";
/// Refused sockets being closed gracefully at once; beyond this they are dropped outright.
const MAX_CLOSING: usize = 256;
/// How long a refused socket may take to take its 503 and hang up.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Pause after an accept error that would repeat at once (no file descriptors, no memory).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The HTTP server's settings and shared parts.
#[derive(Debug, Clone)]
pub(super) struct Server {
    pub(super) router: Router,
    pub(super) limits: ServerLimits,
    pub(super) slots: Arc<ConnSlots>,
    pub(super) shutdown: CancellationToken,
    pub(super) tracker: TaskTracker,
}

impl Server {
    /// Accepts until shutdown; open connections finish gracefully (tracked).
    pub(super) async fn run(self, listener: TcpListener) {
        let closing = Arc::new(AtomicUsize::new(0));
        loop {
            let accepted = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return,
                r = listener.accept() => r,
            };
            let (tcp, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    on_accept_error(&e).await;
                    continue;
                }
            };
            let trusted = self.limits.trusted_proxies.contains(peer.ip());
            match self.slots.acquire((!trusted).then_some(peer.ip())) {
                Ok(slot) => {
                    let server = self.clone();
                    self.tracker.spawn(server.serve(tcp, peer, slot));
                }
                Err(full) => refuse(tcp, peer, full, self.slots.max(), &closing),
            }
        }
    }

    /// Serves one connection until it closes, times out or shutdown drains it.
    async fn serve(self, tcp: TcpStream, peer: SocketAddr, slot: Slot) {
        // Ticks are small messages that must leave at once: no Nagle delay.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a client socket");
        }
        let clock = ReadClock::default();
        let io = TokioIo::new(Tracked::new(tcp, clock.clone()));
        let service = ConnService {
            router: self.router,
            peer,
            clock: clock.clone(),
            limits: self.limits.clone(),
            hold: ConnHold(Arc::new(slot)),
        };
        let mut builder = http1::Builder::new();
        builder
            .timer(HeadTimer {
                clock: clock.clone(),
                header: self.limits.header_timeout,
                idle: self.limits.idle_timeout,
            })
            .header_read_timeout(self.limits.header_timeout)
            // Hyper's read buffer holds the head being parsed; 8 KiB is its minimum.
            .max_buf_size(self.limits.max_header_bytes.max(8192))
            .keep_alive(true);
        let conn = builder.serve_connection(io, service).with_upgrades();
        let mut conn = std::pin::pin!(conn);
        let res = tokio::select! {
            r = conn.as_mut() => r,
            () = self.shutdown.cancelled() => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = res {
            on_conn_error(&e, peer, &clock);
        }
    }
}

/// What each request of a connection is served by: the shared router, with the connection's
/// addresses and read clock in the request's extensions.
#[derive(Debug, Clone)]
struct ConnService {
    router: Router,
    peer: SocketAddr,
    clock: ReadClock,
    limits: ServerLimits,
    /// The connection's slot; an upgraded WebSocket keeps a clone.
    hold: ConnHold,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = RouteFuture<Infallible>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        let addr = ClientAddr::from_headers(self.peer, req.headers(), &self.limits.trusted_proxies);
        req.extensions_mut().insert(addr);
        req.extensions_mut().insert(self.clock.clone());
        req.extensions_mut().insert(self.hold.clone());
        // A clone of the router is a reference count; its route table is shared.
        tower::Service::call(&mut self.router.clone(), req)
    }
}

/// Answers a connection over a cap with a 503 and closes it.
fn refuse(tcp: TcpStream, peer: SocketAddr, full: Full, max: usize, closing: &Arc<AtomicUsize>) {
    let cause = match full {
        Full::Total => Cause::Connections,
        Full::PerIp => Cause::ConnectionsPerIp,
    };
    if limits::record(cause) {
        tracing::warn!(
            cause = cause.as_str(),
            peer = %peer,
            max_connections = max,
            "connection refused with 503: limit reached (further refusals are summarised)"
        );
    }
    // A fresh socket's send buffer is empty: the short answer goes out without waiting.
    let _ = tcp.try_write(BUSY);
    if closing.fetch_add(1, Ordering::Relaxed) >= MAX_CLOSING {
        closing.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    let closing = closing.clone();
    tokio::spawn(async move {
        close_gently(tcp).await;
        closing.fetch_sub(1, Ordering::Relaxed);
    });
}

/// Ends the write side and reads what the client still sends until it hangs up: closing a
/// socket with unread input resets it, which can destroy the 503 before the client reads it.
async fn close_gently(mut tcp: TcpStream) {
    let drain = async {
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut tcp).await;
        let mut buf = [0u8; 1024];
        while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
}

/// An accept error. Out of file descriptors (or memory) would fail again at once: back off
/// briefly, count it and log once per episode. A connection that failed before it was accepted
/// concerns nobody.
async fn on_accept_error(e: &io::Error) {
    // EMFILE and ENFILE (the same numbers on Linux and the BSDs), ENOBUFS, ENOMEM.
    const RESOURCE: [i32; 4] = [24, 23, 105, 12];
    let resource = e.raw_os_error().is_some_and(|n| RESOURCE.contains(&n));
    if resource {
        if limits::record(Cause::FdExhausted) {
            tracing::error!(
                error = %e,
                "cannot accept connections: out of file descriptors or memory; backing off \
                 (lower FEEDGATE_MAX_CONNECTIONS or raise the open-file limit)"
            );
        }
    } else {
        tracing::debug!(error = %e, "accept failed");
    }
    if resource
        || !matches!(
            e.kind(),
            io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
        )
    {
        tokio::time::sleep(ACCEPT_BACKOFF).await;
    }
}

/// A connection that ended with an error: the limits' own are counted, the rest are the
/// client's business (resets, half-sent requests).
fn on_conn_error(e: &hyper::Error, peer: SocketAddr, clock: &ReadClock) {
    let cause = if e.is_timeout() {
        // Idle connections end the same way, with nothing pending: no refusal.
        clock.pending_since().map(|_| Cause::HeaderTimeout)
    } else if e.is_parse_too_large() {
        Some(Cause::HeaderTooLarge)
    } else {
        None
    };
    match cause {
        Some(cause) => {
            if limits::record(cause) {
                tracing::warn!(cause = cause.as_str(), peer = %peer, error = %e, "HTTP connection closed by a limit (further ones are summarised)");
            }
        }
        None => tracing::debug!(peer = %peer, error = %e, "HTTP connection ended with an error"),
    }
}
