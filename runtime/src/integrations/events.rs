//! Typed events in the spirit of Appdash's: each writes OpenTelemetry
//! semantic-convention keys onto a span.
//!
//! ```
//! use dapple::events::{HttpServer, Log, SqlQuery};
//! use dapple::Span;
//!
//! let mut span = Span::new("GET /users/{id}");
//! span.record(HttpServer::new("GET", "/users/{id}").status_code(200));
//! span.record(Log::new("cache miss"));
//! span.record(SqlQuery::new("sqlite", "SELECT name FROM users WHERE id = ?1"));
//! ```

use std::borrow::Cow;
use std::time::Duration;

use crate::span::{Span, SpanKind, Status};
use crate::value::KeyValue;

/// Something that knows how to write itself onto a span.
pub trait SpanEvent {
    /// Writes the event's attributes or events onto `span`.
    fn record_on(self, span: &mut Span);
}

impl Span {
    /// Records a typed event ([`Log`], [`Message`], [`SqlQuery`],
    /// [`HttpClient`], [`HttpServer`]) on this span.
    pub fn record(&mut self, event: impl SpanEvent) {
        if self.is_recording() {
            event.record_on(self);
        }
    }
}

/// Records a typed event on the current span, if it records.
pub fn record(event: impl SpanEvent) {
    crate::with_current_span(|span| event.record_on(span));
}

/// A log line, as an event named `log` with `log.message`.
#[derive(Clone, Debug)]
pub struct Log {
    message: Cow<'static, str>,
}

impl Log {
    /// A log line.
    pub fn new(message: impl Into<Cow<'static, str>>) -> Log {
        Log {
            message: message.into(),
        }
    }
}

impl SpanEvent for Log {
    fn record_on(self, span: &mut Span) {
        span.add_event("log", [KeyValue::new("log.message", self.message)]);
    }
}

/// Which way a message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Sent by this span.
    Sent,
    /// Received by this span.
    Received,
}

/// A message sent or received, as an event named `message` with
/// `messaging.message.id`, `messaging.message.body.size` and `message.type`.
#[derive(Clone, Debug)]
pub struct Message {
    direction: Direction,
    id: Option<Cow<'static, str>>,
    size: Option<u64>,
}

impl Message {
    /// A message going `direction`.
    pub fn new(direction: Direction) -> Message {
        Message {
            direction,
            id: None,
            size: None,
        }
    }

    /// The message's id.
    pub fn id(mut self, id: impl Into<Cow<'static, str>>) -> Message {
        self.id = Some(id.into());
        self
    }

    /// The size of its body in bytes.
    pub fn size(mut self, bytes: u64) -> Message {
        self.size = Some(bytes);
        self
    }
}

impl SpanEvent for Message {
    fn record_on(self, span: &mut Span) {
        let mut attributes = vec![KeyValue::new(
            "message.type",
            match self.direction {
                Direction::Sent => "SENT",
                Direction::Received => "RECEIVED",
            },
        )];
        if let Some(id) = self.id {
            attributes.push(KeyValue::new("messaging.message.id", id));
        }
        if let Some(size) = self.size {
            attributes.push(KeyValue::new("messaging.message.body.size", size));
        }
        span.add_event("message", attributes);
    }
}

/// A database query, as an event named `db.query` with `db.system`,
/// `db.query.text` and, when known, `db.query.duration_ns`. Put the query
/// text with placeholders, never with its parameters inlined.
#[derive(Clone, Debug)]
pub struct SqlQuery {
    system: Cow<'static, str>,
    text: Cow<'static, str>,
    start_unix_nanos: Option<u64>,
    duration: Option<Duration>,
}

impl SqlQuery {
    /// A query to `system` (`sqlite`, `postgresql`, ...) with this text.
    pub fn new(system: impl Into<Cow<'static, str>>, text: impl Into<Cow<'static, str>>) -> Self {
        SqlQuery {
            system: system.into(),
            text: text.into(),
            start_unix_nanos: None,
            duration: None,
        }
    }

    /// When the query started and how long it took.
    pub fn timing(mut self, start_unix_nanos: u64, duration: Duration) -> SqlQuery {
        self.start_unix_nanos = Some(start_unix_nanos);
        self.duration = Some(duration);
        self
    }
}

impl SpanEvent for SqlQuery {
    fn record_on(self, span: &mut Span) {
        let mut attributes = vec![
            KeyValue::new("db.system", self.system),
            KeyValue::new("db.query.text", self.text),
        ];
        if let Some(duration) = self.duration {
            attributes.push(KeyValue::new("db.query.duration_ns", duration.as_nanos()));
        }
        match self.start_unix_nanos {
            Some(at) => span.add_event_at("db.query", at, attributes),
            None => span.add_event("db.query", attributes),
        }
    }
}

/// Names a client span `METHOD /path`, or `METHOD service /path` with
/// `peer.service` set when the called service is named.
#[cfg_attr(not(any(feature = "tower", feature = "reqwest")), allow(dead_code))]
pub(crate) fn name_client_span(
    span: &mut Span,
    method: &str,
    peer: Option<&Cow<'static, str>>,
    path: &str,
) {
    match peer {
        Some(peer) => {
            span.set_name(format!("{method} {peer} {path}"));
            span.set_attribute("peer.service", peer.clone());
        }
        None => span.set_name(format!("{method} {path}")),
    }
}

/// An outgoing HTTP request: makes the span a client span with
/// `http.request.method`, `url.full` (without any `user:password@`),
/// `server.address`, `server.port` and `http.response.status_code`; a status
/// of 400 or more marks it as an error.
#[derive(Clone, Debug)]
pub struct HttpClient {
    method: Cow<'static, str>,
    url: Cow<'static, str>,
    server_address: Option<Cow<'static, str>>,
    server_port: Option<u16>,
    status_code: Option<u16>,
}

impl HttpClient {
    /// A request with this method to this URL.
    pub fn new(method: impl Into<Cow<'static, str>>, url: impl Into<Cow<'static, str>>) -> Self {
        HttpClient {
            method: method.into(),
            url: url.into(),
            server_address: None,
            server_port: None,
            status_code: None,
        }
    }

    /// The server's host name or IP address (IPv6 without brackets).
    pub fn server_address(mut self, host: impl Into<Cow<'static, str>>) -> HttpClient {
        let host = host.into();
        self.server_address = Some(
            match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
                Some(bare) => Cow::Owned(bare.to_owned()),
                None => host,
            },
        );
        self
    }

    /// The server's port.
    pub fn server_port(mut self, port: u16) -> HttpClient {
        self.server_port = Some(port);
        self
    }

    /// The response's status code.
    pub fn status_code(mut self, code: u16) -> HttpClient {
        self.status_code = Some(code);
        self
    }
}

impl SpanEvent for HttpClient {
    fn record_on(self, span: &mut Span) {
        span.set_kind(SpanKind::Client);
        span.set_attribute("http.request.method", self.method);
        let url = match without_userinfo(&self.url) {
            Some(clean) => Cow::Owned(clean),
            None => self.url,
        };
        span.set_attribute("url.full", url);
        if let Some(host) = self.server_address {
            span.set_attribute("server.address", host);
        }
        if let Some(port) = self.server_port {
            span.set_attribute("server.port", port);
        }
        if let Some(code) = self.status_code {
            record_status_code(span, code, 400);
        }
    }
}

/// `url` without its `user:password@`, or `None` when it has none.
fn without_userinfo(url: &str) -> Option<String> {
    let authority_start = url.find("://")? + 3;
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    Some(format!("{}{}", &url[..authority_start], &rest[at + 1..]))
}

/// Writes `http.response.status_code`; from `error_from` on, the status is
/// also the span's `error.type` and marks it as failed.
pub(crate) fn record_status_code(span: &mut Span, code: u16, error_from: u16) {
    span.set_attribute("http.response.status_code", code);
    if code >= error_from {
        span.set_attribute("error.type", code.to_string());
        span.set_status(Status::Error(format!("HTTP {code}").into()));
    }
}

/// Marks a request that got no response as failed: `error.type` says what
/// kind of failure, the status carries the message.
#[cfg(any(feature = "tower", feature = "reqwest"))]
pub(crate) fn record_transport_error(
    span: &mut Span,
    error_type: &'static str,
    message: impl Into<Cow<'static, str>>,
) {
    span.set_attribute("error.type", error_type);
    span.set_error(message);
}

/// An incoming HTTP request: makes the span a server span with
/// `http.request.method`, `http.route`, `http.response.status_code`,
/// `client.address` and `user_agent.original`; a status of 500 or more marks
/// it as an error.
#[derive(Clone, Debug)]
pub struct HttpServer {
    method: Cow<'static, str>,
    route: Cow<'static, str>,
    status_code: Option<u16>,
    client_address: Option<Cow<'static, str>>,
    user_agent: Option<Cow<'static, str>>,
}

impl HttpServer {
    /// A request with this method for this route template.
    pub fn new(method: impl Into<Cow<'static, str>>, route: impl Into<Cow<'static, str>>) -> Self {
        HttpServer {
            method: method.into(),
            route: route.into(),
            status_code: None,
            client_address: None,
            user_agent: None,
        }
    }

    /// The response's status code.
    pub fn status_code(mut self, code: u16) -> HttpServer {
        self.status_code = Some(code);
        self
    }

    /// The client's address.
    pub fn client_address(mut self, address: impl Into<Cow<'static, str>>) -> HttpServer {
        self.client_address = Some(address.into());
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, agent: impl Into<Cow<'static, str>>) -> HttpServer {
        self.user_agent = Some(agent.into());
        self
    }
}

impl SpanEvent for HttpServer {
    fn record_on(self, span: &mut Span) {
        span.set_kind(SpanKind::Server);
        span.set_attribute("http.request.method", self.method);
        span.set_attribute("http.route", self.route);
        if let Some(address) = self.client_address {
            span.set_attribute("client.address", address);
        }
        if let Some(agent) = self.user_agent {
            span.set_attribute("user_agent.original", agent);
        }
        if let Some(code) = self.status_code {
            record_status_code(span, code, 500);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SpanKind, Value};

    /// Records `event` on a root span named `name`, and reads that span back.
    fn recorded(name: &'static str, event: impl SpanEvent) -> crate::SpanRecord {
        let spans = crate::memory::test_sink();
        let mut span = Span::root(name);
        span.record(event);
        drop(span);
        spans.named(name).pop().expect("the span was recorded")
    }

    #[test]
    fn http_helpers_write_semantic_convention_keys() {
        let client = recorded(
            "client",
            HttpClient::new("GET", "http://127.0.0.1:1/a").status_code(503),
        );
        assert_eq!(client.kind(), SpanKind::Client);
        assert_eq!(
            client.attribute("http.request.method"),
            Some(Value::from("GET"))
        );
        assert_eq!(
            client.attribute("url.full"),
            Some(Value::from("http://127.0.0.1:1/a"))
        );
        assert_eq!(
            client.attribute("http.response.status_code"),
            Some(Value::I64(503))
        );
        assert_eq!(client.attribute("error.type"), Some(Value::from("503")));
        assert_eq!(client.status(), &Status::Error("HTTP 503".into()));

        let server = recorded(
            "server",
            HttpServer::new("POST", "/users/{id}")
                .status_code(404)
                .client_address("127.0.0.1")
                .user_agent("curl/8"),
        );
        assert_eq!(server.kind(), SpanKind::Server);
        assert_eq!(
            server.attribute("http.route"),
            Some(Value::from("/users/{id}"))
        );
        assert_eq!(
            server.attribute("client.address"),
            Some(Value::from("127.0.0.1"))
        );
        assert_eq!(
            server.attribute("user_agent.original"),
            Some(Value::from("curl/8"))
        );
        assert_eq!(
            server.status(),
            &Status::Unset,
            "a 4xx is the client's error"
        );
    }

    #[test]
    fn http_client_urls_lose_their_credentials() {
        let client = recorded(
            "client.userinfo",
            HttpClient::new("GET", "https://ada:secret@example.com:8443/a?b=c@d")
                .server_address("[::1]")
                .server_port(8443),
        );
        assert_eq!(
            client.attribute("url.full"),
            Some(Value::from("https://example.com:8443/a?b=c@d"))
        );
        assert_eq!(client.attribute("server.address"), Some(Value::from("::1")));
        assert_eq!(client.attribute("server.port"), Some(Value::I64(8443)));
        assert_eq!(without_userinfo("http://example.com/x@y"), None);
        assert_eq!(without_userinfo("not a url @ all"), None);
        assert_eq!(without_userinfo("http://@h/").as_deref(), Some("http://h/"));
    }

    #[test]
    fn sql_and_message_events_carry_their_attributes() {
        let sql = recorded(
            "sql",
            SqlQuery::new("sqlite", "SELECT 1 WHERE ?1").timing(1_000, Duration::from_micros(250)),
        );
        let event = &sql.events()[0];
        assert_eq!(event.name, "db.query");
        assert_eq!(event.unix_nanos, 1_000);
        assert_eq!(event.attribute("db.system"), Some(Value::from("sqlite")));
        assert_eq!(
            event.attribute("db.query.text"),
            Some(Value::from("SELECT 1 WHERE ?1"))
        );
        assert_eq!(
            event.attribute("db.query.duration_ns"),
            Some(Value::I64(250_000))
        );

        let message = recorded("message", Message::new(Direction::Sent).id("m-1").size(42));
        let event = &message.events()[0];
        assert_eq!(event.attribute("message.type"), Some(Value::from("SENT")));
        assert_eq!(
            event.attribute("messaging.message.id"),
            Some(Value::from("m-1"))
        );
        assert_eq!(
            event.attribute("messaging.message.body.size"),
            Some(Value::I64(42))
        );
    }
}
