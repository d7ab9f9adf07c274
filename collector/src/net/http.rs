//! HTTP/1.1 and HTTP/2 (gRPC too) on a port, with a time limit on request
//! headers and on idle connections.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use tower::ServiceExt;

use super::{Connection, PortConfig, Timeouts, accept_loop};

/// Serves `app` on `listener` until the task is dropped. Handlers see the
/// peer's address as `ConnectInfo<SocketAddr>`.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    port: &'static str,
    config: PortConfig,
    app: Router,
) {
    let timeouts = config.timeouts;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Header and idle timeouts are kept here, not by hyper: its header
    // timer also runs on a keep-alive connection waiting for its next
    // request, which would make the idle timeout the shorter of the two.
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    accept_loop(
        listener,
        port,
        config,
        &[b"h2", b"http/1.1"],
        move |stream, peer| serve_connection(builder.clone(), app.clone(), stream, peer, timeouts),
    )
    .await;
}

/// One connection, until its peer closes it, hyper ends it (a protocol
/// error), a request's headers take longer than the read timeout, or it
/// has been idle for the idle timeout.
async fn serve_connection(
    builder: Arc<auto::Builder<TokioExecutor>>,
    app: Router,
    stream: Connection,
    peer: SocketAddr,
    timeouts: Timeouts,
) {
    let activity = Arc::new(Activity::new());
    let watched = Watched {
        inner: stream,
        activity: activity.clone(),
    };
    let requests = activity.clone();
    let service = tower::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let in_flight = InFlight::new(requests.clone());
        let app = app.clone();
        async move {
            let response = app.oneshot(request.map(axum::body::Body::new)).await;
            drop(in_flight);
            response
        }
    });
    let service = hyper_util::service::TowerToHyperService::new(service);
    let connection = builder.serve_connection(TokioIo::new(watched), service);
    tokio::pin!(connection);
    loop {
        let deadline = activity.deadline(timeouts);
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = tokio::time::sleep_until(deadline) => {
                if activity.in_flight.load(Ordering::Acquire) == 0
                    && activity.deadline(timeouts) <= Instant::now()
                {
                    // Nothing is being answered: closing loses nothing.
                    return;
                }
            }
        }
    }
}

/// When a connection last moved bytes, and how many of its requests are
/// being answered.
#[derive(Debug)]
struct Activity {
    start: Instant,
    /// Milliseconds since `start`.
    last: AtomicU64,
    /// Milliseconds since `start`, plus one, at which bytes first came
    /// while no request was being answered (a request's headers, begun);
    /// zero when none came since.
    head_begun: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last: AtomicU64::new(0),
            // A new connection is a request begun.
            head_begun: AtomicU64::new(1),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn touch(&self) {
        self.last.store(self.now(), Ordering::Relaxed);
    }

    /// Bytes came in.
    fn read(&self) {
        let now = self.now();
        self.last.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let _ =
                self.head_begun
                    .compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// When the connection is to close unless a request is being answered
    /// by then: a request's headers have the read timeout from their first
    /// byte, an idle connection the idle timeout from its last.
    fn deadline(&self, timeouts: Timeouts) -> Instant {
        let at = |millis: u64| self.start + Duration::from_millis(millis);
        let idle = at(self.last.load(Ordering::Relaxed)) + timeouts.http_idle;
        match self.head_begun.load(Ordering::Acquire) {
            0 => idle,
            begun => idle.min(at(begun - 1) + timeouts.read),
        }
    }
}

/// A request being answered; counted until dropped, however the answer
/// ends.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        // Its headers are in.
        activity.head_begun.store(0, Ordering::Release);
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A stream that notes when bytes last moved.
struct Watched {
    inner: Connection,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
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
