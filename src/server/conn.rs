//! Deadlines and a cap for the connections of the public listener.
//!
//! hyper's own header timeout starts at a request's first byte, so a client that connects
//! and sends nothing, or finishes a TLS handshake and stops, would hold its connection for
//! ever. Here every accepted connection carries one deadline, enforced on its reads and
//! writes:
//!
//! - **header**: from accept (before any TLS handshake) to the moment the handler sees the
//!   request, i.e. its header has been read, `[server] header_read_timeout_secs`;
//! - none while a request is handled: `request_timeout_secs` bounds that, in the handler;
//! - **idle**: from an answer to the next request's first byte, `idle_timeout_secs`; that
//!   byte starts a new header deadline.
//!
//! When the deadline passes, the next read or write fails with `TimedOut` and hyper closes
//! the connection (no answer: the client had not finished asking). Connections past
//! `max_connections` are closed as soon as they are accepted. Both are counted in
//! `vendorwall_server_closed_connections_total`.

use std::future::{Future, Ready};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::telemetry::Metrics;

/// The `[server]` settings this module enforces.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl From<&crate::config::Server> for ConnectionLimits {
    fn from(s: &crate::config::Server) -> Self {
        ConnectionLimits {
            header_read_timeout: s.header_read_timeout,
            idle_timeout: s.idle_timeout,
            max_connections: s.max_connections,
        }
    }
}

/// An `axum_server` acceptor: caps the open connections and gives each its deadline.
#[derive(Clone)]
pub struct GuardAcceptor {
    limits: ConnectionLimits,
    permits: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl GuardAcceptor {
    pub fn new(limits: ConnectionLimits, metrics: Arc<Metrics>) -> GuardAcceptor {
        GuardAcceptor {
            permits: Arc::new(Semaphore::new(limits.max_connections.min(Semaphore::MAX_PERMITS))),
            limits,
            metrics,
        }
    }
}

impl<I, S> axum_server::accept::Accept<I, S> for GuardAcceptor {
    type Stream = Guarded<I>;
    type Service = GuardedService<S>;
    type Future = Ready<io::Result<(Guarded<I>, GuardedService<S>)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.metrics.connections.closed("connection_limit");
            // Dropping the stream closes the connection.
            return std::future::ready(Err(io::Error::other("connection limit reached")));
        };
        let state = Arc::new(ConnState {
            limits: self.limits,
            phase: Mutex::new(Phase::Header(Instant::now() + self.limits.header_read_timeout)),
        });
        self.metrics.connections.opened();
        let guarded = Guarded {
            inner: stream,
            state: state.clone(),
            sleep: Box::pin(tokio::time::sleep_until(
                Instant::now() + self.limits.header_read_timeout,
            )),
            sleep_at: None,
            metrics: self.metrics.clone(),
            timed_out: false,
            _permit: permit,
        };
        std::future::ready(Ok((guarded, GuardedService { inner: service, state })))
    }
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Reading a request's header, until this instant.
    Header(Instant),
    /// `n` requests being handled: no deadline here.
    Busy(usize),
    /// Between an answer and the next request, until this instant.
    Idle(Instant),
}

struct ConnState {
    limits: ConnectionLimits,
    phase: Mutex<Phase>,
}

impl ConnState {
    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        // Nothing panics while holding it; a poisoned lock still holds a valid phase.
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn deadline(&self) -> Option<(Instant, &'static str)> {
        match *self.phase() {
            Phase::Header(at) => Some((at, "header_timeout")),
            Phase::Idle(at) => Some((at, "idle_timeout")),
            Phase::Busy(_) => None,
        }
    }

    fn request_started(&self) {
        let mut p = self.phase();
        *p = match *p {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        };
    }

    fn request_ended(&self) {
        let mut p = self.phase();
        *p = match *p {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now() + self.limits.idle_timeout),
        };
    }

    /// Bytes arrived: on an idle connection they begin the next request's header.
    fn bytes_read(&self) {
        let mut p = self.phase();
        if let Phase::Idle(_) = *p {
            *p = Phase::Header(Instant::now() + self.limits.header_read_timeout);
        }
    }
}

/// An accepted connection's stream, failing reads and writes once its deadline passed.
pub struct Guarded<I> {
    inner: I,
    state: Arc<ConnState>,
    sleep: Pin<Box<Sleep>>,
    sleep_at: Option<Instant>,
    metrics: Arc<Metrics>,
    timed_out: bool,
    _permit: OwnedSemaphorePermit,
}

impl<I> Guarded<I> {
    /// `Err(TimedOut)` once the current deadline passed; otherwise arms the timer (so the
    /// task wakes at the deadline even if the peer stays silent).
    fn check_deadline(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.timed_out {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let Some((at, reason)) = self.state.deadline() else {
            return Ok(());
        };
        if self.sleep_at != Some(at) {
            self.sleep.as_mut().reset(at);
            self.sleep_at = Some(at);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.timed_out = true;
            self.metrics.connections.closed(reason);
            return Err(io::ErrorKind::TimedOut.into());
        }
        Ok(())
    }
}

impl<I> Drop for Guarded<I> {
    fn drop(&mut self) {
        self.metrics.connections.ended();
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Guarded<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check_deadline(cx) {
            return Poll::Ready(Err(e));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.state.bytes_read();
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Guarded<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = this.check_deadline(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check_deadline(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = this.check_deadline(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A connection's service: a request reaching it has had its header read.
#[derive(Clone)]
pub struct GuardedService<S> {
    inner: S,
    state: Arc<ConnState>,
}

/// Ends a request's busy phase however its future ends (answered or dropped).
struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

impl<S, R> tower_service::Service<R> for GuardedService<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.state.request_started();
        let in_flight = InFlight(self.state.clone());
        let fut = self.inner.call(req);
        Box::pin(async move {
            let r = fut.await;
            drop(in_flight);
            r
        })
    }
}
