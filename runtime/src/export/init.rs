//! Starting and stopping reporting for a process: `dapple::init`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use crate::export::tls::CaCertificates;
use crate::export::{
    Exporter, Reporter, ReporterConfig, RetroExporter, Retroactive, TcpExporter, parse_duration,
};
use dapple_proto as proto;

/// How a process reports its spans: the defaults, overridden by
/// environment variables with [`Config::from_env`], then by `with_*` calls.
///
/// | variable | default | meaning |
/// | --- | --- | --- |
/// | `DAPPLE_ENDPOINT` (older name `DAPPLE_COLLECTOR`) | `127.0.0.1:7701` | the collector's native TCP address |
/// | `DAPPLE_SERVICE`, else `OTEL_SERVICE_NAME` | the executable's name | `service.name` of this process |
/// | `OTEL_RESOURCE_ATTRIBUTES` | none | `key=value,...`: `service.name` and `service.version` (when not set otherwise), the rest kept as resource attributes |
/// | `DAPPLE_SAMPLE` | `1.0` | probability that a new trace is recorded |
/// | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | none | `always_on`, `always_off`, `traceidratio` with its ratio, or their `parentbased_` forms, read as a sample rate (`DAPPLE_SAMPLE` wins); new spans always follow their parent's decision |
/// | `DAPPLE_BUFFER_BYTES` | `67108864` (64 MiB) | memory for spans waiting for the collector |
/// | `OTEL_EXPORTER_OTLP_PROTOCOL` (or `..._TRACES_PROTOCOL`) | none | `http/protobuf`: export over OTLP/HTTP instead of the native protocol; `grpc` with the `otlp-grpc` feature |
/// | `OTEL_EXPORTER_OTLP_ENDPOINT` | none | the OTLP base URL (`/v1/traces` is appended); setting it chooses OTLP/HTTP; `https://` needs the `tls` feature and is checked against the CA file, else against Mozilla's roots (webpki-roots) |
/// | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | none | the full OTLP traces URL; setting it chooses OTLP/HTTP; `https://` as above |
/// | `OTEL_EXPORTER_OTLP_HEADERS` (then `..._TRACES_HEADERS`) | none | `key=value,...` headers on every OTLP request |
/// | `DAPPLE_TOKEN` | none | the ingest token the collector asks for (`--ingest-token-file`): in the native hello, and `Authorization: Bearer <token>` on OTLP requests unless an `authorization` header is set; letters, digits and `-._~+/=` |
/// | `DAPPLE_CA_FILE` | none | PEM file of the CA certificate(s) that signed the collector's certificate: the native exporter then connects over TLS, checking the certificate for the endpoint's host (a DNS name, or an IP address as an IP SAN); OTLP endpoints must be `https://` and are checked against it alone. Needs the `tls` feature (on by default) |
/// | `OTEL_EXPORTER_OTLP_CERTIFICATE` (then `..._TRACES_CERTIFICATE`) | none | the same CA file, by its OpenTelemetry name (`DAPPLE_CA_FILE` wins) |
/// | `DAPPLE_SAMPLING` | `head` | `retroactive`: record every trace into a ring, send a baseline of them, and the rest only when kept (see [`Retroactive`](crate::export::Retroactive)); the sample rate is then 1 |
/// | `DAPPLE_BASELINE` | `0.01` | retroactive: the share of traces sent whatever happens in them |
/// | `DAPPLE_RING_BYTES`, `DAPPLE_RING_AGE` | `67108864`, `30s` | retroactive: the ring's memory and age bounds |
/// | `DAPPLE_SLOW` | none | retroactive: a span longer than this (`500ms`, `2s`) keeps its trace |
/// | `DAPPLE_SLOW_NAMES` | none | retroactive: `name=duration,...`, thresholds for spans of those names instead |
///
/// A CA file that cannot be read or holds no certificate, a token with
/// characters a bearer token cannot have, an `http://` OTLP endpoint with a
/// CA file: these are [`ConfigError`]s from `from_env` and [`try_init`],
/// never a fallback to plain text.
///
/// ```
/// use std::time::Duration;
/// let config = dapple::Config::default()
///     .with_service("checkout")
///     .with_endpoint("127.0.0.1:7701")
///     .with_sample_rate(0.5)
///     .with_flush_timeout(Duration::from_secs(2));
/// assert_eq!(config.service(), "checkout");
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    protocol: Protocol,
    endpoint: String,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: the base URL of every signal.
    otlp_base: Option<String>,
    /// The traces endpoint itself, as given.
    otlp_traces: Option<String>,
    otlp_headers: Headers,
    token: Option<Token>,
    ca_file: Option<CaFile>,
    service: String,
    version: String,
    resource_attributes: Vec<(String, String)>,
    sample_rate: f64,
    buffer_bytes: usize,
    flush_timeout: Duration,
    max_frame_bytes: usize,
    retroactive: Option<Retroactive>,
}

/// How spans leave the process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// Dapple's own protocol over TCP to a Dapple collector: cheapest,
    /// acknowledged batch by batch.
    #[default]
    Native,
    /// OTLP over HTTP, binary protobuf, to any OpenTelemetry endpoint (an
    /// OpenTelemetry Collector, Jaeger, Tempo, Dapple's collector with
    /// `--otlp-http`). Needs the `otlp` feature (on by default).
    OtlpHttp,
    /// OTLP over gRPC. Needs the `otlp-grpc` feature.
    #[cfg(feature = "otlp-grpc")]
    OtlpGrpc,
}

/// Headers for OTLP requests; their values stay out of `Debug` output, as
/// they often carry credentials.
#[derive(Clone, Default, PartialEq)]
struct Headers(Vec<(String, String)>);

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| format!("{name}: <redacted>")))
            .finish()
    }
}

/// An ingest token; it stays out of `Debug` output.
#[derive(Clone, PartialEq)]
struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The CA file, and the variable that named it, for errors.
#[derive(Clone, Debug, PartialEq)]
struct CaFile {
    path: PathBuf,
    variable: &'static str,
}

/// What `init` needs that only checking the config gives: the CA file's
/// certificates, the name the native collector's certificate must carry.
struct Checked {
    ca: Option<CaCertificates>,
    #[cfg(feature = "tls")]
    server_name: Option<rustls::pki_types::ServerName<'static>>,
}

/// The default OTLP/HTTP traces URL.
const DEFAULT_OTLP_ENDPOINT: &str = "http://localhost:4318/v1/traces";

/// The default OTLP/gRPC endpoint.
#[cfg(feature = "otlp-grpc")]
const DEFAULT_OTLP_GRPC_ENDPOINT: &str = "http://localhost:4317";

/// A setting that could not be used: an environment variable, or the same
/// setting made in code (named by its variable: `with_ca_file` is
/// `DAPPLE_CA_FILE`, `with_token` is `DAPPLE_TOKEN`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{variable}={value:?}: {reason}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The variable.
    pub variable: &'static str,
    /// Its value (`<redacted>` for a token).
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    fn new(variable: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            variable,
            value: value.into(),
            reason: reason.into(),
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        let service = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "unknown_service".to_owned());
        Config {
            protocol: Protocol::Native,
            endpoint: "127.0.0.1:7701".to_owned(),
            otlp_base: None,
            otlp_traces: None,
            otlp_headers: Headers::default(),
            token: None,
            ca_file: None,
            service,
            version: String::new(),
            resource_attributes: Vec::new(),
            sample_rate: 1.0,
            buffer_bytes: 64 * 1024 * 1024,
            flush_timeout: Duration::from_secs(5),
            max_frame_bytes: proto::DEFAULT_MAX_FRAME_BYTES,
            retroactive: None,
        }
    }
}

impl Config {
    /// The defaults, overridden by the environment variables that are set.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::default().with_vars(|name| std::env::var(name).ok())
    }

    /// The same, reading variables through `var` (for tests).
    fn with_vars(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let error =
            |variable, value: String, reason: &str| ConfigError::new(variable, value, reason);
        if let Some(attributes) = var("OTEL_RESOURCE_ATTRIBUTES") {
            for pair in attributes.split(',').filter(|p| !p.trim().is_empty()) {
                let Some((key, value)) = pair.split_once('=') else {
                    return Err(error(
                        "OTEL_RESOURCE_ATTRIBUTES",
                        attributes.clone(),
                        "expected key=value pairs separated by commas",
                    ));
                };
                let (key, value) = (key.trim(), percent_decode(value.trim()));
                match key {
                    "service.name" => self.service = value,
                    "service.version" => self.version = value,
                    _ => self.resource_attributes.push((key.to_owned(), value)),
                }
            }
        }
        if let Some(service) = var("OTEL_SERVICE_NAME").filter(|s| !s.trim().is_empty()) {
            self.service = service.trim().to_owned();
        }
        if let Some(service) = var("DAPPLE_SERVICE").filter(|s| !s.trim().is_empty()) {
            self.service = service.trim().to_owned();
        }
        for variable in ["DAPPLE_COLLECTOR", "DAPPLE_ENDPOINT"] {
            if let Some(endpoint) = var(variable) {
                if endpoint.trim().is_empty() || !endpoint.contains(':') {
                    return Err(error(variable, endpoint, "expected host:port"));
                }
                self.endpoint = endpoint.trim().to_owned();
            }
        }
        if let Some(sample) = var("DAPPLE_SAMPLE") {
            self.sample_rate = probability("DAPPLE_SAMPLE", &sample)?;
        }
        if let Some(bytes) = var("DAPPLE_BUFFER_BYTES") {
            self.buffer_bytes = positive_bytes("DAPPLE_BUFFER_BYTES", &bytes)?;
        }
        self.otlp_from_vars(&var)?;
        let set = |name| var(name).filter(|v: &String| !v.trim().is_empty());
        if let Some(token) = set("DAPPLE_TOKEN") {
            self = self.with_token(token);
        }
        self.retroactive_from_vars(&set)?;
        for variable in [
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            "DAPPLE_CA_FILE",
        ] {
            if let Some(path) = set(variable) {
                self.ca_file = Some(CaFile {
                    path: PathBuf::from(path.trim()),
                    variable,
                });
            }
        }
        self.check()?;
        Ok(self)
    }

    /// Retroactive sampling's variables.
    fn retroactive_from_vars(
        &mut self,
        set: &impl Fn(&'static str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(mode) = set("DAPPLE_SAMPLING") {
            match mode.trim() {
                "head" => self.retroactive = None,
                "retroactive" => {
                    self.retroactive.get_or_insert_with(Retroactive::default);
                }
                _ => {
                    return Err(ConfigError::new(
                        "DAPPLE_SAMPLING",
                        mode,
                        "expected head or retroactive",
                    ));
                }
            }
        }
        let Some(retroactive) = &mut self.retroactive else {
            return Ok(());
        };
        let duration = |variable: &'static str, text: &str| {
            parse_duration(text).map_err(|reason| ConfigError::new(variable, text, reason))
        };
        if let Some(baseline) = set("DAPPLE_BASELINE") {
            retroactive.baseline = probability("DAPPLE_BASELINE", &baseline)?;
        }
        if let Some(bytes) = set("DAPPLE_RING_BYTES") {
            retroactive.ring_bytes = positive_bytes("DAPPLE_RING_BYTES", &bytes)?;
        }
        if let Some(age) = set("DAPPLE_RING_AGE") {
            retroactive.ring_age = duration("DAPPLE_RING_AGE", &age)?;
        }
        if let Some(slow) = set("DAPPLE_SLOW") {
            retroactive.slow = Some(duration("DAPPLE_SLOW", &slow)?);
        }
        if let Some(names) = set("DAPPLE_SLOW_NAMES") {
            for pair in names.split(',').filter(|p| !p.trim().is_empty()) {
                let Some((name, threshold)) = pair.rsplit_once('=') else {
                    return Err(ConfigError::new(
                        "DAPPLE_SLOW_NAMES",
                        names.clone(),
                        "expected name=duration,...",
                    ));
                };
                let threshold = duration("DAPPLE_SLOW_NAMES", threshold)?;
                retroactive
                    .slow_by_name
                    .push((name.trim().to_owned(), threshold));
            }
        }
        Ok(())
    }

    /// Checks what only shows once settings come together: the token's
    /// characters, the CA file, the endpoints TLS is used with.
    fn check(&self) -> Result<Checked, ConfigError> {
        if let Some(Token(token)) = &self.token {
            check_token(token)
                .map_err(|reason| ConfigError::new("DAPPLE_TOKEN", "<redacted>", reason))?;
        }
        let ca = match &self.ca_file {
            None => None,
            Some(file) => Some(CaCertificates::load(&file.path).map_err(|reason| {
                ConfigError::new(file.variable, file.path.display().to_string(), reason)
            })?),
        };
        #[cfg(feature = "tls")]
        let server_name = match ca {
            None => None,
            Some(_) => Some(
                crate::export::tls::server_name(&self.endpoint).map_err(|_| {
                    ConfigError::new(
                        "DAPPLE_ENDPOINT",
                        self.endpoint.clone(),
                        "with a CA file, the host must be a DNS name or an IP address: \
                     the name the collector's certificate is checked for",
                    )
                })?,
            ),
        };
        #[cfg(feature = "otlp")]
        if self.protocol != Protocol::Native {
            let url = self.otlp_endpoint();
            let variable = if self.otlp_traces.is_some() {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
            } else {
                "OTEL_EXPORTER_OTLP_ENDPOINT"
            };
            let https = url
                .get(..8)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
            if https && cfg!(not(feature = "tls")) {
                return Err(ConfigError::new(
                    variable,
                    url,
                    "https:// needs dapple's `tls` feature",
                ));
            }
            if !https && ca.is_some() {
                return Err(ConfigError::new(
                    variable,
                    url,
                    "a CA file is set, so the endpoint must be https://: \
                     spans and the token would otherwise travel in clear",
                ));
            }
        }
        Ok(Checked {
            ca,
            #[cfg(feature = "tls")]
            server_name,
        })
    }

    /// Presents `token` to the collector (one of the tokens of its
    /// `--ingest-token-file`): in the native protocol's hello, and as
    /// `Authorization: Bearer <token>` on OTLP requests, unless an
    /// `authorization` header was set. Letters, digits and `-._~+/=`
    /// (surrounding whitespace is trimmed); anything else makes
    /// [`try_init`] fail.
    pub fn with_token(mut self, token: impl Into<String>) -> Config {
        self.token = Some(Token(token.into().trim().to_owned()));
        self
    }

    /// Connects over TLS, trusting only the CA certificate(s) of the PEM
    /// file at `path`: the CA that signed the collector's certificate. The
    /// native exporter checks the certificate for the endpoint's host (a
    /// DNS name, or an IP address as an IP SAN); OTLP endpoints must be
    /// `https://`. The file is read by [`try_init`], which fails when it
    /// cannot be read, holds no certificate, or when dapple was built
    /// without its `tls` feature.
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Config {
        self.ca_file = Some(CaFile {
            path: path.into(),
            variable: "DAPPLE_CA_FILE",
        });
        self
    }

    /// The CA file the collector's certificate is checked against, if any.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_ref().map(|file| file.path.as_path())
    }

    /// The OTLP headers, with the token's `Authorization` unless one was
    /// set.
    #[cfg(feature = "otlp")]
    fn otlp_headers(&self) -> Vec<(String, String)> {
        let mut headers = self.otlp_headers.0.clone();
        let authorized = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
        if let (Some(Token(token)), false) = (&self.token, authorized) {
            headers.push(("authorization".to_owned(), format!("Bearer {token}")));
        }
        headers
    }

    /// The OpenTelemetry exporter and sampler variables.
    fn otlp_from_vars(&mut self, var: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let error =
            |variable, value: String, reason: &str| ConfigError::new(variable, value, reason);
        let set = |name| var(name).filter(|v: &String| !v.trim().is_empty());
        if let Some(base) = set("OTEL_EXPORTER_OTLP_ENDPOINT") {
            self.otlp_base = Some(base.trim().trim_end_matches('/').to_owned());
            self.choose_otlp();
        }
        if let Some(url) = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            self.otlp_traces = Some(url.trim().to_owned());
            self.choose_otlp();
        }
        for variable in [
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ] {
            if let Some(protocol) = set(variable) {
                self.protocol = match protocol.trim() {
                    "http/protobuf" => Protocol::OtlpHttp,
                    #[cfg(feature = "otlp-grpc")]
                    "grpc" => Protocol::OtlpGrpc,
                    #[cfg(not(feature = "otlp-grpc"))]
                    "grpc" => {
                        return Err(error(
                            variable,
                            protocol,
                            "OTLP/gRPC needs dapple's otlp-grpc feature: use http/protobuf",
                        ));
                    }
                    _ => {
                        return Err(error(
                            variable,
                            protocol,
                            "expected http/protobuf (http/json and grpc are not supported)",
                        ));
                    }
                };
            }
        }
        for variable in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ] {
            let Some(headers) = set(variable) else {
                continue;
            };
            for pair in headers.split(',').filter(|p| !p.trim().is_empty()) {
                let Some((name, value)) = pair.split_once('=') else {
                    return Err(error(
                        variable,
                        headers.clone(),
                        "expected key=value pairs separated by commas",
                    ));
                };
                let name = name.trim().to_owned();
                self.otlp_headers
                    .0
                    .retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
                self.otlp_headers
                    .0
                    .push((name, percent_decode(value.trim())));
            }
        }
        if var("DAPPLE_SAMPLE").is_none()
            && let Some(sampler) = set("OTEL_TRACES_SAMPLER")
        {
            let ratio = || -> Result<f64, ConfigError> {
                match set("OTEL_TRACES_SAMPLER_ARG") {
                    None => Ok(1.0),
                    Some(arg) => match arg.trim().parse::<f64>() {
                        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
                        _ => Err(error(
                            "OTEL_TRACES_SAMPLER_ARG",
                            arg,
                            "expected a probability from 0.0 to 1.0",
                        )),
                    },
                }
            };
            self.sample_rate = match sampler.trim() {
                "always_on" | "parentbased_always_on" => 1.0,
                "always_off" | "parentbased_always_off" => 0.0,
                "traceidratio" | "parentbased_traceidratio" => ratio()?,
                _ => {
                    return Err(error(
                        "OTEL_TRACES_SAMPLER",
                        sampler,
                        "expected always_on, always_off, traceidratio or their parentbased_ forms",
                    ));
                }
            };
        }
        Ok(())
    }

    /// Chooses the protocol spans leave in (native by default).
    pub fn with_protocol(mut self, protocol: Protocol) -> Config {
        self.protocol = protocol;
        self
    }

    /// Sets the OTLP traces endpoint: the full URL for OTLP/HTTP (default
    /// `http://localhost:4318/v1/traces`), `http://host:port` for OTLP/gRPC
    /// (default `http://localhost:4317`); chooses [`Protocol::OtlpHttp`]
    /// unless an OTLP protocol was chosen.
    pub fn with_otlp_endpoint(mut self, url: impl Into<String>) -> Config {
        self.otlp_traces = Some(url.into());
        self.choose_otlp();
        self
    }

    /// OTLP/HTTP, unless an OTLP protocol was chosen already.
    fn choose_otlp(&mut self) {
        if self.protocol == Protocol::Native {
            self.protocol = Protocol::OtlpHttp;
        }
    }

    /// Adds a header to every OTLP request (an API key, a tenant).
    pub fn with_otlp_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Config {
        self.otlp_headers.0.push((name.into(), value.into()));
        self
    }

    /// The protocol spans leave in.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The OTLP traces endpoint for the chosen protocol (OTLP/HTTP's when
    /// the protocol is native): the endpoint given, else the base URL (with
    /// `/v1/traces` for OTLP/HTTP), else the default.
    pub fn otlp_endpoint(&self) -> String {
        if let Some(traces) = &self.otlp_traces {
            return traces.clone();
        }
        #[cfg(feature = "otlp-grpc")]
        if self.protocol == Protocol::OtlpGrpc {
            return self
                .otlp_base
                .clone()
                .unwrap_or_else(|| DEFAULT_OTLP_GRPC_ENDPOINT.to_owned());
        }
        match &self.otlp_base {
            Some(base) => format!("{base}/v1/traces"),
            None => DEFAULT_OTLP_ENDPOINT.to_owned(),
        }
    }

    /// Sets the collector's native TCP address, `host:port`.
    pub fn with_endpoint(mut self, address: impl Into<String>) -> Config {
        self.endpoint = address.into();
        self
    }

    /// Sets `service.name`.
    pub fn with_service(mut self, name: impl Into<String>) -> Config {
        self.service = name.into();
        self
    }

    /// Sets `service.version`.
    pub fn with_version(mut self, version: impl Into<String>) -> Config {
        self.version = version.into();
        self
    }

    /// Adds a resource attribute describing this process.
    pub fn with_resource_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Config {
        self.resource_attributes.push((key.into(), value.into()));
        self
    }

    /// Sets the probability, 0.0 to 1.0, that a new trace is recorded.
    pub fn with_sample_rate(mut self, probability: f64) -> Config {
        self.sample_rate = probability.clamp(0.0, 1.0);
        self
    }

    /// Turns retroactive sampling on: every trace is recorded (the sample
    /// rate is ignored), a baseline is sent, and the rest waits in a ring
    /// until an error, a slow span or [`keep_trace`](crate::keep_trace) in
    /// any process keeps it.
    pub fn with_retroactive(mut self, retroactive: Retroactive) -> Config {
        self.retroactive = Some(retroactive);
        self
    }

    /// Retroactive sampling's settings, when it is on.
    pub fn retroactive(&self) -> Option<&Retroactive> {
        self.retroactive.as_ref()
    }

    /// Sets the memory, in bytes, for spans waiting for the collector
    /// (queued and unacknowledged each); past it whole batches are dropped
    /// and counted.
    pub fn with_buffer_bytes(mut self, bytes: usize) -> Config {
        self.buffer_bytes = bytes.max(1);
        self
    }

    /// Sets how long dropping the guard waits for the collector.
    pub fn with_flush_timeout(mut self, timeout: Duration) -> Config {
        self.flush_timeout = timeout;
        self
    }

    /// Sets the largest frame sent.
    pub fn with_max_frame_bytes(mut self, bytes: usize) -> Config {
        self.max_frame_bytes = bytes.max(1);
        self
    }

    /// The collector's native TCP address.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `service.name` of this process.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// `service.version` of this process.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Resource attributes other than the service's name and version.
    pub fn resource_attributes(&self) -> &[(String, String)] {
        &self.resource_attributes
    }

    /// The probability that a new trace is recorded.
    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }
}

/// `text` of `variable` as a probability.
fn probability(variable: &'static str, text: &str) -> Result<f64, ConfigError> {
    super::parse_probability(text)
        .map_err(|_| ConfigError::new(variable, text, "expected a probability from 0.0 to 1.0"))
}

/// `text` of `variable` as a positive number of bytes.
fn positive_bytes(variable: &'static str, text: &str) -> Result<usize, ConfigError> {
    match text.trim().parse::<usize>() {
        Ok(b) if b > 0 => Ok(b),
        _ => Err(ConfigError::new(
            variable,
            text,
            "expected a positive number of bytes",
        )),
    }
}

/// Whether `token` can be sent as a bearer token (RFC 6750's `b64token`,
/// the collector's rule too); why not.
fn check_token(token: &str) -> Result<(), String> {
    if token.is_empty() {
        return Err("the token is empty".to_owned());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    match token.chars().position(|c| !allowed(c)) {
        None => Ok(()),
        Some(at) => Err(format!(
            "character {} of the token cannot be in a bearer token: \
             letters, digits and -._~+/= only",
            at + 1
        )),
    }
}

/// Decodes `%XX` escapes, as the OpenTelemetry resource variable allows;
/// a malformed escape stays as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The reporter `init` started, and the count of spans its exporter dropped
/// (the exporter itself lives on the reporter thread).
struct Installed {
    reporter: Arc<Reporter>,
    exporter_dropped: Arc<AtomicU64>,
}

static INSTALLED: Mutex<Option<Installed>> = Mutex::new(None);

fn installed() -> std::sync::MutexGuard<'static, Option<Installed>> {
    INSTALLED.lock().unwrap_or_else(|e| e.into_inner())
}

fn reporter() -> Option<Arc<Reporter>> {
    installed().as_ref().map(|i| i.reporter.clone())
}

/// Starts reporting: spans finished from now on go, a batch at a time, to
/// the collector at the config's endpoint. Keep the guard alive for as long as
/// the program runs; dropping it flushes.
///
/// ```no_run
/// let tracing = dapple::init(dapple::Config::from_env().unwrap_or_default());
/// // ... traced work ...
/// drop(tracing); // flushes: waits for the collector's acknowledgements
/// ```
///
/// A config [`try_init`] refuses (a CA file it cannot read, a token it
/// cannot send) turns reporting off, said on stderr: spans never go in
/// clear when TLS was asked for.
pub fn init(config: Config) -> Guard {
    let (timeout, endpoint) = (config.flush_timeout, config.endpoint.clone());
    try_init(config).unwrap_or_else(|error| {
        eprintln!("dapple: {error}; spans are not reported");
        Guard {
            timeout,
            endpoint,
            reporting: false,
        }
    })
}

/// [`init`], or why the config cannot be used: the CA file cannot be read
/// or holds no certificate (or dapple was built without its `tls` feature),
/// the token has characters a bearer token cannot have, an OTLP endpoint is
/// `http://` though a CA file is set.
///
/// ```no_run
/// let config = dapple::Config::from_env()?
///     .with_token("s3cret-t0ken")
///     .with_ca_file("/etc/dapple/ca.pem");
/// let tracing = dapple::try_init(config)?;
/// # drop(tracing);
/// # Ok::<(), dapple::ConfigError>(())
/// ```
pub fn try_init(config: Config) -> Result<Guard, ConfigError> {
    let checked = config.check()?;
    // Under retroactive sampling every trace is recorded; the baseline is
    // decided on the reporter thread.
    crate::set_sample_rate(match config.retroactive {
        Some(_) => 1.0,
        None => config.sample_rate,
    });
    crate::sampling::set_retroactive(false);
    let reporter_config = ReporterConfig {
        max_queued_bytes: config.buffer_bytes,
    };
    let (reporter, exporter_dropped, endpoint) = match config.protocol {
        #[cfg(feature = "otlp")]
        Protocol::OtlpHttp => {
            let exporter = crate::export::OtlpExporter::http_with_ca(
                config.otlp_endpoint(),
                config.otlp_headers(),
                checked.ca.as_ref(),
                &otlp_resource(&config),
                config.max_frame_bytes,
                config.buffer_bytes,
            );
            let dropped = exporter.dropped_counter();
            let reporter = install(exporter, &config, reporter_config);
            (reporter, dropped, config.otlp_endpoint())
        }
        #[cfg(feature = "otlp-grpc")]
        Protocol::OtlpGrpc => match crate::export::OtlpExporter::grpc_with_ca(
            config.otlp_endpoint(),
            config.otlp_headers(),
            checked.ca.as_ref(),
            &otlp_resource(&config),
            config.max_frame_bytes,
            config.buffer_bytes,
        ) {
            Ok(exporter) => {
                let dropped = exporter.dropped_counter();
                let reporter = install(exporter, &config, reporter_config);
                (reporter, dropped, config.otlp_endpoint())
            }
            Err(e) => {
                eprintln!(
                    "dapple: OTLP/gRPC to {}: {e}; sending to {} natively",
                    config.otlp_endpoint(),
                    config.endpoint
                );
                native(&config, &checked, reporter_config)
            }
        },
        #[cfg(not(feature = "otlp"))]
        Protocol::OtlpHttp => {
            eprintln!(
                "dapple: OTLP export needs the `otlp` feature; sending to {} natively",
                config.endpoint
            );
            native(&config, &checked, reporter_config)
        }
        Protocol::Native => native(&config, &checked, reporter_config),
    };
    let previous = installed().replace(Installed {
        reporter: Arc::new(reporter),
        exporter_dropped,
    });
    // Stopped outside the lock: stopping flushes.
    drop(previous);
    install_panic_flush();
    Ok(Guard {
        timeout: config.flush_timeout,
        endpoint,
        reporting: true,
    })
}

/// Starts the reporter with `exporter`, under retroactive sampling when the
/// config says so.
fn install(exporter: impl Exporter, config: &Config, reporter_config: ReporterConfig) -> Reporter {
    match &config.retroactive {
        Some(retroactive) => {
            Reporter::install(RetroExporter::new(exporter, retroactive), reporter_config)
        }
        None => Reporter::install(exporter, reporter_config),
    }
}

/// The reporter with the native exporter, its drop count and its address.
fn native(
    config: &Config,
    checked: &Checked,
    reporter_config: ReporterConfig,
) -> (Reporter, Arc<AtomicU64>, String) {
    let mut exporter = TcpExporter::new(
        config.endpoint.clone(),
        resource(config),
        config.max_frame_bytes,
        config.buffer_bytes,
    );
    if let Some(Token(token)) = &config.token {
        exporter = exporter.with_token(token.as_str());
    }
    #[cfg(feature = "tls")]
    if let (Some(ca), Some(server_name)) = (&checked.ca, &checked.server_name) {
        exporter = exporter.with_tls(ca.client_config.clone(), server_name.clone());
    }
    #[cfg(not(feature = "tls"))]
    if let Some(ca) = &checked.ca {
        match *ca {}
    }
    let dropped = exporter.dropped_counter();
    (
        install(exporter, config, reporter_config),
        dropped,
        config.endpoint.clone(),
    )
}

/// The process's OTLP resource attributes, as text.
#[cfg(feature = "otlp")]
fn otlp_resource(config: &Config) -> Vec<(String, String)> {
    let mut attributes = vec![("service.name".to_owned(), config.service.clone())];
    if !config.version.is_empty() {
        attributes.push(("service.version".to_owned(), config.version.clone()));
    }
    let host = hostname();
    if !host.is_empty() {
        attributes.push(("host.name".to_owned(), host));
    }
    attributes.extend(config.resource_attributes.iter().cloned());
    attributes
}

/// Delivers what this process has recorded, waiting up to `timeout` for the
/// collector's acknowledgements. Returns the number of spans not delivered
/// (0 when everything arrived, or when `init` was not called).
pub fn flush(timeout: Duration) -> u64 {
    reporter().map_or(0, |r| r.flush(timeout))
}

/// Spans dropped so far: because the memory bound was reached, waiting for
/// the reporter thread or waiting for the collector's acknowledgement, or
/// because a span alone was larger than a frame may be.
pub fn dropped_spans() -> u64 {
    let (reporter, exporter_dropped) = {
        let installed = installed();
        let Some(installed) = installed.as_ref() else {
            return 0;
        };
        (
            installed.reporter.clone(),
            installed.exporter_dropped.clone(),
        )
    };
    reporter.stats().dropped_spans + exporter_dropped.load(Ordering::Relaxed)
}

/// Keeps reporting on; dropping it flushes and stops the reporter thread.
#[derive(Debug)]
#[must_use = "reporting stops when the guard is dropped"]
pub struct Guard {
    timeout: Duration,
    endpoint: String,
    /// Whether `init` started reporting (it did not when the config was
    /// refused): only then does dropping the guard stop it.
    reporting: bool,
}

impl Guard {
    /// The same as [`flush`].
    pub fn flush(&self, timeout: Duration) -> u64 {
        flush(timeout)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.reporting {
            return;
        }
        let undelivered = flush(self.timeout);
        if undelivered > 0 {
            eprintln!(
                "dapple: {undelivered} spans could not be delivered to the collector at {}",
                self.endpoint
            );
        }
        let reporter = installed().take().map(|i| i.reporter);
        // Flushed just now: stop without waiting a second time (a flush on
        // another thread may still hold the reporter, and then drops it).
        if let Some(reporter) = reporter.and_then(Arc::into_inner) {
            reporter.stop(Duration::ZERO);
        }
    }
}

/// After a panic's message is printed, hands on what the process recorded
/// so far, in case the panic ends the process.
fn install_panic_flush() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            flush(Duration::from_millis(250));
        }));
    });
}

/// What the process tells the collector about itself, once per connection.
fn resource(config: &Config) -> proto::Resource {
    proto::Resource {
        service_name: config.service.clone(),
        host: hostname(),
        pid: std::process::id(),
        version: config.version.clone(),
        attributes: config
            .resource_attributes
            .iter()
            .map(|(key, value)| proto::KeyValue {
                key: key.clone(),
                value: Some(proto::AnyValue {
                    value: Some(proto::any_value::Value::StringValue(value.clone())),
                }),
            })
            .collect(),
        dropped_attributes_count: 0,
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn variables_override_the_defaults() {
        let config = Config::default()
            .with_vars(vars(&[
                ("DAPPLE_ENDPOINT", "127.0.0.1:9000"),
                ("DAPPLE_SERVICE", "checkout"),
                ("DAPPLE_SAMPLE", "0.25"),
                ("DAPPLE_BUFFER_BYTES", "1048576"),
            ]))
            .unwrap();
        assert_eq!(config.endpoint, "127.0.0.1:9000");
        assert_eq!(config.service, "checkout");
        assert_eq!(config.sample_rate, 0.25);
        assert_eq!(config.buffer_bytes, 1 << 20);
        let defaults = Config::default().with_vars(vars(&[])).unwrap();
        assert_eq!(defaults.endpoint, "127.0.0.1:7701");
        assert_eq!(defaults.sample_rate, 1.0);
    }

    #[test]
    fn the_standard_opentelemetry_variables_name_the_service() {
        let config = Config::default()
            .with_vars(vars(&[
                ("OTEL_SERVICE_NAME", "payments"),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "service.name=ignored, service.version=1.2.3,deployment.environment=prod%2Ceu",
                ),
                ("DAPPLE_ENDPOINT", "10.0.0.1:7701"),
            ]))
            .unwrap();
        assert_eq!(config.service(), "payments");
        assert_eq!(config.version(), "1.2.3");
        assert_eq!(
            config.resource_attributes(),
            &[("deployment.environment".to_owned(), "prod,eu".to_owned())]
        );
        assert_eq!(config.endpoint(), "10.0.0.1:7701");
        let dapple_first = Config::default()
            .with_vars(vars(&[
                ("OTEL_SERVICE_NAME", "payments"),
                ("DAPPLE_SERVICE", "checkout"),
            ]))
            .unwrap();
        assert_eq!(dapple_first.service(), "checkout");
        let from_resource = Config::default()
            .with_vars(vars(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=ledger")]))
            .unwrap();
        assert_eq!(from_resource.service(), "ledger");
    }

    #[test]
    fn resource_attributes_go_to_the_collector_with_the_service() {
        let config = Config::default()
            .with_vars(vars(&[(
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=ledger,deployment.environment=prod",
            )]))
            .unwrap();
        let resource = resource(&config);
        assert_eq!(resource.service_name, "ledger");
        assert_eq!(resource.pid, std::process::id());
        assert_eq!(resource.attributes.len(), 1);
        assert_eq!(resource.attributes[0].key, "deployment.environment");
        assert_eq!(
            resource.attributes[0].value,
            Some(proto::AnyValue {
                value: Some(proto::any_value::Value::StringValue("prod".into()))
            })
        );
    }

    #[test]
    fn bad_variables_are_errors_that_name_them() {
        let error = Config::default()
            .with_vars(vars(&[("DAPPLE_SAMPLE", "lots")]))
            .unwrap_err();
        assert_eq!(error.variable, "DAPPLE_SAMPLE");
        assert_eq!(
            error.to_string(),
            "DAPPLE_SAMPLE=\"lots\": expected a probability from 0.0 to 1.0"
        );
        for (variable, value) in [
            ("DAPPLE_COLLECTOR", "nowhere"),
            ("DAPPLE_BUFFER_BYTES", "-3"),
            ("DAPPLE_SAMPLE", "1.5"),
            ("DAPPLE_ENDPOINT", ""),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key"),
            ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
        ] {
            let error = Config::default()
                .with_vars(vars(&[(variable, value)]))
                .unwrap_err();
            assert_eq!(error.variable, variable);
        }
    }

    #[test]
    fn the_otlp_variables_choose_otlp_and_its_endpoint_and_headers() {
        let defaults = Config::default().with_vars(vars(&[])).unwrap();
        assert_eq!(defaults.protocol(), Protocol::Native);
        let config = Config::default()
            .with_vars(vars(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318/"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s%3Dcret, tenant=a"),
                ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "Tenant=b"),
            ]))
            .unwrap();
        assert_eq!(config.protocol(), Protocol::OtlpHttp);
        assert_eq!(config.otlp_endpoint(), "http://otel:4318/v1/traces");
        assert_eq!(
            config.otlp_headers.0,
            [
                ("api-key".to_owned(), "s=cret".to_owned()),
                ("Tenant".to_owned(), "b".to_owned())
            ]
        );
        assert!(
            !format!("{config:?}").contains("s=cret"),
            "header values stay out of Debug"
        );
        let config = Config::default()
            .with_vars(vars(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://tempo:4318/custom",
                ),
            ]))
            .unwrap();
        assert_eq!(config.otlp_endpoint(), "http://tempo:4318/custom");
        let config = Config::default()
            .with_vars(vars(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]))
            .unwrap();
        assert_eq!(config.protocol(), Protocol::OtlpHttp);
        assert_eq!(config.otlp_endpoint(), DEFAULT_OTLP_ENDPOINT);
        let grpc = Config::default().with_vars(vars(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4317/"),
        ]));
        #[cfg(feature = "otlp-grpc")]
        {
            let grpc = grpc.unwrap();
            assert_eq!(grpc.protocol(), Protocol::OtlpGrpc);
            assert_eq!(grpc.otlp_endpoint(), "http://otel:4317", "no path for gRPC");
        }
        #[cfg(not(feature = "otlp-grpc"))]
        assert_eq!(grpc.unwrap_err().variable, "OTEL_EXPORTER_OTLP_PROTOCOL");
    }

    #[test]
    fn retroactive_sampling_is_set_by_its_variables() {
        assert_eq!(Config::default().retroactive(), None);
        let config = Config::default()
            .with_vars(vars(&[
                ("DAPPLE_SAMPLING", "retroactive"),
                ("DAPPLE_BASELINE", "0.05"),
                ("DAPPLE_RING_BYTES", "1048576"),
                ("DAPPLE_RING_AGE", "10s"),
                ("DAPPLE_SLOW", "500ms"),
                ("DAPPLE_SLOW_NAMES", "GET /checkout=200ms, load_user=1.5ms"),
            ]))
            .unwrap();
        let expected = Retroactive::default()
            .with_baseline(0.05)
            .with_ring_bytes(1 << 20)
            .with_ring_age(Duration::from_secs(10))
            .with_slow(Duration::from_millis(500))
            .with_slow_name("GET /checkout", Duration::from_millis(200))
            .with_slow_name("load_user", Duration::from_micros(1500));
        assert_eq!(config.retroactive(), Some(&expected));
        // Head sampling ignores the retroactive variables.
        let head = Config::default()
            .with_vars(vars(&[("DAPPLE_SAMPLING", "head"), ("DAPPLE_SLOW", "1s")]))
            .unwrap();
        assert_eq!(head.retroactive(), None);
        for (variable, value) in [
            ("DAPPLE_SAMPLING", "tail"),
            ("DAPPLE_BASELINE", "2"),
            ("DAPPLE_RING_AGE", "soon"),
            ("DAPPLE_SLOW_NAMES", "load_user"),
        ] {
            let mut set = vec![(variable, value)];
            if variable != "DAPPLE_SAMPLING" {
                set.push(("DAPPLE_SAMPLING", "retroactive"));
            }
            let error = Config::default().with_vars(vars(&set)).unwrap_err();
            assert_eq!(error.variable, variable, "{error}");
        }
    }

    #[test]
    fn the_opentelemetry_sampler_variables_set_the_sample_rate() {
        let rate = |pairs: &[(&str, &str)]| {
            Config::default()
                .with_vars(vars(pairs))
                .unwrap()
                .sample_rate()
        };
        assert_eq!(rate(&[("OTEL_TRACES_SAMPLER", "always_off")]), 0.0);
        assert_eq!(
            rate(&[("OTEL_TRACES_SAMPLER", "parentbased_always_on")]),
            1.0
        );
        assert_eq!(
            rate(&[
                ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.25")
            ]),
            0.25
        );
        assert_eq!(
            rate(&[
                ("OTEL_TRACES_SAMPLER", "always_off"),
                ("DAPPLE_SAMPLE", "0.5")
            ]),
            0.5,
            "DAPPLE_SAMPLE wins"
        );
        let error = Config::default()
            .with_vars(vars(&[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "2"),
            ]))
            .unwrap_err();
        assert_eq!(error.variable, "OTEL_TRACES_SAMPLER_ARG");
    }

    #[test]
    fn a_token_goes_to_otlp_as_a_bearer_header_unless_one_was_set() {
        let config = Config::default()
            .with_vars(vars(&[("DAPPLE_TOKEN", " s3cret-t0ken\n")]))
            .unwrap();
        assert_eq!(config.token, Some(Token("s3cret-t0ken".to_owned())));
        assert!(
            !format!("{config:?}").contains("s3cret"),
            "the token stays out of Debug"
        );
        #[cfg(feature = "otlp")]
        {
            assert_eq!(
                config.otlp_headers(),
                [("authorization".to_owned(), "Bearer s3cret-t0ken".to_owned())]
            );
            let explicit = Config::default()
                .with_token("s3cret-t0ken")
                .with_otlp_header("Authorization", "Basic YTpi");
            assert_eq!(
                explicit.otlp_headers(),
                [("Authorization".to_owned(), "Basic YTpi".to_owned())]
            );
        }
        assert!(
            Config::default()
                .with_vars(vars(&[("DAPPLE_TOKEN", " ")]))
                .unwrap()
                .token
                .is_none()
        );
    }

    #[test]
    fn a_token_a_bearer_header_cannot_carry_is_an_error_that_does_not_show_it() {
        for token in ["two words", "line\nbreak", "caf\u{e9}", "semi;colon"] {
            let error = Config::default()
                .with_vars(vars(&[("DAPPLE_TOKEN", token)]))
                .unwrap_err();
            assert_eq!(error.variable, "DAPPLE_TOKEN");
            assert_eq!(error.value, "<redacted>");
            assert!(
                error.reason.contains("letters, digits and -._~+/="),
                "{error}"
            );
            let error = try_init(Config::default().with_token(token)).unwrap_err();
            assert_eq!(error.variable, "DAPPLE_TOKEN");
        }
        let guard = init(Config::default().with_token("two words"));
        assert!(!guard.reporting, "a refused config reports nothing");
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn a_ca_file_without_the_tls_feature_is_an_error() {
        let error = Config::default()
            .with_vars(vars(&[("DAPPLE_CA_FILE", "/etc/dapple/ca.pem")]))
            .unwrap_err();
        assert_eq!(error.variable, "DAPPLE_CA_FILE");
        assert!(error.reason.contains("`tls` feature"), "{error}");
        let error = try_init(Config::default().with_ca_file("/etc/dapple/ca.pem")).unwrap_err();
        assert!(error.reason.contains("`tls` feature"), "{error}");
        #[cfg(feature = "otlp")]
        {
            let error = Config::default()
                .with_vars(vars(&[(
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    "https://otel:4318",
                )]))
                .unwrap_err();
            assert_eq!(error.variable, "OTEL_EXPORTER_OTLP_ENDPOINT");
            assert!(error.reason.contains("`tls` feature"), "{error}");
        }
    }

    #[cfg(feature = "tls")]
    mod tls {
        use super::*;
        use crate::export::tls_testing::{Pki, TempFile};

        #[test]
        fn the_ca_file_comes_from_dapple_ca_file_or_the_opentelemetry_variables() {
            let pki = Pki::new(&["127.0.0.1"]);
            let (dapple, otel, traces) = (pki.ca_file(), pki.ca_file(), pki.ca_file());
            let path = |file: &TempFile| file.path().to_str().unwrap().to_owned();
            let ca = |pairs: &[(&str, &str)]| {
                let config = Config::default().with_vars(vars(pairs)).unwrap();
                config.ca_file().map(Path::to_path_buf)
            };
            assert_eq!(ca(&[]), None);
            assert_eq!(
                ca(&[("DAPPLE_CA_FILE", &path(&dapple))]),
                Some(dapple.path().to_owned())
            );
            assert_eq!(
                ca(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", &path(&otel))]),
                Some(otel.path().to_owned())
            );
            assert_eq!(
                ca(&[
                    ("OTEL_EXPORTER_OTLP_CERTIFICATE", &path(&otel)),
                    ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", &path(&traces)),
                ]),
                Some(traces.path().to_owned())
            );
            assert_eq!(
                ca(&[
                    ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", &path(&traces)),
                    ("DAPPLE_CA_FILE", &path(&dapple)),
                ]),
                Some(dapple.path().to_owned()),
                "DAPPLE_CA_FILE wins"
            );
            let checked = Config::default()
                .with_ca_file(dapple.path())
                .check()
                .unwrap();
            assert_eq!(checked.ca.unwrap().certs.len(), 1);
            assert!(matches!(
                checked.server_name,
                Some(rustls::pki_types::ServerName::IpAddress(_))
            ));
        }

        #[test]
        fn a_ca_file_that_cannot_be_used_is_an_error_that_names_it() {
            let not_pem = TempFile::new(b"hello, world\n");
            // Another kind of PEM block: no certificate among them.
            let request_only = TempFile::new(
                b"-----BEGIN CERTIFICATE REQUEST-----\naGVsbG8sIHdvcmxk\n-----END CERTIFICATE REQUEST-----\n",
            );
            let broken = TempFile::new(
                b"-----BEGIN CERTIFICATE-----\n!!! not base64 !!!\n-----END CERTIFICATE-----\n",
            );
            let not_a_cert = TempFile::new(
                b"-----BEGIN CERTIFICATE-----\naGVsbG8sIHdvcmxk\n-----END CERTIFICATE-----\n",
            );
            let missing = std::env::temp_dir().join("dapple-no-such-ca.pem");
            let cases = [
                (
                    "DAPPLE_CA_FILE",
                    missing.as_path(),
                    "cannot read the CA file",
                ),
                ("DAPPLE_CA_FILE", not_pem.path(), "no certificate"),
                (
                    "OTEL_EXPORTER_OTLP_CERTIFICATE",
                    request_only.path(),
                    "no certificate",
                ),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                    broken.path(),
                    "not a PEM file",
                ),
                ("DAPPLE_CA_FILE", not_a_cert.path(), "cannot be a root"),
            ];
            for (variable, path, reason) in cases {
                let text = path.to_str().unwrap();
                let error = Config::default()
                    .with_vars(vars(&[(variable, text)]))
                    .unwrap_err();
                assert_eq!(error.variable, variable);
                assert_eq!(error.value, text);
                assert!(error.reason.contains(reason), "{error}");
                let error = try_init(Config::default().with_ca_file(path)).unwrap_err();
                assert_eq!(error.variable, "DAPPLE_CA_FILE");
                assert!(error.reason.contains(reason), "{error}");
            }
        }

        #[test]
        fn with_a_ca_file_endpoints_must_be_checkable() {
            let pki = Pki::new(&["127.0.0.1"]);
            let file = pki.ca_file();
            let ca = file.path().to_str().unwrap();
            let error = Config::default()
                .with_vars(vars(&[
                    ("DAPPLE_CA_FILE", ca),
                    ("DAPPLE_ENDPOINT", "not a host:7701"),
                ]))
                .unwrap_err();
            assert_eq!(error.variable, "DAPPLE_ENDPOINT");
            #[cfg(feature = "otlp")]
            {
                let error = Config::default()
                    .with_vars(vars(&[
                        ("DAPPLE_CA_FILE", ca),
                        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318"),
                    ]))
                    .unwrap_err();
                assert_eq!(error.variable, "OTEL_EXPORTER_OTLP_ENDPOINT");
                assert!(error.reason.contains("https://"), "{error}");
                let https = Config::default()
                    .with_vars(vars(&[
                        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca),
                        (
                            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                            "https://otel:4318/v1/traces",
                        ),
                    ]))
                    .unwrap();
                assert_eq!(https.otlp_endpoint(), "https://otel:4318/v1/traces");
                let error = try_init(
                    Config::default()
                        .with_ca_file(file.path())
                        .with_otlp_endpoint("http://otel:4318/v1/traces"),
                )
                .unwrap_err();
                assert_eq!(error.variable, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
            }
        }
    }
}
