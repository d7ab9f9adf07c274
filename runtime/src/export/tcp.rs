//! Sends batches to the collector over the native protocol, from the
//! reporter thread: keeps every batch until the collector acknowledges it,
//! reconnects with exponential backoff and jitter, and re-sends what was not
//! acknowledged. The collector ignores span ids it already has, so a re-send
//! never doubles a span.

use std::collections::VecDeque;
use std::io::{ErrorKind, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dapple_proto::{self as proto, Frame, FrameError, FrameReader, frame};

use crate::export::{Exporter, encode};
use crate::local::buffer::SpanBatch;

const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// Spans gathered into one frame at most (frames over the size limit are
/// split anyway).
const GATHER_LIMIT: usize = 8192;
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A batch sent or to send, until acknowledged.
struct Pending {
    sequence: u64,
    frame: Vec<u8>,
    spans: u64,
    /// The drop count this frame carries to the collector.
    carried_dropped: u64,
    sent: bool,
}

/// The reporter's connection to a collector.
pub struct TcpExporter {
    address: String,
    hello: Vec<u8>,
    max_frame_bytes: usize,
    max_unacked_bytes: usize,
    /// The connection; acknowledgements are read through the frame reader.
    stream: Option<FrameReader<TcpStream>>,
    next_sequence: u64,
    unacked: VecDeque<Pending>,
    unacked_bytes: usize,
    dropped_since_last_batch: u64,
    /// Spans this exporter dropped, shared with `dapple::dropped_spans`.
    dropped_total: Arc<AtomicU64>,
    /// Spans of the batches exported since the reporter last drained, sent
    /// together: one frame, one acknowledgement, one store transaction.
    gathered: Vec<proto::Span>,
    backoff: Duration,
    next_attempt: Instant,
}

impl std::fmt::Debug for TcpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpExporter")
            .field("address", &self.address)
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
        let mut hello = Vec::new();
        proto::encode_frame(
            &Frame {
                kind: Some(frame::Kind::Hello(proto::Hello {
                    protocol_version: proto::PROTOCOL_VERSION,
                    resource: Some(resource),
                })),
            },
            &mut hello,
        );
        TcpExporter {
            address: address.into(),
            hello,
            max_frame_bytes,
            max_unacked_bytes,
            stream: None,
            next_sequence: 1,
            unacked: VecDeque::new(),
            unacked_bytes: 0,
            dropped_since_last_batch: 0,
            dropped_total: Arc::new(AtomicU64::new(0)),
            gathered: Vec::new(),
            backoff: MIN_BACKOFF,
            next_attempt: Instant::now(),
        }
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

    /// Encodes spans as one or more frames under the size limit.
    fn enqueue(&mut self, spans: Vec<proto::Span>) {
        let count = spans.len() as u64;
        let batch = Frame {
            kind: Some(frame::Kind::Batch(proto::Batch {
                sequence: self.next_sequence,
                spans,
                dropped_spans: self.dropped_since_last_batch,
                resource: None,
            })),
        };
        let size = proto::encoded_frame_len(&batch);
        if size > self.max_frame_bytes {
            if let Some(frame::Kind::Batch(mut batch)) = batch.kind {
                if batch.spans.len() <= 1 {
                    self.drop_spans(count);
                    return;
                }
                let second = batch.spans.split_off(batch.spans.len() / 2);
                self.enqueue(batch.spans);
                self.enqueue(second);
            }
            return;
        }
        let mut frame = Vec::with_capacity(size);
        proto::encode_frame(&batch, &mut frame);
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
        }
    }

    fn disconnect(&mut self) {
        self.stream = None;
        for pending in &mut self.unacked {
            pending.sent = false;
        }
    }

    fn connect(&mut self) {
        if self.stream.is_some() || Instant::now() < self.next_attempt {
            return;
        }
        let stream = self
            .address
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .and_then(|addr| TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).ok());
        let hello_sent = stream.and_then(|mut s| {
            s.set_nodelay(true).ok()?;
            s.set_write_timeout(Some(WRITE_TIMEOUT)).ok()?;
            s.write_all(&self.hello).ok()?;
            Some(s)
        });
        match hello_sent {
            Some(stream) => {
                self.stream = Some(FrameReader::new(stream, self.max_frame_bytes));
                self.backoff = MIN_BACKOFF;
            }
            None => {
                // Exponential backoff with up to 25% jitter, so that many
                // processes do not reconnect in step.
                let jitter = crate::rand::next_u64() % (self.backoff.as_millis() as u64 / 4 + 1);
                self.next_attempt = Instant::now() + self.backoff + Duration::from_millis(jitter);
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    fn send(&mut self) {
        let Some(stream) = self.stream.as_mut().map(FrameReader::get_mut) else {
            return;
        };
        // Reads poll without blocking; writes must block (up to the write
        // timeout) rather than fail on a full socket buffer.
        let mut failed = stream.set_nonblocking(false).is_err();
        for pending in self.unacked.iter_mut().filter(|p| !p.sent) {
            if stream.write_all(&pending.frame).is_err() {
                failed = true;
                break;
            }
            pending.sent = true;
        }
        if failed {
            self.disconnect();
        }
    }

    /// Reads what the collector said, waiting up to `wait` for its first
    /// frame.
    fn receive(&mut self, wait: Option<Duration>) {
        let Some(stream) = self.stream.as_ref().map(FrameReader::get_ref) else {
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
            if std::mem::take(&mut waiting) && stream.get_ref().set_nonblocking(true).is_err() {
                self.disconnect();
                return;
            }
            match frame.kind {
                Some(frame::Kind::Ack(ack)) => {
                    let acked = self.unacked.iter().position(|p| p.sequence == ack.sequence);
                    if let Some(done) = acked.and_then(|at| self.unacked.remove(at)) {
                        self.unacked_bytes -= done.frame.len();
                    }
                }
                Some(frame::Kind::Error(_)) | None => {
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
        if self.stream.is_some() && self.dropped_since_last_batch > 0 {
            self.enqueue(Vec::new());
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
        // One converter for the batch: taking one locks.
        let clock = crate::clock::converter();
        self.gathered.extend(
            batch
                .spans()
                .iter()
                .map(|record| encode::span(record, &clock)),
        );
        // The records go back to the pools now; only the wire form is kept.
        drop(batch);
        if self.gathered.len() >= GATHER_LIMIT {
            self.drained();
        }
    }

    fn drained(&mut self) {
        if !self.gathered.is_empty() {
            let spans = std::mem::take(&mut self.gathered);
            self.enqueue(spans);
        }
        self.pump(None);
    }

    fn dropped(&mut self, spans: u64) {
        self.dropped_since_last_batch += spans;
    }

    fn tick(&mut self) {
        if !self.unacked.is_empty() || self.stream.is_some() {
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
                    std::thread::sleep(pause.clamp(Duration::from_millis(1), left));
                    continue;
                }
            }
            self.carry_drops();
            self.send();
            self.receive(Some(left.min(Duration::from_millis(50))));
        }
    }
}
