//! The driver: starts the collector and one server per mode, puts load on
//! each mode in turn, round after round with the order rotated, and reads
//! back from the collector the spans it accepted.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::Duration;

use super::load::{self, Amount, Window};
use super::process::{Collector, Server};
use super::{Mode, SPANS_PER_REQUEST};

/// What to run.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Rounds; each measures every mode once.
    pub rounds: usize,
    /// The load of one mode in one round.
    pub window: Amount,
    /// Unmeasured load on each mode before the first round.
    pub warmup: Amount,
    /// Keep-alive connections to the server.
    pub connections: usize,
}

/// One mode's windows.
#[derive(Clone, Debug)]
pub struct ModeRun {
    /// The mode.
    pub mode: Mode,
    /// The warm-up window.
    pub warmup: Window,
    /// The measured windows, one per round.
    pub rounds: Vec<Window>,
}

impl ModeRun {
    fn windows(&self) -> impl Iterator<Item = &Window> {
        std::iter::once(&self.warmup).chain(&self.rounds)
    }

    /// Requests answered with 200, warm-up included.
    pub fn answered(&self) -> u64 {
        self.windows().map(|w| w.ok).sum()
    }

    /// Requests answered otherwise or not at all, warm-up included.
    pub fn failed(&self) -> u64 {
        self.windows().map(|w| w.failed).sum()
    }

    /// The median over rounds of answered requests per second.
    pub fn requests_per_second(&self) -> f64 {
        median(self.rounds.iter().map(Window::requests_per_second))
    }

    /// The median over rounds of the server's CPU µs per request.
    pub fn cpu_micros_per_request(&self) -> f64 {
        median(self.rounds.iter().map(Window::cpu_micros_per_request))
    }
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// Every mode, in the order of [`Mode::ALL`].
    pub modes: Vec<ModeRun>,
    /// Spans the collector mode's requests should have made.
    pub expected_spans: u64,
    /// Spans of the collector mode's service the collector accepted.
    pub received_spans: u64,
    /// Spans of the sample-0 mode's service the collector accepted (none).
    pub sample_zero_spans: u64,
    /// Spans the collector mode's server dropped at its memory bound and
    /// told the collector of.
    pub dropped_spans: u64,
    /// The collector process's CPU time from its start to the end of the
    /// last round (before the queries), in µs.
    pub collector_cpu_micros: u64,
}

impl Report {
    /// Spans neither received nor counted as dropped.
    pub fn lost_spans(&self) -> u64 {
        self.expected_spans
            .saturating_sub(self.received_spans + self.dropped_spans)
    }

    /// The run of `mode`.
    pub fn mode(&self, mode: Mode) -> &ModeRun {
        self.modes
            .iter()
            .find(|run| run.mode == mode)
            .expect("every mode runs")
    }
}

/// Runs `plan` with the servers and the collector started from `exe`;
/// `progress` hears of every measured window.
pub fn run(exe: &Path, plan: &Plan, mut progress: impl FnMut(&str)) -> io::Result<Report> {
    let collector = Collector::start(exe)?;
    let collector_cpu_before = collector.process.cpu_micros()?;
    let servers = Mode::ALL
        .iter()
        .map(|&mode| Server::start(exe, mode, collector.native))
        .collect::<io::Result<Vec<_>>>()?;
    let measure = |server: &Server, amount| {
        load::run(server.address, plan.connections, amount, || {
            server.process.cpu_micros()
        })
    };
    let mut runs = Vec::new();
    for (&mode, server) in Mode::ALL.iter().zip(&servers) {
        runs.push(ModeRun {
            mode,
            warmup: measure(server, plan.warmup)?,
            rounds: Vec::new(),
        });
    }
    for round in 0..plan.rounds {
        for turn in 0..Mode::ALL.len() {
            let index = (round + turn) % Mode::ALL.len();
            let window = measure(&servers[index], plan.window)?;
            progress(&format!(
                "round {} {:<10} {:>9.0} req/s {:>8.1} us/req ({} answered, {} failed, {:.2} s)",
                round + 1,
                Mode::ALL[index].name(),
                window.requests_per_second(),
                window.cpu_micros_per_request(),
                window.ok,
                window.failed,
                window.elapsed.as_secs_f64(),
            ));
            runs[index].rounds.push(window);
        }
    }
    // Read before any query: the dropped-span count (`GET /api/services`)
    // scans the store, which costs more than ingest. The pause lets the
    // last batches in.
    std::thread::sleep(Duration::from_millis(300));
    let collector_cpu_micros = collector.process.cpu_micros()? - collector_cpu_before;
    let collected = runs
        .iter()
        .find(|run| run.mode == Mode::Collector)
        .expect("every mode runs");
    let expected_spans = collected.answered() * SPANS_PER_REQUEST;
    let (received_spans, dropped_spans) = collector.await_spans(
        &Mode::Collector.service(),
        expected_spans,
        Duration::from_secs(10),
    )?;
    Ok(Report {
        modes: runs,
        expected_spans,
        received_spans,
        sample_zero_spans: collector.accepted_spans(&Mode::SampleZero.service())?,
        dropped_spans,
        collector_cpu_micros,
    })
}

/// The table of medians over rounds, with ratios to built-out.
pub fn table(report: &Report) -> String {
    let base = report.mode(Mode::BuiltOut);
    let (base_rate, base_cpu) = (base.requests_per_second(), base.cpu_micros_per_request());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:>9} {:>7} {:>12} {:>7} {:>14}",
        "mode", "req/s", "x base", "cpu us/req", "x base", "+cpu ns/span"
    );
    for run in &report.modes {
        let (rate, cpu) = (run.requests_per_second(), run.cpu_micros_per_request());
        let added = if run.mode == Mode::BuiltOut {
            "-".to_owned()
        } else {
            format!(
                "{:+.0}",
                (cpu - base_cpu) * 1000.0 / SPANS_PER_REQUEST as f64
            )
        };
        let _ = writeln!(
            out,
            "{:<10} {:>9.0} {:>7.2} {:>12.1} {:>7.2} {:>14}",
            run.mode.name(),
            rate,
            rate / base_rate,
            cpu,
            cpu / base_cpu,
            added,
        );
    }
    let _ = writeln!(
        out,
        "collector: received {} of {} spans ({} per request); {} dropped at the server's memory bound; {} from sample-0",
        report.received_spans,
        report.expected_spans,
        SPANS_PER_REQUEST,
        report.dropped_spans,
        report.sample_zero_spans,
    );
    let _ = writeln!(
        out,
        "collector process: {:.0} ns CPU per span ingested (not counted above)",
        report.collector_cpu_micros as f64 * 1000.0 / report.expected_spans.max(1) as f64,
    );
    out
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}
