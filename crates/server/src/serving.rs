//! The accept loop and the bounds every connection lives within (axum::serve has none):
//!
//! - a whole request header within `header_read_timeout`, counted from the connection's opening
//!   or from the end of the previous response (so it is also the keep-alive idle time);
//! - closed when no byte moves either way for `idle_timeout` (a stalled upload, a client that
//!   stopped reading its answer);
//! - at most `max_connections` served at once. At the cap the loop stops accepting: new
//!   connections wait in the kernel's listen backlog until a slot frees (a timed-out connection
//!   frees one), while every connection already served, such as a load balancer's keep-alive
//!   health check, goes on being answered. The cap is lowered at start to fit the process's
//!   open-file limit, so that accepting never runs out of descriptors.
//!
//! With `[server.tls]` every connection is TLS (see [`crate::tls`]): its handshake must finish
//! within `header_read_timeout` too, and shutdown ends handshakes still under way. Each request
//! carries its [`Transport`].

use crate::tls::Tls;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokenbridge_core::config::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// Descriptors kept free of connections: the store's pool, upstream calls, files, the listener.
const RESERVED_FILES: u64 = 128;

/// How connections are bounded, and the grace in-flight requests get at shutdown.
#[derive(Debug, Clone)]
pub struct Serving {
    pub grace: Duration,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// TLS on every connection; plain HTTP when `None`.
    pub tls: Option<Tls>,
}

impl Serving {
    /// The `[server]` settings, without TLS: `[server.tls]`'s files are read by [`Tls::load`],
    /// whose errors the caller reports before it starts anything.
    pub fn from_config(c: &ServerConfig) -> Self {
        Self {
            grace: Duration::from_secs(c.shutdown_grace_seconds),
            header_read_timeout: Duration::from_secs(c.header_read_timeout_seconds),
            idle_timeout: Duration::from_secs(c.idle_timeout_seconds),
            max_connections: c.max_connections,
            tls: None,
        }
    }
}

/// How a request reached this server: in every request's extensions, and an extractor
/// (`Plain` where the accept loop did not set it, as in a router driven directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Plain,
    Tls,
}

impl<S: Send + Sync> FromRequestParts<S> for Transport {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Transport>().copied().unwrap_or(Transport::Plain))
    }
}

impl Default for Serving {
    fn default() -> Self {
        Self::from_config(&ServerConfig::default())
    }
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting, lets each
/// connection finish its request (idle ones close at once), and returns when all are closed or
/// `serving.grace` has passed. (`shutdown` is boxed so the loop is compiled once, here, not in
/// each caller with its own kind of future.)
#[tokenbridge_core::entry_point]
pub async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    serving: Serving,
) -> anyhow::Result<()> {
    let cap = fit_to_open_files(serving.max_connections, open_file_limit());
    let slots = Arc::new(Semaphore::new(cap));
    // `stop` tells connections to finish; every connection holds an `alive` receiver.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (alive_tx, alive_rx) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let conn = Connection {
            app: app.clone(),
            peer,
            header_read_timeout: serving.header_read_timeout,
            idle_timeout: serving.idle_timeout,
            stop: stop_rx.clone(),
            tls: serving.tls.clone(),
            _slot: permit,
            _alive: alive_rx.clone(),
        };
        tokio::spawn(conn.serve(stream));
    }
    drop(listener);
    drop(alive_rx);
    let _ = stop_tx.send(true);
    if tokio::time::timeout(serving.grace, alive_tx.closed()).await.is_err() {
        tracing::warn!(grace_seconds = serving.grace.as_secs(), "grace period over; closing remaining connections");
    }
    Ok(())
}

/// A failed accept: the peer gave up (go on), or the process is out of descriptors or memory
/// (wait a moment rather than spin).
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if !matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        tracing::error!(error = %e, "accepting a connection failed");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `configured`, lowered to what the open-file limit leaves after [`RESERVED_FILES`].
pub fn fit_to_open_files(configured: usize, limit: Option<u64>) -> usize {
    let Some(limit) = limit else { return configured };
    let room = usize::try_from(limit.saturating_sub(RESERVED_FILES).max(1)).unwrap_or(usize::MAX);
    if configured > room {
        tracing::warn!(
            max_connections = configured,
            open_file_limit = limit,
            serving = room,
            "server.max_connections does not fit the open-file limit; raise it (ulimit -n, systemd LimitNOFILE=)"
        );
        return room;
    }
    configured
}

/// The soft limit on open files (Linux: `/proc/self/limits`), if known.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

/// One accepted connection and what bounds it.
struct Connection {
    app: Router,
    peer: SocketAddr,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    stop: watch::Receiver<bool>,
    tls: Option<Tls>,
    /// Held while the connection lives: its place under `max_connections`.
    _slot: OwnedSemaphorePermit,
    /// Held while the connection lives: shutdown waits for all of these.
    _alive: watch::Receiver<()>,
}

impl Connection {
    async fn serve(mut self, stream: TcpStream) {
        let started = Instant::now();
        let last_io = Arc::new(AtomicU64::new(0));
        let watched = Watched { inner: stream, started, last_io: last_io.clone() };
        let Some(tls) = self.tls.take() else {
            return self.serve_http(watched, started, last_io, Transport::Plain).await;
        };
        let peer = self.peer;
        // A client that never finishes its handshake is dropped like one that never sends a header.
        let handshake = tokio::time::timeout(self.header_read_timeout, tls.acceptor().accept(watched));
        let stream = tokio::select! {
            r = handshake => match r {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake not finished in time; closing the connection");
                    return;
                }
            },
            _ = self.stop.wait_for(|stop| *stop) => return,
        };
        self.serve_http(stream, started, last_io, Transport::Tls).await
    }

    /// HTTP/1 on `io` (the socket, or TLS over it) until the connection ends, idles out or is told
    /// to finish.
    async fn serve_http<S>(mut self, io: S, started: Instant, last_io: Arc<AtomicU64>, transport: Transport)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(io);
        let (app, peer) = (self.app.clone(), self.peer);
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            // What `into_make_service_with_connect_info` gave handlers (context.rs reads it).
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(transport);
            let mut app = app.clone();
            async move { tower::Service::call(&mut app, req).await }
        });
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new()).header_read_timeout(self.header_read_timeout);
        let conn = http.serve_connection(io, service).with_upgrades();
        tokio::pin!(conn);
        let mut finishing = false;
        loop {
            let idle_for = Duration::from_millis(
                (started.elapsed().as_millis() as u64).saturating_sub(last_io.load(Ordering::Relaxed)),
            );
            let idle_left = self.idle_timeout.saturating_sub(idle_for);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    break;
                }
                _ = self.stop.wait_for(|stop| *stop), if !finishing => {
                    finishing = true;
                    conn.as_mut().graceful_shutdown();
                }
                () = tokio::time::sleep(idle_left) => {
                    if idle_left.is_zero() {
                        tracing::debug!(%peer, idle_seconds = self.idle_timeout.as_secs(), "connection idle; closing it");
                        break;
                    }
                }
            }
        }
    }
}

/// The socket, noting when a byte last moved either way (milliseconds after `started`).
struct Watched {
    inner: TcpStream,
    started: Instant,
    last_io: Arc<AtomicU64>,
}

impl Watched {
    fn moved(&self) {
        self.last_io.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.moved();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.moved();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.moved();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_the_open_file_limit() {
        assert_eq!(fit_to_open_files(4096, None), 4096);
        assert_eq!(fit_to_open_files(4096, Some(1_048_576)), 4096);
        assert_eq!(fit_to_open_files(4096, Some(1024)), 1024 - RESERVED_FILES as usize);
        assert_eq!(fit_to_open_files(4096, Some(10)), 1);
        assert!(open_file_limit().is_some_and(|n| n > 0) || !cfg!(target_os = "linux"));
    }
}
