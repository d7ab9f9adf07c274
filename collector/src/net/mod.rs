//! The listening ports: one accept loop for all of them, which survives
//! running out of file descriptors and holds at most a set number of
//! connections per port, TLS when asked for, and HTTP served with timeouts.

mod http;
mod tls;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

pub use http::serve_http;
pub use tls::{TlsError, load_tls};

use crate::log::Throttled;

/// How long the collector waits for a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// From a native frame's first byte to its last, for the TLS handshake,
    /// and for an HTTP request's headers.
    pub read: Duration,
    /// A native connection with no frame on the way, and nothing being
    /// stored for it, is closed after this.
    pub native_idle: Duration,
    /// An HTTP connection with no request on the way is closed after this.
    pub http_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            read: Duration::from_secs(30),
            native_idle: Duration::from_secs(600),
            http_idle: Duration::from_secs(60),
        }
    }
}

/// What every port shares: limits, timeouts and the TLS configuration.
#[derive(Clone, Debug)]
pub struct PortConfig {
    /// Connections held open at once per port; past it new ones wait in the
    /// kernel's backlog.
    pub max_connections: usize,
    /// How long to wait for peers.
    pub timeouts: Timeouts,
    /// TLS on every port, when set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// A byte stream from a peer: plain TCP or TLS over it.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// A connection, once accepted and (with TLS) through its handshake.
pub type Connection = Box<dyn Stream>;

static ACCEPT_FAILED: Throttled = Throttled::new(Duration::from_secs(1));
static HANDSHAKE_FAILED: Throttled = Throttled::new(Duration::from_secs(1));

/// Accepts connections on `listener` for ever, each handed to `handle` on
/// its own task, at most `config.max_connections` at once. With TLS, the
/// handshake happens first, on that task, within `config.timeouts.read`;
/// `alpn` is what TLS offers (`h2`, `http/1.1` for HTTP ports).
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    port: &'static str,
    config: PortConfig,
    alpn: &[&[u8]],
    handle: F,
) where
    F: Fn(Connection, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let tls = config.tls.map(|tls| {
        let mut tls = (*tls).clone();
        tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tokio_rustls::TlsAcceptor::from(Arc::new(tls))
    });
    let handle = Arc::new(handle);
    let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let handshake_timeout = config.timeouts.read;
    loop {
        // The permit comes first: at the limit, nothing is accepted, so
        // nothing more is held than the limit says.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                if !is_peer_error(&e) {
                    // Out of file descriptors or memory: accepting again at
                    // once would spin. Connections that end free some.
                    ACCEPT_FAILED.warn(format_args!(
                        "{port} port: cannot accept connections ({e}); retrying in 100 ms"
                    ));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let connection = tls.clone().map(|tls| (tls, handshake_timeout));
        let handle = handle.clone();
        let handling = async move {
            let Some(stream) = secure(stream, peer, port, connection).await else {
                return;
            };
            handle(stream, peer).await;
        };
        tokio::spawn(async move {
            handling.await;
            drop(permit);
        });
    }
}

/// The stream as the handler sees it: through the TLS handshake when TLS
/// is on, `None` when the handshake failed or took too long.
async fn secure(
    stream: TcpStream,
    peer: SocketAddr,
    port: &str,
    tls: Option<(tokio_rustls::TlsAcceptor, Duration)>,
) -> Option<Connection> {
    let Some((acceptor, timeout)) = tls else {
        return Some(Box::new(stream));
    };
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(Box::new(stream)),
        Ok(Err(e)) => {
            HANDSHAKE_FAILED.warn(format_args!("{port} port: TLS with {peer} failed: {e}"));
            None
        }
        Err(_) => {
            HANDSHAKE_FAILED.warn(format_args!(
                "{port} port: {peer} did not finish the TLS handshake in {timeout:?}"
            ));
            None
        }
    }
}

/// Errors `accept` reports about one peer that gave up, after which the
/// next `accept` may well succeed.
fn is_peer_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}
