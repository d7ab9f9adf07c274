//! A real ClickHouse server for the tests that need one: Debian's
//! `clickhouse-server` (or upstream's `clickhouse server`), started on
//! loopback with a config and data directory of its own under a temporary
//! directory, and killed (the directory removed) when dropped. Include with
//! `#[path = "support/clickhouse.rs"] mod clickhouse;`.
//!
//! Without the binary a test prints a skip notice and passes, except under
//! `CI=true`, where it fails (`.ci/run` installs the package), as the
//! browser tests do without Chromium.

#![allow(dead_code)] // each test file uses a part

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server gets to answer `/ping`: it takes about a tenth of a
/// second here, far longer on a loaded CI machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// How to run the server: the program and the arguments before the config.
#[derive(Clone, Debug)]
pub struct ServerBinary {
    program: PathBuf,
    /// `server` for upstream's single `clickhouse` binary.
    subcommand: Option<&'static str>,
}

impl ServerBinary {
    /// The server (`DAPPLE_CLICKHOUSE`, else `clickhouse-server` in Debian's
    /// `/usr/sbin` or on `PATH`, else `clickhouse` on `PATH`). Without it:
    /// under `CI=true` a failure, since `.ci/run` installs it; elsewhere a
    /// skip notice naming `test`, and `None`.
    pub fn find(test: &str) -> Option<ServerBinary> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")];
        dirs.extend(std::env::split_paths(&path));
        let on_path = |name: &str| dirs.iter().map(|d| d.join(name)).find(|p| p.is_file());
        let found = match std::env::var_os("DAPPLE_CLICKHOUSE") {
            Some(program) => Some(PathBuf::from(program)).filter(|p| p.is_file()),
            None => on_path("clickhouse-server").or_else(|| on_path("clickhouse")),
        };
        if let Some(program) = found {
            let single = program.file_name().is_some_and(|n| n == "clickhouse");
            return Some(ServerBinary {
                program,
                subcommand: single.then_some("server"),
            });
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
}

/// A ClickHouse server on free loopback ports, killed when dropped.
#[derive(Debug)]
pub struct ClickHouse {
    child: Child,
    /// The base URL of its HTTP interface, `http://127.0.0.1:PORT`.
    pub url: String,
    /// How long it took from spawning to answering `/ping`.
    pub started_in: Duration,
    /// Its config, data and logs; removed after the process is gone.
    dir: tempfile::TempDir,
}

/// A user with a password, besides `default` (which has none).
pub const USER: &str = "dapple_writer";
/// [`USER`]'s password.
pub const PASSWORD: &str = "s3cret pass";

impl ClickHouse {
    /// Starts a server, or `None` (after a skip notice) when this machine has
    /// none; see [`ServerBinary::find`].
    pub fn start(test: &str) -> Option<ClickHouse> {
        let binary = ServerBinary::find(test)?;
        // Free ports are picked by binding and letting go: another process
        // may take one meanwhile, so a server that fails to start is tried
        // again on other ports.
        let mut failures = Vec::new();
        for _ in 0..3 {
            match ClickHouse::try_start(&binary) {
                Ok(server) => return Some(server),
                Err(why) => failures.push(why),
            }
        }
        panic!(
            "clickhouse-server did not start:\n{}",
            failures.join("\n---\n")
        );
    }

    fn try_start(binary: &ServerBinary) -> Result<ClickHouse, String> {
        let dir = tempfile::Builder::new()
            .prefix("dapple-clickhouse-")
            .tempdir()
            .expect("a temporary directory");
        let [http, tcp, interserver] = free_ports();
        let config = dir.path().join("config.xml");
        std::fs::write(&config, config_xml(dir.path(), http, tcp, interserver))
            .expect("the config is written");
        std::fs::write(dir.path().join("users.xml"), USERS_XML).expect("the users are written");
        let mut command = Command::new(&binary.program);
        command.args(binary.subcommand);
        let begun = Instant::now();
        let mut child = command
            .arg(format!("--config-file={}", config.display()))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{} does not run: {e}", binary.program.display()))?;
        let url = format!("http://127.0.0.1:{http}");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        loop {
            let answer = agent
                .get(&format!("{url}/ping"))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok());
            if answer.as_deref() == Some("Ok.\n") {
                return Ok(ClickHouse {
                    child,
                    url,
                    started_in: begun.elapsed(),
                    dir,
                });
            }
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || begun.elapsed() > PATIENCE {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} ({exited:?}, after {:?}); its error log:\n{}",
                    binary.program.display(),
                    begun.elapsed(),
                    std::fs::read_to_string(dir.path().join("log/server.err.log"))
                        .unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `sql` as `default` and returns the answer as text (bytes that
    /// are not UTF-8 replaced); fails the test when the server refuses it.
    pub fn query(&self, sql: &str) -> String {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent
            .post(&format!("{}/", self.url))
            .send(sql)
            .expect("ClickHouse answers");
        let status = response.status();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut response.body_mut().as_reader(), &mut body)
            .expect("a body");
        let text = String::from_utf8_lossy(&body).into_owned();
        assert!(status.is_success(), "{sql}: {status} {text}");
        text
    }

    /// Its directory (config, data, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three ports free on loopback right now.
fn free_ports() -> [u16; 3] {
    // All bound at once, so that the three differ.
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    let port = |i: usize| listeners[i].local_addr().expect("its address").port();
    [port(0), port(1), port(2)]
}

/// A config for 18.16 and current releases alike (both read `<yandex>` as
/// the root): loopback only, everything under `dir`, small caches, UTC.
fn config_xml(dir: &Path, http: u16, tcp: u16, interserver: u16) -> String {
    let dir = dir.display();
    format!(
        r#"<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>{dir}/log/server.log</log>
        <errorlog>{dir}/log/server.err.log</errorlog>
        <size>10M</size>
        <count>1</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>{http}</http_port>
    <tcp_port>{tcp}</tcp_port>
    <interserver_http_port>{interserver}</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <path>{dir}/data/</path>
    <tmp_path>{dir}/tmp/</tmp_path>
    <user_files_path>{dir}/user_files/</user_files_path>
    <format_schema_path>{dir}/format_schemas/</format_schema_path>
    <users_config>{dir}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mlock_executable>false</mlock_executable>
    <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
"#
    )
}

/// `default` without a password and [`USER`] with [`PASSWORD`], both from
/// loopback only.
const USERS_XML: &str = r#"<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <dapple_writer>
            <password>s3cret pass</password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </dapple_writer>
    </users>
    <quotas>
        <default></default>
    </quotas>
</yandex>
"#;
