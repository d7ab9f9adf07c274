//! The end-to-end benchmark: an axum server whose handler awaits ten nested
//! async fns, measured with tracing built out, sampled at 0, on with an
//! exporter that discards, and on with a real collector in another process.
//! One executable plays every part: the driver starts itself again as each
//! server and as the collector, told which by [`ROLE`].

pub mod driver;
pub mod load;
pub mod process;
pub mod server;

use std::process::ExitCode;

/// The environment variable that makes the executable a server
/// (`server:<mode>`) or the collector (`collector`, with the collector's
/// own command line as arguments) instead of the driver.
pub const ROLE: &str = "DAPPLE_E2E_ROLE";

/// The collector's native address, for the servers that report to it.
pub const ENDPOINT: &str = "DAPPLE_E2E_ENDPOINT";

/// Spans one request makes when traced: the server span and ten nested fns.
pub const SPANS_PER_REQUEST: u64 = 11;

/// How the server is built and what happens to its spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No Dapple on the request path: no `#[traced]`, no layer, no `init`.
    BuiltOut,
    /// Traced code and layer, `dapple::init` with sample rate 0.
    SampleZero,
    /// Every request traced, batches dropped by an in-process exporter.
    Discard,
    /// Every request traced and reported to the collector process.
    Collector,
}

impl Mode {
    /// Every mode, in the order of the table.
    pub const ALL: [Mode; 4] = [
        Mode::BuiltOut,
        Mode::SampleZero,
        Mode::Discard,
        Mode::Collector,
    ];

    /// The name on the command line and in `ROLE`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::BuiltOut => "built-out",
            Mode::SampleZero => "sample-0",
            Mode::Discard => "discard",
            Mode::Collector => "collector",
        }
    }

    /// The mode of a name.
    pub fn from_name(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|mode| mode.name() == name)
    }

    /// The service name its spans carry.
    pub fn service(self) -> String {
        format!("e2e-{}", self.name())
    }
}

/// Plays the part `role` names; returns how it ended.
pub fn play(role: &str) -> ExitCode {
    // Die with the driver, however it ends (its guards cover all but a
    // signal such as Ctrl-C).
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; no memory is passed.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if role == "collector" {
        return dapple_collector::cli::main();
    }
    let mode = role.strip_prefix("server:").and_then(Mode::from_name);
    let Some(mode) = mode else {
        eprintln!("{ROLE}={role:?}: expected collector or server:<mode>");
        return ExitCode::FAILURE;
    };
    match server::run(mode, std::env::var(ENDPOINT).ok()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("e2e server {}: {e}", mode.name());
            ExitCode::FAILURE
        }
    }
}
