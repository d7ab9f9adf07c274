//! For the TLS tests: a CA and a collector certificate made at test time
//! (nothing secret is committed), a file to hold the CA, and small
//! collectors on 127.0.0.1: one speaking the native protocol, one taking
//! OTLP/HTTP requests, each over rustls.
#![cfg_attr(not(feature = "otlp"), allow(dead_code))]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dapple_proto::{self as proto, Frame, FrameError, FrameReader, frame};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::PrivateKeyDer;

/// `time`, or ten times it under valgrind (`.ci/run` sets
/// `DAPPLE_UNDER_VALGRIND`), where a TLS handshake alone can take seconds.
pub(crate) fn patience(time: Duration) -> Duration {
    if std::env::var_os("DAPPLE_UNDER_VALGRIND").is_some() {
        time * 10
    } else {
        time
    }
}

/// A CA, and a collector certificate it signed.
pub(crate) struct Pki {
    /// The CA certificate, PEM.
    pub(crate) ca_pem: String,
    /// A collector presenting the certificate.
    pub(crate) server: Arc<rustls::ServerConfig>,
}

impl Pki {
    /// A new CA and a collector certificate it signs for `names` (DNS names
    /// or IP addresses, the latter as IP SANs).
    pub(crate) fn new(names: &[&str]) -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("Dapple test CA {n}"));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &*ca)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Pki {
            ca_pem: ca.pem(),
            server: Arc::new(server),
        }
    }

    /// The CA certificate in a file of its own.
    pub(crate) fn ca_file(&self) -> TempFile {
        TempFile::new(self.ca_pem.as_bytes())
    }
}

/// A file removed when dropped.
pub(crate) struct TempFile(PathBuf);

impl TempFile {
    pub(crate) fn new(contents: &[u8]) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "dapple-tls-test-{}-{}.pem",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A socket that keeps a copy of every byte read from it: what a
/// collector's wire saw, decrypted or not.
struct Tap {
    tcp: TcpStream,
    seen: Vec<u8>,
}

impl Read for Tap {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.tcp.read(buf)?;
        self.seen.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl Write for Tap {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// What a test collector received.
#[derive(Debug, Default)]
pub(crate) struct Received {
    /// Connections accepted.
    pub(crate) connections: usize,
    /// The token of every hello.
    pub(crate) tokens: Vec<String>,
    /// The names of the spans in the batches.
    pub(crate) spans: Vec<String>,
    /// Every byte read off the wire, as it travelled.
    pub(crate) wire: Vec<u8>,
}

/// A native collector on 127.0.0.1 until `spans` spans arrived or `run`
/// passed, acknowledging every batch; over TLS with `tls`; refusing with an
/// Error frame a hello without `token`, when given.
pub(crate) fn native_collector(
    tls: Option<Arc<rustls::ServerConfig>>,
    token: Option<&'static str>,
    spans: usize,
    run: Duration,
) -> (SocketAddr, JoinHandle<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + run;
    let serve = move || {
        let mut received = Received::default();
        while received.spans.len() < spans && Instant::now() < deadline {
            let tcp = match listener.accept() {
                Ok((tcp, _)) => tcp,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                Err(e) => panic!("accept: {e}"),
            };
            received.connections += 1;
            tcp.set_nonblocking(false).unwrap();
            tcp.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            let tap = Tap {
                tcp,
                seen: Vec::new(),
            };
            let seen = match &tls {
                Some(config) => {
                    let connection = rustls::ServerConnection::new(config.clone()).unwrap();
                    let stream = rustls::StreamOwned::new(connection, tap);
                    let mut reader = FrameReader::new(stream, proto::DEFAULT_MAX_FRAME_BYTES);
                    serve_connection(&mut reader, token, spans, deadline, &mut received);
                    let mut rest = reader.get_mut().sock.tcp.try_clone().unwrap();
                    let mut seen = std::mem::take(&mut reader.get_mut().sock.seen);
                    read_rest(&mut rest, &mut seen);
                    seen
                }
                None => {
                    let mut reader = FrameReader::new(tap, proto::DEFAULT_MAX_FRAME_BYTES);
                    serve_connection(&mut reader, token, spans, deadline, &mut received);
                    std::mem::take(&mut reader.get_mut().seen)
                }
            };
            received.wire.extend(seen);
        }
        received
    };
    (address, std::thread::spawn(serve))
}

/// Whatever else the client sent on a connection given up on.
fn read_rest(tcp: &mut TcpStream, seen: &mut Vec<u8>) {
    let mut chunk = [0; 4096];
    while let Ok(n @ 1..) = tcp.read(&mut chunk) {
        seen.extend_from_slice(&chunk[..n]);
    }
}

/// Serves one connection until it closes or fails.
fn serve_connection<S: Read + Write>(
    reader: &mut FrameReader<S>,
    token: Option<&str>,
    spans: usize,
    deadline: Instant,
    received: &mut Received,
) {
    while received.spans.len() < spans && Instant::now() < deadline {
        let frame = match reader.read_frame() {
            Ok(Some(frame)) => frame,
            Err(FrameError::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            // Closed, or the handshake failed.
            Ok(None) | Err(_) => return,
        };
        let answer = match frame.kind {
            Some(frame::Kind::Hello(hello)) => {
                let refused = token.is_some_and(|t| t != hello.token);
                received.tokens.push(hello.token);
                if !refused {
                    continue;
                }
                frame::Kind::Error(proto::Error {
                    message: "wrong or missing ingest token".to_owned(),
                })
            }
            Some(frame::Kind::Batch(batch)) => {
                received
                    .spans
                    .extend(batch.spans.into_iter().map(|span| span.name));
                frame::Kind::Ack(proto::Ack {
                    sequence: batch.sequence,
                })
            }
            _ => continue,
        };
        let refused = matches!(answer, frame::Kind::Error(_));
        let written = proto::write_frame(reader.get_mut(), &Frame { kind: Some(answer) })
            .and_then(|()| reader.get_mut().flush());
        if written.is_err() {
            return;
        }
        if refused {
            // Reads on until the client hangs up, so that closing with its
            // batches unread does not reset the connection under the Error
            // frame.
            while Instant::now() < deadline {
                match reader.read_frame() {
                    Ok(Some(_)) => {}
                    Err(FrameError::Io(e))
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) => {}
                    Ok(None) | Err(_) => return,
                }
            }
            return;
        }
    }
}

/// An OTLP/HTTP request as a test endpoint saw it.
#[derive(Debug, Default)]
pub(crate) struct Request {
    /// The request line and headers.
    pub(crate) head: String,
    /// The body.
    pub(crate) body: Vec<u8>,
}

impl Request {
    /// The value of the header `name`.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }
}

/// An HTTP/1.1 endpoint over TLS on 127.0.0.1 that answers one request
/// with `status` and an empty body, and hands the request back; `None` when
/// no request arrived within `run`.
pub(crate) fn https_endpoint(
    tls: Arc<rustls::ServerConfig>,
    status: u16,
    run: Duration,
) -> (SocketAddr, JoinHandle<Option<Request>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + run;
    let serve = move || {
        while Instant::now() < deadline {
            let tcp = match listener.accept() {
                Ok((tcp, _)) => tcp,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                Err(e) => panic!("accept: {e}"),
            };
            tcp.set_nonblocking(false).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let connection = rustls::ServerConnection::new(tls.clone()).unwrap();
            let mut stream = rustls::StreamOwned::new(connection, tcp);
            if let Some(request) = read_request(&mut stream) {
                let answer = format!(
                    "HTTP/1.1 {status} Whatever\r\ncontent-type: application/x-protobuf\r\n\
                     content-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = stream.write_all(answer.as_bytes());
                let _ = stream.flush();
                stream.conn.send_close_notify();
                let _ = stream.flush();
                return Some(request);
            }
        }
        None
    };
    (address, std::thread::spawn(serve))
}

/// One HTTP/1.1 request with a `content-length` body.
fn read_request(stream: &mut impl Read) -> Option<Request> {
    let mut bytes = Vec::new();
    let mut chunk = [0; 4096];
    let head_end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
        bytes.extend_from_slice(&chunk[..n]);
    };
    let mut request = Request {
        head: String::from_utf8_lossy(&bytes[..head_end]).into_owned(),
        body: Vec::new(),
    };
    let length: usize = request.header("content-length")?.parse().ok()?;
    while bytes.len() < head_end + length {
        let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
        bytes.extend_from_slice(&chunk[..n]);
    }
    request.body = bytes[head_end..head_end + length].to_vec();
    Some(request)
}
