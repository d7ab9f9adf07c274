//! Starting and stopping reporting for a process: `dapple::init`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use crate::export::{Reporter, ReporterConfig, TcpExporter};
use dapple_proto as proto;

/// How a process reports its spans. Build it from code, from `DAPPLE_*`
/// environment variables with [`Config::from_env`], or both.
///
/// | variable | default | meaning |
/// | --- | --- | --- |
/// | `DAPPLE_COLLECTOR` | `127.0.0.1:7701` | the collector's native TCP address |
/// | `DAPPLE_SERVICE` | the executable's name | `service.name` of this process |
/// | `DAPPLE_SAMPLE` | `1.0` | probability that a new trace is recorded |
/// | `DAPPLE_BUFFER_BYTES` | `67108864` (64 MiB) | memory for spans waiting for the collector |
#[derive(Clone, Debug)]
pub struct Config {
    /// The collector's native TCP address, `host:port`.
    pub collector: String,
    /// `service.name` of this process.
    pub service: String,
    /// `service.version` of this process.
    pub version: String,
    /// Probability, 0.0 to 1.0, that a new trace is recorded.
    pub sample_rate: f64,
    /// Memory, in bytes, for spans waiting for the collector (queued and
    /// unacknowledged each); past it whole batches are dropped and counted.
    pub buffer_bytes: usize,
    /// How long the guard's drop waits for the collector.
    pub flush_timeout: Duration,
    /// The largest frame sent.
    pub max_frame_bytes: usize,
}

/// A `DAPPLE_*` variable that could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{variable}={value:?}: {reason}")]
pub struct ConfigError {
    /// The variable.
    pub variable: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Default for Config {
    fn default() -> Config {
        let service = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "unknown_service".to_owned());
        Config {
            collector: "127.0.0.1:7701".to_owned(),
            service,
            version: String::new(),
            sample_rate: 1.0,
            buffer_bytes: 64 * 1024 * 1024,
            flush_timeout: Duration::from_secs(5),
            max_frame_bytes: proto::DEFAULT_MAX_FRAME_BYTES,
        }
    }
}

impl Config {
    /// The defaults, overridden by the `DAPPLE_*` variables that are set.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::default().with_vars(|name| std::env::var(name).ok())
    }

    /// The same, reading variables through `var` (for tests).
    fn with_vars(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        if let Some(collector) = var("DAPPLE_COLLECTOR") {
            if collector.trim().is_empty() || !collector.contains(':') {
                return Err(ConfigError {
                    variable: "DAPPLE_COLLECTOR",
                    value: collector,
                    reason: "expected host:port",
                });
            }
            self.collector = collector.trim().to_owned();
        }
        if let Some(service) = var("DAPPLE_SERVICE") {
            self.service = service;
        }
        if let Some(sample) = var("DAPPLE_SAMPLE") {
            self.sample_rate = match sample.trim().parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => p,
                _ => {
                    return Err(ConfigError {
                        variable: "DAPPLE_SAMPLE",
                        value: sample,
                        reason: "expected a probability from 0.0 to 1.0",
                    });
                }
            };
        }
        if let Some(bytes) = var("DAPPLE_BUFFER_BYTES") {
            self.buffer_bytes = match bytes.trim().parse::<usize>() {
                Ok(b) if b > 0 => b,
                _ => {
                    return Err(ConfigError {
                        variable: "DAPPLE_BUFFER_BYTES",
                        value: bytes,
                        reason: "expected a positive number of bytes",
                    });
                }
            };
        }
        Ok(self)
    }

    /// Sets the collector's address.
    pub fn collector(mut self, address: impl Into<String>) -> Config {
        self.collector = address.into();
        self
    }

    /// Sets the service name.
    pub fn service(mut self, name: impl Into<String>) -> Config {
        self.service = name.into();
        self
    }

    /// Sets the sample rate.
    pub fn sample_rate(mut self, probability: f64) -> Config {
        self.sample_rate = probability;
        self
    }

    /// Sets the memory bound.
    pub fn buffer_bytes(mut self, bytes: usize) -> Config {
        self.buffer_bytes = bytes;
        self
    }

    /// Sets how long dropping the guard waits for the collector.
    pub fn flush_timeout(mut self, timeout: Duration) -> Config {
        self.flush_timeout = timeout;
        self
    }
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
/// the collector at `config.collector`. Keep the guard alive for as long as
/// the program runs; dropping it flushes.
///
/// ```no_run
/// let tracing = dapple::init(dapple::Config::from_env().unwrap_or_default());
/// // ... traced work ...
/// drop(tracing); // flushes: waits for the collector's acknowledgements
/// ```
pub fn init(config: Config) -> Guard {
    crate::set_sample_rate(config.sample_rate);
    let resource = proto::Resource {
        service_name: config.service.clone(),
        host: hostname(),
        pid: std::process::id(),
        version: config.version.clone(),
    };
    let exporter = TcpExporter::new(
        config.collector.clone(),
        resource,
        config.max_frame_bytes,
        config.buffer_bytes,
    );
    let exporter_dropped = exporter.dropped_counter();
    let reporter = Reporter::install(
        exporter,
        ReporterConfig {
            max_queued_bytes: config.buffer_bytes,
        },
    );
    let previous = installed().replace(Installed {
        reporter: Arc::new(reporter),
        exporter_dropped,
    });
    // Stopped outside the lock: stopping flushes.
    drop(previous);
    install_panic_flush();
    Guard {
        timeout: config.flush_timeout,
        collector: config.collector,
    }
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
    collector: String,
}

impl Guard {
    /// The same as [`flush`].
    pub fn flush(&self, timeout: Duration) -> u64 {
        flush(timeout)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let undelivered = flush(self.timeout);
        if undelivered > 0 {
            eprintln!(
                "dapple: {undelivered} spans could not be delivered to the collector at {}",
                self.collector
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
                ("DAPPLE_COLLECTOR", "127.0.0.1:9000"),
                ("DAPPLE_SERVICE", "checkout"),
                ("DAPPLE_SAMPLE", "0.25"),
                ("DAPPLE_BUFFER_BYTES", "1048576"),
            ]))
            .unwrap();
        assert_eq!(config.collector, "127.0.0.1:9000");
        assert_eq!(config.service, "checkout");
        assert_eq!(config.sample_rate, 0.25);
        assert_eq!(config.buffer_bytes, 1 << 20);
        let defaults = Config::default().with_vars(vars(&[])).unwrap();
        assert_eq!(defaults.collector, "127.0.0.1:7701");
        assert_eq!(defaults.sample_rate, 1.0);
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
        ] {
            let error = Config::default()
                .with_vars(vars(&[(variable, value)]))
                .unwrap_err();
            assert_eq!(error.variable, variable);
        }
    }
}
