//! A real ClickHouse server for the tests that need one: `dapple-testkit`'s
//! harness, or a skip. Include with
//! `#[path = "support/clickhouse.rs"] mod clickhouse;`.
//!
//! Without the binary a test prints a skip notice and passes, except under
//! `CI=true`, where it fails (`.ci/run` installs the package), as the
//! browser tests do without Chromium.

#![allow(dead_code)] // each test file uses a part

use std::io::Write;
use std::ops::Deref;

use dapple_testkit::clickhouse::{self as harness, Options, ServerBinary};

/// A user with a password, besides `default` (which has none).
pub const USER: &str = harness::USER;
/// [`USER`]'s password.
pub const PASSWORD: &str = harness::PASSWORD;

/// A server started for a test; the harness's server (`url`, `query`,
/// `started_in`, ...) through `Deref`.
#[derive(Debug)]
pub struct ClickHouse(harness::ClickHouse);

impl ClickHouse {
    /// Starts a server, or `None` (after a skip notice) when this machine has
    /// none; see [`find`]. Fails the test when the server does not start.
    pub fn start(test: &str) -> Option<ClickHouse> {
        let binary = find(test)?;
        match harness::ClickHouse::start(&binary, Options::default()) {
            Ok(server) => Some(ClickHouse(server)),
            Err(why) => panic!("clickhouse-server did not start:\n{why}"),
        }
    }
}

impl Deref for ClickHouse {
    type Target = harness::ClickHouse;

    fn deref(&self) -> &harness::ClickHouse {
        &self.0
    }
}

/// The server (see [`ServerBinary::find`]). Without it: under `CI=true` a
/// failure, since `.ci/run` installs it; elsewhere a skip notice naming
/// `test`, and `None`.
pub fn find(test: &str) -> Option<ServerBinary> {
    if let Some(binary) = ServerBinary::find() {
        return Some(binary);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "CI=true but clickhouse-server is missing: \
             `apt-get install -y clickhouse-server` (as .ci/run does)"
        );
    }
    // Straight to stderr, past the test harness's capture.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: clickhouse-server not found (apt-get install clickhouse-server, \
         or DAPPLE_CLICKHOUSE=/path/to/clickhouse); set CI=true to make this a failure"
    );
    None
}
