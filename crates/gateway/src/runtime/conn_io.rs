//! The socket under every HTTP connection and the timer hyper reads request heads with.
//!
//! [`Tracked`] starts the connection's [`ReadClock`] at every read that brings bytes.
//! [`HeadTimer`] is the hyper `Timer` behind `header_read_timeout`. Hyper starts that timer
//! whenever it begins waiting for a request head — on a fresh connection and between
//! keep-alive requests alike — so with hyper's own timer an idle keep-alive connection would be
//! closed after the header timeout. Ours clears the read clock when the wait begins and then
//! fires at `first byte + header timeout` once bytes of a head have arrived (slowloris), or
//! at `wait start + idle timeout` while none have (an idle connection). Hyper polls the timer
//! after every read that leaves the head incomplete, so a deadline that moves earlier is seen
//! at once. Hyper uses the timer for nothing else on an HTTP/1 server connection.
//!
//! After a WebSocket upgrade the same [`Tracked`] socket stays underneath, and the client task
//! uses the same read clock for its unfinished-message deadline.

use crate::model::read_clock::ReadClock;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// A socket that marks its read clock when bytes arrive.
#[derive(Debug)]
pub(super) struct Tracked<T> {
    inner: T,
    clock: ReadClock,
}

impl<T> Tracked<T> {
    pub(super) fn new(inner: T, clock: ReadClock) -> Self {
        Self { inner, clock }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.clock.on_read(Instant::now());
        }
        res
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Hyper's timer for one connection (see the module docs).
#[derive(Debug, Clone)]
pub(super) struct HeadTimer {
    pub(super) clock: ReadClock,
    pub(super) header: Duration,
    pub(super) idle: Duration,
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Plain(Box::pin(tokio::time::sleep(duration))))
    }

    /// Hyper asks for `now + header timeout` when it starts waiting for a head; the deadline
    /// is ours to work out.
    fn sleep_until(&self, _deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.clock.clear();
        let start = Instant::now();
        let at = start + self.idle;
        Box::pin(HeadSleep {
            clock: self.clock.clone(),
            start,
            header: self.header,
            idle: self.idle,
            at,
            sleep: Box::pin(tokio::time::sleep_until(at)),
        })
    }

    fn now(&self) -> std::time::Instant {
        // Follows tokio's clock, which tests pause.
        Instant::now().into_std()
    }
}

/// A plain sleep, for anything else hyper might time.
struct Plain(Pin<Box<tokio::time::Sleep>>);

impl Future for Plain {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for Plain {}

/// The wait for one request head: the idle deadline until its first byte, then the header
/// deadline.
struct HeadSleep {
    clock: ReadClock,
    start: Instant,
    header: Duration,
    idle: Duration,
    at: Instant,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let at = match self.clock.pending_since() {
            Some(first_byte) => first_byte + self.header,
            None => self.start + self.idle,
        };
        if at != self.at {
            self.at = at;
            self.sleep.as_mut().reset(at);
        }
        self.sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for HeadSleep {}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer;

    #[tokio::test(start_paused = true)]
    async fn idle_until_the_first_byte_then_the_header_deadline() {
        let clock = ReadClock::default();
        let timer = HeadTimer {
            clock: clock.clone(),
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
        };
        let t0 = Instant::now();
        timer.sleep_until(std::time::Instant::now()).await;
        assert_eq!(t0.elapsed(), Duration::from_secs(60), "idle");

        let t1 = Instant::now();
        let mut head = timer.sleep_until(std::time::Instant::now());
        tokio::time::sleep(Duration::from_secs(30)).await;
        clock.on_read(Instant::now());
        // Polled after the read, as hyper does: the deadline moves to 10 s after the byte.
        std::future::poll_fn(|cx| {
            assert!(head.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        head.await;
        assert_eq!(t1.elapsed(), Duration::from_secs(40), "header");
    }
}
