//! The native exporter's connection: a TCP stream, or TLS over one (feature
//! `tls`). An enum rather than a trait object, so that the plain stream's
//! writes stay direct calls.

use std::io::{self, Read, Write};
use std::net::TcpStream;

/// A connection to the collector.
pub(crate) enum Stream {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    /// The socket underneath, to set its timeouts and blocking mode.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => &tls.sock,
        }
    }

    /// TLS over `tcp`, once the handshake completed: the collector's
    /// certificate checked against `config`'s roots for `server_name`.
    /// Each read and write of the handshake waits at most as long as the
    /// socket's timeouts allow, and the whole of it no longer than
    /// `deadline`.
    #[cfg(feature = "tls")]
    pub(crate) fn handshake(
        mut tcp: TcpStream,
        config: std::sync::Arc<rustls::ClientConfig>,
        server_name: rustls_pki_types::ServerName<'static>,
        deadline: std::time::Instant,
    ) -> io::Result<Stream> {
        let mut connection = rustls::ClientConnection::new(config, server_name)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        while connection.is_handshaking() {
            if std::time::Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the TLS handshake took too long",
                ));
            }
            // Certificate errors come back as InvalidData, with their reason.
            if connection.complete_io(&mut tcp)? == (0, 0) {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(
            connection, tcp,
        ))))
    }
}

/// Tells a TLS collector the connection ends on purpose (`close_notify`),
/// without waiting for a socket that may be gone.
#[cfg(feature = "tls")]
impl Drop for Stream {
    fn drop(&mut self) {
        if let Stream::Tls(tls) = self {
            tls.conn.send_close_notify();
            if tls.sock.set_nonblocking(true).is_ok() {
                let _ = tls.conn.write_tls(&mut tls.sock);
            }
        }
    }
}

impl Read for Stream {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => write_tls(tls, buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

/// Encrypts `buf` and hands the records to the socket before returning.
/// Not `StreamOwned::write`: after a write that times out, that one goes on
/// to read from the socket, which may then wait as long as the collector
/// says nothing; this one only ever writes, bounded by the write timeout.
#[cfg(feature = "tls")]
fn write_tls(
    tls: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    buf: &[u8],
) -> io::Result<usize> {
    let written = tls.conn.writer().write(buf)?;
    while tls.conn.wants_write() {
        if tls.conn.write_tls(&mut tls.sock)? == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(written)
}
