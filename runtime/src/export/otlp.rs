//! Sends batches to an OTLP endpoint from the reporter thread, over
//! OTLP/HTTP (`POST .../v1/traces`, binary protobuf) or, with the
//! `otlp-grpc` feature, OTLP/gRPC: the same bounded memory and counted drops
//! as the native exporter; retries with exponential backoff on answers
//! worth retrying (HTTP 429, 502, 503, 504, honouring `Retry-After`; gRPC
//! UNAVAILABLE and the like) and on lost connections, and never on others
//! (a 400 will not get better). `https://` endpoints need the `tls` feature;
//! they are checked against the CA file given to `init`, else against
//! Mozilla's roots (webpki-roots).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::clock::Converter;
use crate::export::Exporter;
use crate::export::otlp_encode::{self, Preamble};
use crate::export::tls::CaCertificates;
use crate::export::warn::Warnings;
use crate::export::wire::{Fit, FrameBuffer};
use crate::local::buffer::SpanBatch;
use crate::record::SpanRecord;

/// Spans gathered into one request at most.
const GATHER_LIMIT: u64 = 8192;
/// Request buffers kept for reuse.
const SPARE_REQUESTS: usize = 16;
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The most response body read (an `ExportTraceServiceResponse`).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// A request waiting to be sent, or to be sent again.
struct Pending {
    body: FrameBuffer,
    spans: u64,
}

/// What one attempt came to.
pub(super) enum Outcome {
    /// Delivered; the endpoint refused this many spans in it (partial
    /// success).
    Delivered { rejected: u64 },
    /// Worth trying again, not before the given delay (`Retry-After`).
    Retry(Option<Duration>),
    /// TLS failed (an untrusted certificate, a wrong name): tried again
    /// later, and worth saying. Why, in words.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    Untrusted(String),
    /// Will not get better (400, 401, 404, 413, 500, ...): dropped. The
    /// answer, in words.
    Refused(String),
}

/// How requests reach an endpoint: one attempt at a time, blocking.
pub(super) trait Transport: Send {
    /// One attempt at delivering an encoded `ExportTraceServiceRequest`.
    fn send(&mut self, body: &[u8]) -> Outcome;
    /// Where to, for messages.
    fn endpoint(&self) -> &str;
}

/// The reporter's connection to an OTLP endpoint.
pub struct OtlpExporter {
    transport: Box<dyn Transport>,
    preamble: Preamble,
    max_request_bytes: usize,
    max_pending_bytes: usize,
    gathered: FrameBuffer,
    gathered_spans: u64,
    /// A span moved to the next request when the current one is full.
    scratch: Vec<u8>,
    pending: VecDeque<Pending>,
    pending_bytes: usize,
    spare: Vec<FrameBuffer>,
    backoff: Duration,
    next_attempt: Instant,
    dropped_total: Arc<AtomicU64>,
    warnings: Warnings,
}

impl std::fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("endpoint", &self.transport.endpoint())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl OtlpExporter {
    /// An exporter posting over OTLP/HTTP to `url` (the full traces URL,
    /// e.g. `http://localhost:4318/v1/traces`) with `headers`, for the
    /// process described by `resource` (keys and values; `process.pid` and
    /// the SDK's name are added). Requests carry at most
    /// `max_request_bytes`; at most `max_pending_bytes` of requests wait,
    /// the oldest dropped past it.
    pub fn http(
        url: impl Into<String>,
        headers: Vec<(String, String)>,
        resource: &[(String, String)],
        max_request_bytes: usize,
        max_pending_bytes: usize,
    ) -> OtlpExporter {
        OtlpExporter::http_with_ca(
            url,
            headers,
            None,
            resource,
            max_request_bytes,
            max_pending_bytes,
        )
    }

    /// [`OtlpExporter::http`], `https://` checked against `ca` alone when
    /// given.
    pub(crate) fn http_with_ca(
        url: impl Into<String>,
        headers: Vec<(String, String)>,
        ca: Option<&CaCertificates>,
        resource: &[(String, String)],
        max_request_bytes: usize,
        max_pending_bytes: usize,
    ) -> OtlpExporter {
        let transport = Http::new(url.into(), headers, ca);
        OtlpExporter::with_transport(
            Box::new(transport),
            resource,
            max_request_bytes,
            max_pending_bytes,
        )
    }

    /// An exporter calling OTLP/gRPC's `TraceService/Export` at `endpoint`
    /// (`http://host:4317`) with `headers` as metadata; otherwise as
    /// [`OtlpExporter::http`].
    #[cfg(feature = "otlp-grpc")]
    pub fn grpc(
        endpoint: impl Into<String>,
        headers: Vec<(String, String)>,
        resource: &[(String, String)],
        max_request_bytes: usize,
        max_pending_bytes: usize,
    ) -> std::io::Result<OtlpExporter> {
        OtlpExporter::grpc_with_ca(
            endpoint,
            headers,
            None,
            resource,
            max_request_bytes,
            max_pending_bytes,
        )
    }

    /// [`OtlpExporter::grpc`], `https://` checked against `ca` alone when
    /// given.
    #[cfg(feature = "otlp-grpc")]
    pub(crate) fn grpc_with_ca(
        endpoint: impl Into<String>,
        headers: Vec<(String, String)>,
        ca: Option<&CaCertificates>,
        resource: &[(String, String)],
        max_request_bytes: usize,
        max_pending_bytes: usize,
    ) -> std::io::Result<OtlpExporter> {
        let transport = super::otlp_grpc::Grpc::new(
            endpoint.into(),
            &headers,
            ca,
            CONNECT_TIMEOUT,
            REQUEST_TIMEOUT,
        )?;
        Ok(OtlpExporter::with_transport(
            Box::new(transport),
            resource,
            max_request_bytes,
            max_pending_bytes,
        ))
    }

    fn with_transport(
        transport: Box<dyn Transport>,
        resource: &[(String, String)],
        max_request_bytes: usize,
        max_pending_bytes: usize,
    ) -> OtlpExporter {
        let preamble = Preamble::new(resource, std::process::id());
        OtlpExporter {
            transport,
            gathered: otlp_encode::new_request(&preamble),
            preamble,
            max_request_bytes,
            max_pending_bytes,
            gathered_spans: 0,
            scratch: Vec::new(),
            pending: VecDeque::new(),
            pending_bytes: 0,
            spare: Vec::new(),
            backoff: MIN_BACKOFF,
            next_attempt: Instant::now(),
            dropped_total: Arc::new(AtomicU64::new(0)),
            warnings: Warnings::default(),
        }
    }

    /// Spans dropped so far: past the memory bound, refused by the endpoint,
    /// or alone larger than a request may be.
    pub fn dropped_spans(&self) -> u64 {
        self.dropped_total.load(Ordering::Relaxed)
    }

    /// The count behind [`dropped_spans`](Self::dropped_spans), readable
    /// after the exporter moved to the reporter thread.
    pub(crate) fn dropped_counter(&self) -> Arc<AtomicU64> {
        self.dropped_total.clone()
    }

    /// Spans not yet delivered.
    pub fn pending_spans(&self) -> u64 {
        self.pending.iter().map(|p| p.spans).sum::<u64>() + self.gathered_spans
    }

    fn drop_spans(&mut self, spans: u64) {
        self.dropped_total.fetch_add(spans, Ordering::Relaxed);
    }

    /// Encodes one span after those gathered, queueing the gathered ones
    /// first when the request would grow past its limit.
    fn gather(&mut self, record: &SpanRecord, clock: &Converter) {
        let limit = self.max_request_bytes.saturating_sub(self.preamble.room());
        let fit = self.gathered.push_within(limit, &mut self.scratch, |out| {
            otlp_encode::write_span(out, record, clock);
        });
        match fit {
            Fit::Fits => {}
            Fit::TooLarge => return self.drop_spans(1),
            Fit::Spilled => {
                self.enqueue();
                self.gathered.extend(&self.scratch);
            }
        }
        self.gathered_spans += 1;
    }

    /// Queues what was gathered as one request.
    fn enqueue(&mut self) {
        if self.gathered_spans == 0 {
            return;
        }
        let roomiest = (0..self.spare.len()).max_by_key(|&at| self.spare[at].capacity());
        let next = match roomiest {
            Some(at) => self.spare.swap_remove(at),
            None => otlp_encode::new_request(&self.preamble),
        };
        let mut body = std::mem::replace(&mut self.gathered, next);
        otlp_encode::finish(&mut body, &self.preamble);
        self.pending_bytes += body.len();
        self.pending.push_back(Pending {
            body,
            spans: std::mem::take(&mut self.gathered_spans),
        });
        while self.pending_bytes > self.max_pending_bytes {
            let Some(oldest) = self.pending.pop_front() else {
                break;
            };
            self.drop_spans(oldest.spans);
            self.done(oldest.body);
        }
    }

    /// Forgets a request's buffer, keeping it for a later one.
    fn done(&mut self, mut body: FrameBuffer) {
        self.pending_bytes -= body.len();
        if self.spare.len() < SPARE_REQUESTS && body.capacity() <= 2 * self.max_request_bytes {
            body.reset();
            self.spare.push(body);
        }
    }

    /// Sends waiting requests, oldest first, until one must wait.
    fn send(&mut self) {
        while let Some(front) = self.pending.front() {
            if Instant::now() < self.next_attempt {
                return;
            }
            let outcome = self.transport.send(front.body.message());
            match outcome {
                Outcome::Retry(retry_after) => return self.wait(retry_after),
                Outcome::Untrusted(why) => {
                    let endpoint = self.transport.endpoint();
                    self.warnings.warn(format_args!(
                        "TLS with the OTLP endpoint {endpoint} failed: {why}"
                    ));
                    return self.wait(None);
                }
                Outcome::Delivered { .. } | Outcome::Refused(_) => {}
            }
            let Some(sent) = self.pending.pop_front() else {
                return;
            };
            self.backoff = MIN_BACKOFF;
            match outcome {
                Outcome::Delivered { rejected } => self.drop_spans(rejected.min(sent.spans)),
                Outcome::Refused(why) => {
                    self.drop_spans(sent.spans);
                    let (endpoint, spans) = (self.transport.endpoint(), sent.spans);
                    self.warnings.warn(format_args!(
                        "the OTLP endpoint {endpoint} refused {spans} spans: {why}"
                    ));
                }
                Outcome::Retry(_) | Outcome::Untrusted(_) => {}
            }
            self.done(sent.body);
        }
    }

    /// Backs off before the next attempt: exponentially with up to 25%
    /// jitter, or as long as the endpoint asked when that is longer.
    fn wait(&mut self, retry_after: Option<Duration>) {
        let jitter = crate::rand::next_u64() % (self.backoff.as_millis() as u64 / 4 + 1);
        let backoff = self.backoff + Duration::from_millis(jitter);
        let delay = retry_after.map_or(backoff, |asked| asked.min(MAX_RETRY_AFTER).max(backoff));
        self.next_attempt = Instant::now() + delay;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

/// OTLP/HTTP over ureq.
struct Http {
    url: String,
    headers: Vec<(String, String)>,
    agent: ureq::Agent,
}

impl Http {
    fn new(url: String, headers: Vec<(String, String)>, ca: Option<&CaCertificates>) -> Http {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT));
        #[cfg(feature = "tls")]
        let config = match ca {
            None => config,
            Some(ca) => {
                use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
                let roots: Vec<Certificate<'static>> = ca
                    .certs
                    .iter()
                    .map(|cert| Certificate::from_der(cert.as_ref()).to_owned())
                    .collect();
                config.tls_config(
                    TlsConfig::builder()
                        .provider(TlsProvider::Rustls)
                        .root_certs(RootCerts::new_with_certs(&roots))
                        .build(),
                )
            }
        };
        #[cfg(not(feature = "tls"))]
        if let Some(ca) = ca {
            match *ca {}
        }
        Http {
            url,
            headers,
            agent: config.build().into(),
        }
    }
}

impl Transport for Http {
    fn endpoint(&self) -> &str {
        &self.url
    }

    fn send(&mut self, body: &[u8]) -> Outcome {
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/x-protobuf");
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let mut response = match request.send(body) {
            Ok(response) => response,
            Err(error) => {
                #[cfg(feature = "tls")]
                {
                    let tls = match &error {
                        ureq::Error::Rustls(tls) => Some(tls),
                        ureq::Error::Io(io) => crate::export::tls::tls_failure(io),
                        _ => None,
                    };
                    if let Some(tls) = tls {
                        return Outcome::Untrusted(tls.to_string());
                    }
                }
                let _ = error;
                // Connection refused, reset, timed out: the endpoint may come back.
                return Outcome::Retry(None);
            }
        };
        let status = response.status().as_u16();
        match status {
            200..=299 => {
                let answer = response
                    .body_mut()
                    .with_config()
                    .limit(MAX_RESPONSE_BYTES)
                    .read_to_vec()
                    .unwrap_or_default();
                Outcome::Delivered {
                    rejected: rejected_spans(&answer),
                }
            }
            429 | 502 | 503 | 504 => {
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                Outcome::Retry(retry_after)
            }
            401 => Outcome::Refused("HTTP 401 (is the token right?)".to_owned()),
            _ => Outcome::Refused(format!("HTTP {status}")),
        }
    }
}

/// `ExportTraceServiceResponse.partial_success.rejected_spans`, 0 when the
/// answer is empty or not such a message.
pub(super) fn rejected_spans(mut answer: &[u8]) -> u64 {
    use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};
    let mut rejected = 0;
    while !answer.is_empty() {
        let Ok((tag, wire_type)) = decode_key(&mut answer) else {
            return rejected;
        };
        if tag == 1 && wire_type == WireType::LengthDelimited {
            let Ok(len) = decode_varint(&mut answer) else {
                return rejected;
            };
            let Some((mut partial, rest)) = answer.split_at_checked(len as usize) else {
                return rejected;
            };
            answer = rest;
            while !partial.is_empty() {
                let Ok((tag, wire_type)) = decode_key(&mut partial) else {
                    break;
                };
                if tag == 1 && wire_type == WireType::Varint {
                    rejected = decode_varint(&mut partial)
                        .unwrap_or(0)
                        .min(i64::MAX as u64);
                } else if skip_field(wire_type, tag, &mut partial, DecodeContext::default())
                    .is_err()
                {
                    break;
                }
            }
        } else if skip_field(wire_type, tag, &mut answer, DecodeContext::default()).is_err() {
            return rejected;
        }
    }
    rejected
}

impl Exporter for OtlpExporter {
    fn export(&mut self, batch: SpanBatch) {
        let clock = crate::clock::converter();
        for record in batch.spans() {
            self.gather(record, &clock);
        }
        drop(batch);
        if self.gathered_spans >= GATHER_LIMIT {
            self.enqueue();
        }
    }

    fn drained(&mut self) {
        self.enqueue();
        self.send();
    }

    fn tick(&mut self) {
        self.send();
    }

    fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.gathered_spans == 0
    }

    fn flush(&mut self, deadline: Instant) -> u64 {
        self.enqueue();
        loop {
            self.send();
            let now = Instant::now();
            if self.pending.is_empty() || now >= deadline {
                return self.pending_spans();
            }
            let pause = self.next_attempt.saturating_duration_since(now);
            // At least a millisecond, but never past the deadline (`clamp`
            // panics when less than a millisecond is left).
            std::thread::sleep(pause.max(Duration::from_millis(1)).min(deadline - now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rejected_count_is_read_from_a_partial_success() {
        // partial_success { rejected_spans: 3, error_message: "x" }
        let answer = [0x0a, 0x05, 0x08, 0x03, 0x12, 0x01, b'x'];
        assert_eq!(rejected_spans(&answer), 3);
        assert_eq!(rejected_spans(&[]), 0);
        assert_eq!(rejected_spans(&[0xff, 0xff]), 0);
        assert_eq!(rejected_spans(b"{\"partialSuccess\":{}}"), 0);
    }

    #[cfg(feature = "tls")]
    mod tls {
        use super::*;
        use crate::Span;
        use crate::export::tls_testing::{Pki, https_endpoint, patience};
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use prost::Message;

        /// An exporter to `https://{address}/v1/traces` trusting `ca` alone.
        fn exporter(address: std::net::SocketAddr, ca: &Pki) -> OtlpExporter {
            let ca = CaCertificates::load(ca.ca_file().path()).unwrap();
            OtlpExporter::http_with_ca(
                format!("https://{address}/v1/traces"),
                vec![("authorization".into(), "Bearer s3cret-t0ken".into())],
                Some(&ca),
                &[("service.name".into(), "tls-test".into())],
                1 << 20,
                1 << 20,
            )
        }

        fn spans(name: &str) -> SpanBatch {
            let sink = crate::memory::test_sink();
            drop(Span::root(name.to_owned()));
            SpanBatch::new(sink.named(name))
        }

        #[test]
        fn spans_reach_an_https_endpoint_signed_by_the_ca() {
            let pki = Pki::new(&["127.0.0.1"]);
            let (address, endpoint) =
                https_endpoint(pki.server.clone(), 200, Duration::from_secs(20));
            let mut exporter = exporter(address, &pki);
            exporter.export(spans("otlp-over-tls"));
            let undelivered = exporter.flush(Instant::now() + Duration::from_secs(10));
            let request = endpoint.join().unwrap().expect("a request");
            assert_eq!(undelivered, 0);
            assert!(
                request.head.starts_with("POST /v1/traces "),
                "{}",
                request.head
            );
            assert_eq!(request.header("authorization"), Some("Bearer s3cret-t0ken"));
            let body = ExportTraceServiceRequest::decode(request.body.as_slice()).unwrap();
            let span = &body.resource_spans[0].scope_spans[0].spans[0];
            assert_eq!(span.name, "otlp-over-tls");
        }

        #[test]
        fn an_https_endpoint_the_ca_did_not_sign_gets_no_request() {
            let trusted = Pki::new(&["127.0.0.1"]);
            let impostor = Pki::new(&["127.0.0.1"]);
            let (address, endpoint) = https_endpoint(
                impostor.server.clone(),
                200,
                patience(Duration::from_millis(1500)),
            );
            let mut exporter = exporter(address, &trusted);
            exporter.export(spans("otlp-untrusted"));
            let undelivered = exporter.flush(Instant::now() + patience(Duration::from_secs(1)));
            assert_eq!(undelivered, 1);
            assert!(endpoint.join().unwrap().is_none());
            let said = exporter.warnings.said.clone().expect("it said why");
            assert!(
                said.contains("TLS") && said.contains("UnknownIssuer"),
                "{said}"
            );
        }

        #[test]
        fn a_refused_token_drops_the_request_and_says_why() {
            let pki = Pki::new(&["127.0.0.1"]);
            let (address, endpoint) =
                https_endpoint(pki.server.clone(), 401, Duration::from_secs(20));
            let mut exporter = exporter(address, &pki);
            exporter.export(spans("otlp-unauthorized"));
            let undelivered = exporter.flush(Instant::now() + Duration::from_secs(10));
            assert!(endpoint.join().unwrap().is_some());
            assert_eq!(undelivered, 0);
            assert_eq!(exporter.dropped_spans(), 1, "401 will not get better");
            let said = exporter.warnings.said.clone().expect("it said why");
            assert!(said.contains("401") && said.contains("token"), "{said}");
        }
    }
}
