//! Listener and connection wrappers that let the emulator become unreachable on demand.
//!
//! `axum::serve` spawns one task per connection and gives no handle to them, so closing the
//! keep-alive connections of a vendor that "went away" is done from below: every accepted
//! socket is wrapped in a [`KillableStream`] whose reads and writes fail once either the
//! emulator-wide kill generation moves on ([`Shared::kill_all_connections`]) or the
//! connection's own [`ConnHandle`] is tripped (a one-shot `Fault::Unreachable`). The failure
//! makes hyper drop the connection; the socket is closed with `SO_LINGER 0`, so the client
//! sees a reset rather than a polite end of stream, as it would if the vendor's load balancer
//! dropped it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

use super::Shared;

/// Binds `addr` with `SO_REUSEADDR`, so the same port can be taken again right after the
/// emulator stopped listening on it (connections it reset may still sit in `TIME_WAIT`).
pub(super) fn bind_reusable(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Per-connection handle, handed to request handlers as `ConnectInfo<ConnHandle>`.
#[derive(Clone, Debug)]
pub(super) struct ConnHandle {
    kill: Arc<watch::Sender<bool>>,
}

impl ConnHandle {
    fn new() -> Self {
        Self {
            kill: Arc::new(watch::Sender::new(false)),
        }
    }

    /// Drops this connection without an answer: whatever the handler returns is never written.
    pub(super) fn reset(&self) {
        self.kill.send_replace(true);
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        stream.io().handle.clone()
    }
}

/// A `TcpListener` whose accepted sockets can be killed from outside.
pub(super) struct KillableListener {
    inner: TcpListener,
    shared: Arc<Shared>,
}

impl KillableListener {
    pub(super) fn new(inner: TcpListener, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }
}

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, remote)) => {
                    // Small JSON answers; do not let Nagle hold them back in latency tests.
                    let _ = stream.set_nodelay(true);
                    return (KillableStream::new(stream, &self.shared), remote);
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::debug!(%error, "emulator: accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

type KillSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A TCP stream that fails every read and write once it has been killed.
pub(super) struct KillableStream {
    io: TcpStream,
    handle: ConnHandle,
    /// Completes when the connection must die; `None` once it has completed.
    kill_signal: Option<KillSignal>,
    _live: LiveGuard,
}

impl KillableStream {
    fn new(io: TcpStream, shared: &Arc<Shared>) -> Self {
        let handle = ConnHandle::new();
        let mut all = shared.kills.subscribe();
        let generation = *all.borrow_and_update();
        let mut own = handle.kill.subscribe();
        let kill_signal: KillSignal = Box::pin(async move {
            // An error means the sender is gone (emulator dropped): that kills too.
            tokio::select! {
                _ = all.wait_for(|g| *g != generation) => {}
                _ = own.wait_for(|killed| *killed) => {}
            }
        });
        Self {
            io,
            handle,
            kill_signal: Some(kill_signal),
            _live: LiveGuard::new(shared.clone()),
        }
    }

    /// Polls the kill signal (registering the waker) and reports whether the stream is dead.
    fn killed(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(signal) = self.kill_signal.as_mut() else {
            return true;
        };
        if signal.as_mut().poll(cx).is_pending() {
            return false;
        }
        self.kill_signal = None;
        // Reset rather than FIN, like a vendor edge that vanished.
        let _ = self.io.set_zero_linger();
        true
    }
}

fn aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "emulator: connection killed by fault injection",
    )
}

impl AsyncRead for KillableStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.killed(cx) {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.killed(cx) {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.killed(cx) {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.killed(cx) {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.killed(cx) {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// Counts open connections, so going unreachable can wait until they are all gone.
struct LiveGuard {
    shared: Arc<Shared>,
}

impl LiveGuard {
    fn new(shared: Arc<Shared>) -> Self {
        shared.live_connections.send_modify(|n| *n += 1);
        Self { shared }
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.shared.live_connections.send_modify(|n| *n = n.saturating_sub(1));
    }
}
