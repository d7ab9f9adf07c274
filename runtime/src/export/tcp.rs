//! Sends batches to the collector over the native protocol, from the
//! reporter thread: keeps every batch until the collector acknowledges it,
//! reconnects with exponential backoff and jitter, and re-sends what was not
//! acknowledged. The collector ignores span ids it already has, so a re-send
//! never doubles a span. With a token, the hello carries it; with TLS, the
//! connection is checked against the given roots before anything is sent.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dapple_proto::{self as proto, Frame, FrameError, FrameReader, frame};

use crate::clock::Converter;
use crate::export::Exporter;
use crate::export::encode;
use crate::export::stream::Stream;
use crate::export::warn::Warnings;
use crate::export::wire::{Fit, FrameBuffer};
use crate::local::buffer::SpanBatch;
use crate::record::SpanRecord;

const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// Spans gathered into one frame at most (frames over the size limit are
/// split anyway).
const GATHER_LIMIT: u64 = 8192;
/// Frame buffers kept for reuse: no more than were ever unacknowledged at
/// once (bounded by `max_unacked_bytes`), up to 64. Each one dropped is
/// grown again, page by page, for a later frame.
const SPARE_FRAMES: usize = 64;
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Traces to keep waiting for the collector at most.
const MAX_KEEPS_WAITING: usize = 4096;

/// Why a connection could not be opened.
enum Failure {
    /// Not reached, or lost at once: nothing to say, the collector may not
    /// be up yet.
    Unreachable,
    /// The TLS handshake failed (an untrusted certificate, a wrong name):
    /// worth saying, it will not get better by itself.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    Tls(io::Error),
}

/// A batch sent or to send, until acknowledged.
struct Pending {
    sequence: u64,
    frame: FrameBuffer,
    spans: u64,
    /// The drop count this frame carries to the collector.
    carried_dropped: u64,
    sent: bool,
}

/// How the exporter checks the collector it connects to.
#[cfg(feature = "tls")]
struct Tls {
    config: Arc<rustls::ClientConfig>,
    server_name: rustls::pki_types::ServerName<'static>,
}

/// The reporter's connection to a collector.
pub struct TcpExporter {
    address: String,
    resource: proto::Resource,
    token: String,
    /// The first frame of every connection: the resource and the token.
    hello: Vec<u8>,
    #[cfg(feature = "tls")]
    tls: Option<Tls>,
    max_frame_bytes: usize,
    max_unacked_bytes: usize,
    /// The connection; acknowledgements are read through the frame reader.
    stream: Option<FrameReader<Stream>>,
    next_sequence: u64,
    unacked: VecDeque<Pending>,
    unacked_bytes: usize,
    dropped_since_last_batch: u64,
    /// Spans this exporter dropped, shared with `dapple::dropped_spans`.
    dropped_total: Arc<AtomicU64>,
    /// Spans of the batches exported since the reporter last drained,
    /// already encoded as batch entries, sent together: one frame, one
    /// acknowledgement, one store transaction.
    gathered: FrameBuffer,
    gathered_spans: u64,
    /// A span moved to the next frame when the current one is full.
    scratch: Vec<u8>,
    /// Frame buffers of acknowledged batches, for the next frames.
    spare: Vec<FrameBuffer>,
    backoff: Duration,
    next_attempt: Instant,
    warnings: Warnings,
    /// Traces this process triggered keeping (retroactive sampling), for
    /// the collector to tell the other processes; sent as soon as
    /// connected, never acknowledged.
    keeps: VecDeque<proto::KeptTrace>,
}

impl std::fmt::Debug for TcpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[cfg(feature = "tls")]
        let tls = self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let tls = false;
        f.debug_struct("TcpExporter")
            .field("address", &self.address)
            .field("tls", &tls)
            .field("connected", &self.stream.is_some())
            .field("unacked", &self.unacked.len())
            .finish()
    }
}

impl TcpExporter {
    /// An exporter to the collector at `address` (`host:port`), for the
    /// process described by `resource`. It keeps at most
    /// `max_unacked_bytes` of unacknowledged frames, dropping the oldest.
    pub fn new(
        address: impl Into<String>,
        resource: proto::Resource,
        max_frame_bytes: usize,
        max_unacked_bytes: usize,
    ) -> TcpExporter {
        let mut exporter = TcpExporter {
            address: address.into(),
            resource,
            token: String::new(),
            hello: Vec::new(),
            #[cfg(feature = "tls")]
            tls: None,
            max_frame_bytes,
            max_unacked_bytes,
            stream: None,
            next_sequence: 1,
            unacked: VecDeque::new(),
            unacked_bytes: 0,
            dropped_since_last_batch: 0,
            dropped_total: Arc::new(AtomicU64::new(0)),
            gathered: encode::new_frame(),
            gathered_spans: 0,
            scratch: Vec::new(),
            spare: Vec::new(),
            backoff: MIN_BACKOFF,
            next_attempt: Instant::now(),
            warnings: Warnings::default(),
            keeps: VecDeque::new(),
        };
        exporter.encode_hello();
        exporter
    }

    /// Presents `token` to the collector (one of those in its
    /// `--ingest-token-file`) in the hello of every connection.
    pub fn with_token(mut self, token: impl Into<String>) -> TcpExporter {
        self.token = token.into();
        self.encode_hello();
        self
    }

    /// Connects over TLS, checking the collector's certificate with
    /// `config` (its roots: the CA that signed the collector's
    /// certificate) for `server_name` (the host of the address, a DNS name
    /// or an IP address). Nothing is sent before the handshake succeeded.
    #[cfg(feature = "tls")]
    pub fn with_tls(
        mut self,
        config: Arc<rustls::ClientConfig>,
        server_name: rustls::pki_types::ServerName<'static>,
    ) -> TcpExporter {
        self.tls = Some(Tls {
            config,
            server_name,
        });
        self
    }

    fn encode_hello(&mut self) {
        self.hello.clear();
        proto::encode_frame(
            &Frame {
                kind: Some(frame::Kind::Hello(proto::Hello {
                    protocol_version: proto::PROTOCOL_VERSION,
                    resource: Some(self.resource.clone()),
                    token: self.token.clone(),
                })),
            },
            &mut self.hello,
        );
    }

    /// Spans dropped so far because unacknowledged frames passed the bound
    /// or a single span was larger than a frame may be.
    pub fn dropped_spans(&self) -> u64 {
        self.dropped_total.load(Ordering::Relaxed)
    }

    /// The count behind [`dropped_spans`](Self::dropped_spans), readable
    /// after the exporter moved to the reporter thread.
    pub(crate) fn dropped_counter(&self) -> Arc<AtomicU64> {
        self.dropped_total.clone()
    }

    /// Spans not yet acknowledged.
    pub fn unacked_spans(&self) -> u64 {
        self.unacked.iter().map(|p| p.spans).sum()
    }

    fn drop_spans(&mut self, spans: u64) {
        self.dropped_since_last_batch += spans;
        self.dropped_total.fetch_add(spans, Ordering::Relaxed);
    }

    /// Sends what was gathered as one batch frame (none gathered: a frame
    /// that only carries the drop count). The entries are not copied: the
    /// gathering buffer becomes the frame, and a spare one the next
    /// gathering buffer.
    fn enqueue(&mut self) {
        // The roomiest spare: buffers grow only past every size seen before.
        let roomiest = (0..self.spare.len()).max_by_key(|&at| self.spare[at].capacity());
        let next = roomiest.map_or_else(encode::new_frame, |at| self.spare.swap_remove(at));
        let mut frame = std::mem::replace(&mut self.gathered, next);
        encode::finish(
            &mut frame,
            self.next_sequence,
            self.dropped_since_last_batch,
        );
        let count = std::mem::take(&mut self.gathered_spans);
        let carried_dropped = std::mem::take(&mut self.dropped_since_last_batch);
        self.unacked_bytes += frame.len();
        self.unacked.push_back(Pending {
            sequence: self.next_sequence,
            frame,
            spans: count,
            carried_dropped,
            sent: false,
        });
        self.next_sequence += 1;
        while self.unacked_bytes > self.max_unacked_bytes {
            let Some(oldest) = self.unacked.pop_front() else {
                break;
            };
            self.unacked_bytes -= oldest.frame.len();
            // Its count must still reach the collector, with its own spans.
            self.dropped_since_last_batch += oldest.carried_dropped;
            self.drop_spans(oldest.spans);
            self.recycle(oldest.frame);
        }
    }

    /// Keeps a sent frame's buffer for a later frame.
    fn recycle(&mut self, mut frame: FrameBuffer) {
        if self.spare.len() < SPARE_FRAMES && frame.capacity() <= 2 * self.max_frame_bytes {
            frame.reset();
            self.spare.push(frame);
        }
    }

    /// Encodes one span after those gathered, sending the gathered ones
    /// first when the frame would grow past its limit.
    fn gather(&mut self, record: &SpanRecord, clock: &Converter) {
        let limit = self.max_frame_bytes.saturating_sub(encode::FRAME_OVERHEAD);
        let fit = self.gathered.push_within(limit, &mut self.scratch, |out| {
            encode::write_span(out, record, clock);
        });
        match fit {
            Fit::Fits => {}
            // No frame can carry it.
            Fit::TooLarge => return self.drop_spans(1),
            Fit::Spilled => {
                // Send those before it, then keep it as the first of the next.
                self.enqueue();
                self.gathered.extend(&self.scratch);
            }
        }
        self.gathered_spans += 1;
    }

    /// Drops the connection; the next attempt waits its turn, so that a
    /// collector that closes every connection (a refused token, a restart)
    /// is not called again at once, over and over.
    fn disconnect(&mut self) {
        self.stream = None;
        for pending in &mut self.unacked {
            pending.sent = false;
        }
        self.back_off();
    }

    /// Puts the next attempt off: exponential backoff with up to 25%
    /// jitter, so that many processes do not reconnect in step. The backoff
    /// starts over once the collector acknowledges a batch.
    fn back_off(&mut self) {
        let jitter = crate::rand::next_u64() % (self.backoff.as_millis() as u64 / 4 + 1);
        self.next_attempt = Instant::now() + self.backoff + Duration::from_millis(jitter);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    fn connect(&mut self) {
        if self.stream.is_some() || Instant::now() < self.next_attempt {
            return;
        }
        match self.open() {
            Ok(stream) => self.stream = Some(FrameReader::new(stream, self.max_frame_bytes)),
            Err(failure) => {
                if let Failure::Tls(e) = failure {
                    let address = &self.address;
                    self.warnings.warn(format_args!(
                        "TLS with the collector at {address} failed: {e}"
                    ));
                }
                self.back_off();
            }
        }
    }

    /// A connection to the collector that was sent the hello.
    fn open(&self) -> Result<Stream, Failure> {
        let addr = self
            .address
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or(Failure::Unreachable)?;
        let tcp =
            TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|_| Failure::Unreachable)?;
        tcp.set_nodelay(true).map_err(|_| Failure::Unreachable)?;
        tcp.set_write_timeout(Some(WRITE_TIMEOUT))
            .map_err(|_| Failure::Unreachable)?;
        #[cfg(feature = "tls")]
        let mut stream = match &self.tls {
            None => Stream::Plain(tcp),
            Some(tls) => {
                tcp.set_read_timeout(Some(WRITE_TIMEOUT))
                    .map_err(|_| Failure::Unreachable)?;
                Stream::handshake(
                    tcp,
                    tls.config.clone(),
                    tls.server_name.clone(),
                    Instant::now() + WRITE_TIMEOUT,
                )
                .map_err(Failure::Tls)?
            }
        };
        #[cfg(not(feature = "tls"))]
        let mut stream = Stream::Plain(tcp);
        stream
            .write_all(&self.hello)
            .map_err(|_| Failure::Unreachable)?;
        Ok(stream)
    }

    /// The collector refused this connection (a wrong or missing token):
    /// says why, now and then, and waits before trying again.
    fn refused(&mut self, why: &str) {
        let address = &self.address;
        // What the collector says, as plain text of a reasonable length.
        let why: String = why.chars().filter(|c| !c.is_control()).take(200).collect();
        self.warnings.warn(format_args!(
            "the collector at {address} refused the connection: {why}"
        ));
        self.disconnect();
    }

    fn send(&mut self) {
        let Some(stream) = self.stream.as_mut().map(FrameReader::get_mut) else {
            return;
        };
        // Reads poll without blocking; writes must block (up to the write
        // timeout) rather than fail on a full socket buffer.
        let mut failed = stream.tcp().set_nonblocking(false).is_err();
        if !failed && !self.keeps.is_empty() {
            let keep = Frame {
                kind: Some(frame::Kind::Keep(proto::Keep {
                    traces: std::mem::take(&mut self.keeps).into(),
                })),
            };
            let mut bytes = Vec::with_capacity(proto::encoded_frame_len(&keep));
            proto::encode_frame(&keep, &mut bytes);
            failed = stream.write_all(&bytes).is_err();
        }
        for pending in self.unacked.iter_mut().filter(|p| !p.sent && !failed) {
            if stream.write_all(pending.frame.message()).is_err() {
                failed = true;
                break;
            }
            pending.sent = true;
        }
        if failed {
            // A collector that refuses the connection says why and closes
            // it: read what it said before the connection goes.
            self.receive(None);
            if self.stream.is_some() {
                self.disconnect();
            }
        }
    }

    /// Reads what the collector said, waiting up to `wait` for its first
    /// frame.
    fn receive(&mut self, wait: Option<Duration>) {
        let Some(stream) = self.stream.as_ref().map(|s| s.get_ref().tcp()) else {
            return;
        };
        let setup = match wait {
            Some(wait) => stream
                .set_nonblocking(false)
                .and_then(|()| stream.set_read_timeout(Some(wait.max(Duration::from_millis(1))))),
            None => stream.set_nonblocking(true),
        };
        if setup.is_err() {
            self.disconnect();
            return;
        }
        let mut waiting = wait.is_some();
        loop {
            let Some(stream) = &mut self.stream else {
                return;
            };
            let frame = match stream.read_frame() {
                Ok(Some(frame)) => frame,
                // Nothing more has arrived yet.
                Err(FrameError::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return;
                }
                // Closed, failed, or not speaking the protocol.
                Ok(None) | Err(_) => {
                    self.disconnect();
                    return;
                }
            };
            // Once something arrived, take the rest without waiting again.
            if std::mem::take(&mut waiting) && stream.get_ref().tcp().set_nonblocking(true).is_err()
            {
                self.disconnect();
                return;
            }
            match frame.kind {
                Some(frame::Kind::Ack(ack)) => {
                    let acked = self.unacked.iter().position(|p| p.sequence == ack.sequence);
                    if let Some(done) = acked.and_then(|at| self.unacked.remove(at)) {
                        self.unacked_bytes -= done.frame.len();
                        self.recycle(done.frame);
                    }
                    // The collector takes what this connection sends.
                    self.backoff = MIN_BACKOFF;
                }
                Some(frame::Kind::Error(error)) => {
                    self.refused(&error.message);
                    return;
                }
                // Another process triggered these traces: send what the
                // ring holds of them.
                Some(frame::Kind::Keep(keep)) => {
                    for kept in keep.traces {
                        let id = <[u8; 16]>::try_from(kept.trace_id.as_slice())
                            .ok()
                            .and_then(crate::TraceId::from_bytes);
                        if let Some(id) = id {
                            crate::sampling::ask_to_keep(id, crate::sampling::Origin::Elsewhere);
                        }
                    }
                }
                None => {
                    self.disconnect();
                    return;
                }
                Some(_) => {}
            }
        }
    }

    /// Once connected, tells the collector what was lost without waiting for
    /// a batch to carry it: none may follow.
    fn carry_drops(&mut self) {
        if self.stream.is_some() && self.dropped_since_last_batch > 0 && self.gathered_spans == 0 {
            self.enqueue();
        }
    }

    fn pump(&mut self, wait: Option<Duration>) {
        self.connect();
        self.carry_drops();
        self.send();
        self.receive(wait);
    }
}

impl Exporter for TcpExporter {
    fn export(&mut self, batch: SpanBatch) {
        // One converter for the batch.
        let clock = crate::clock::converter();
        for record in batch.spans() {
            self.gather(record, &clock);
        }
        // The records go back to the pools now; only the wire form is kept.
        drop(batch);
        if self.gathered_spans >= GATHER_LIMIT {
            self.drained();
        }
    }

    fn drained(&mut self) {
        if self.gathered_spans > 0 {
            self.enqueue();
        }
        self.pump(None);
    }

    fn dropped(&mut self, spans: u64) {
        self.dropped_since_last_batch += spans;
    }

    fn keep(&mut self, traces: &[(crate::TraceId, &'static str)]) {
        // While the collector is away, the latest asks wait: they matter
        // only while the other processes' rings still hold the traces.
        for (trace, reason) in traces {
            if self.keeps.len() == MAX_KEEPS_WAITING {
                self.keeps.pop_front();
            }
            self.keeps.push_back(proto::KeptTrace {
                trace_id: trace.to_bytes().to_vec(),
                reason: (*reason).to_owned(),
            });
        }
    }

    fn is_idle(&self) -> bool {
        self.unacked.is_empty()
            && self.gathered_spans == 0
            && self.dropped_since_last_batch == 0
            && self.keeps.is_empty()
    }

    fn tick(&mut self) {
        if !self.unacked.is_empty() || self.stream.is_some() || !self.keeps.is_empty() {
            self.pump(None);
        }
    }

    fn flush(&mut self, deadline: Instant) -> u64 {
        self.drained();
        loop {
            let now = Instant::now();
            let done = self.unacked.is_empty() && self.dropped_since_last_batch == 0;
            if done || now >= deadline {
                return self.unacked_spans();
            }
            let left = deadline - now;
            if self.stream.is_none() {
                self.connect();
                if self.stream.is_none() {
                    let pause = self.next_attempt.saturating_duration_since(now);
                    // At least a millisecond, but never past the deadline
                    // (`clamp` panics when less than a millisecond is left).
                    std::thread::sleep(pause.max(Duration::from_millis(1)).min(left));
                    continue;
                }
            }
            self.carry_drops();
            self.send();
            self.receive(Some(left.min(Duration::from_millis(50))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Span;
    use prost::Message;

    #[test]
    fn a_full_frame_goes_out_and_the_next_span_starts_the_next_one() {
        let sink = crate::memory::test_sink();
        for i in 0..20 {
            let mut span = Span::root("split");
            span.set_attribute("i", i64::from(i));
        }
        let records = sink.named("split");
        assert_eq!(records.len(), 20);
        // Nothing listens at port 9: the frames stay unacknowledged, to read.
        let mut exporter =
            TcpExporter::new("127.0.0.1:9", proto::Resource::default(), 600, 1 << 20);
        exporter.export(SpanBatch::new(records));
        exporter.drained();
        assert!(
            exporter.unacked.len() > 2,
            "{} frames",
            exporter.unacked.len()
        );
        let mut spans = 0;
        for (n, pending) in exporter.unacked.iter().enumerate() {
            let bytes = pending.frame.message();
            assert!(bytes.len() <= 600, "frame of {} bytes", bytes.len());
            let frame = Frame::decode_length_delimited(bytes).unwrap();
            let Some(frame::Kind::Batch(batch)) = frame.kind else {
                panic!("not a batch");
            };
            assert_eq!(batch.sequence, n as u64 + 1);
            assert_eq!(batch.spans.len() as u64, pending.spans);
            spans += batch.spans.len();
        }
        assert_eq!(spans, 20, "every span in exactly one frame");
        assert_eq!(exporter.dropped_spans(), 0);
    }

    #[test]
    fn the_hello_carries_the_token() {
        let exporter =
            TcpExporter::new("127.0.0.1:9", proto::Resource::default(), 1 << 20, 1 << 20)
                .with_token("s3cret-t0ken");
        let hello = Frame::decode_length_delimited(exporter.hello.as_slice()).unwrap();
        let Some(frame::Kind::Hello(hello)) = hello.kind else {
            panic!("not a hello");
        };
        assert_eq!(hello.token, "s3cret-t0ken");
        assert_eq!(hello.protocol_version, proto::PROTOCOL_VERSION);
    }

    #[cfg(feature = "tls")]
    mod tls {
        use super::*;
        use crate::export::tls::{CaCertificates, server_name};
        use crate::export::tls_testing::{Pki, native_collector, patience};

        const TOKEN: &str = "s3cret-t0ken";

        /// `count` spans named `name`, recorded now.
        fn spans(name: &str, count: usize) -> SpanBatch {
            let sink = crate::memory::test_sink();
            for _ in 0..count {
                drop(Span::root(name.to_owned()));
            }
            SpanBatch::new(sink.named(name))
        }

        /// An exporter to `address` over TLS trusting `ca`, with the token.
        fn exporter(address: &str, ca: &Pki) -> TcpExporter {
            let ca = CaCertificates::load(ca.ca_file().path()).unwrap();
            TcpExporter::new(address, proto::Resource::default(), 1 << 20, 1 << 20)
                .with_token(TOKEN)
                .with_tls(ca.client_config.clone(), server_name(address).unwrap())
        }

        fn contains(haystack: &[u8], needle: &[u8]) -> bool {
            haystack.windows(needle.len()).any(|w| w == needle)
        }

        #[test]
        fn spans_reach_a_tls_collector_with_the_token_in_the_hello() {
            // An IP address endpoint: the certificate names it as an IP SAN.
            let pki = Pki::new(&["127.0.0.1"]);
            let (address, collector) = native_collector(
                Some(pki.server.clone()),
                Some(TOKEN),
                3,
                Duration::from_secs(20),
            );
            let mut exporter = exporter(&address.to_string(), &pki);
            exporter.export(spans("over-tls", 3));
            let undelivered = exporter.flush(Instant::now() + Duration::from_secs(10));
            let received = collector.join().unwrap();
            assert_eq!(undelivered, 0, "{received:?}");
            assert_eq!(received.tokens, [TOKEN]);
            assert_eq!(received.spans, ["over-tls"; 3]);
            assert!(
                !contains(&received.wire, TOKEN.as_bytes()),
                "the token is encrypted"
            );
            assert!(
                !contains(&received.wire, b"over-tls"),
                "the spans are encrypted"
            );
        }

        #[test]
        fn a_collector_whose_certificate_the_ca_did_not_sign_gets_nothing() {
            let trusted = Pki::new(&["127.0.0.1"]);
            let impostor = Pki::new(&["127.0.0.1"]);
            // Signed by the CA, for another name.
            let misnamed = Pki::new(&["collector.internal"]);
            for (n, (server, ca)) in [(&impostor, &trusted), (&misnamed, &misnamed)]
                .into_iter()
                .enumerate()
            {
                let name = format!("untrusted-{n}");
                let (address, collector) = native_collector(
                    Some(server.server.clone()),
                    None,
                    1,
                    patience(Duration::from_secs(2)),
                );
                let mut exporter = exporter(&address.to_string(), ca);
                exporter.export(spans(&name, 2));
                let undelivered = exporter.flush(Instant::now() + patience(Duration::from_secs(1)));
                let received = collector.join().unwrap();
                assert_eq!(undelivered, 2);
                assert!(received.connections >= 1, "it tried");
                assert!(received.tokens.is_empty() && received.spans.is_empty());
                assert!(
                    !contains(&received.wire, TOKEN.as_bytes()),
                    "nothing in clear"
                );
                assert!(
                    !contains(&received.wire, name.as_bytes()),
                    "nothing in clear"
                );
                let said = exporter.warnings.said.clone().expect("it said why");
                assert!(
                    said.contains("TLS") && said.contains("certificate"),
                    "{said}"
                );
                assert!(exporter.stream.is_none());
            }
        }

        #[test]
        fn a_refused_token_is_said_and_retried_with_backoff_not_at_once() {
            let pki = Pki::new(&["127.0.0.1"]);
            let (address, collector) = native_collector(
                Some(pki.server.clone()),
                Some("another-token"),
                usize::MAX,
                Duration::from_millis(1500),
            );
            let mut exporter = exporter(&address.to_string(), &pki);
            exporter.export(spans("refused", 2));
            let undelivered = exporter.flush(Instant::now() + Duration::from_secs(1));
            let received = collector.join().unwrap();
            assert_eq!(undelivered, 2);
            assert!(received.spans.is_empty());
            // Backing off from 50 ms, doubling: about 5 attempts in a second;
            // reconnecting at once would make hundreds.
            assert!(
                (2..=8).contains(&received.connections),
                "{} connections",
                received.connections
            );
            assert!(received.tokens.iter().all(|t| t == TOKEN));
            let said = exporter.warnings.said.clone().expect("it said why");
            assert!(said.contains("refused") && said.contains("token"), "{said}");
            assert!(exporter.backoff > MIN_BACKOFF);
        }
    }
}
