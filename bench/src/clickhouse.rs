//! A ClickHouse server for `collector_figures`: Debian's `clickhouse-server`
//! (or upstream's `clickhouse server`), started on loopback with a config
//! and data directory of its own under the temporary directory, killed and
//! the directory removed when dropped. The config is the one the tests
//! write (`tests/tests/support/clickhouse.rs`), with room for the bench's
//! queries (a memory bound of 8 GB per query instead of 2 GB).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server gets to answer `/ping`.
const PATIENCE: Duration = Duration::from_secs(60);

/// A ClickHouse server on free loopback ports, killed when dropped.
#[derive(Debug)]
pub struct ClickHouse {
    child: Child,
    /// The base URL of its HTTP interface, `http://127.0.0.1:PORT`.
    pub url: String,
    dir: PathBuf,
    agent: ureq::Agent,
}

impl ClickHouse {
    /// The server program (`DAPPLE_CLICKHOUSE`, else `clickhouse-server` in
    /// `/usr/sbin` or on `PATH`, else `clickhouse` on `PATH`) and whether
    /// it is upstream's single binary, which wants `server` first.
    pub fn find() -> Option<(PathBuf, bool)> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")];
        dirs.extend(std::env::split_paths(&path));
        let on_path = |name: &str| dirs.iter().map(|d| d.join(name)).find(|p| p.is_file());
        let program = match std::env::var_os("DAPPLE_CLICKHOUSE") {
            Some(program) => Some(PathBuf::from(program)).filter(|p| p.is_file()),
            None => on_path("clickhouse-server").or_else(|| on_path("clickhouse")),
        }?;
        let single = program.file_name().is_some_and(|n| n == "clickhouse");
        Some((program, single))
    }

    /// Starts `program` in a fresh directory and waits for `/ping`.
    pub fn start(program: &Path, single: bool) -> Result<ClickHouse, String> {
        let dir =
            std::env::temp_dir().join(format!("dapple-figures-clickhouse-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let [http, tcp, interserver] = free_ports();
        let config = dir.join("config.xml");
        std::fs::write(&config, config_xml(&dir, http, tcp, interserver))
            .and_then(|()| std::fs::write(dir.join("users.xml"), USERS_XML))
            .map_err(|e| format!("the config: {e}"))?;
        let mut command = Command::new(program);
        if single {
            command.arg("server");
        }
        let child = command
            .arg(format!("--config-file={}", config.display()))
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{} does not run: {e}", program.display()))?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        let mut server = ClickHouse {
            child,
            url: format!("http://127.0.0.1:{http}"),
            dir,
            agent,
        };
        let ping: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        let begun = Instant::now();
        loop {
            let answer = ping
                .get(&format!("{}/ping", server.url))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok());
            if answer.as_deref() == Some("Ok.\n") {
                return Ok(server);
            }
            let exited = server.child.try_wait().ok().flatten();
            if exited.is_some() || begun.elapsed() > PATIENCE {
                return Err(format!(
                    "{} did not answer ({exited:?}); its error log:\n{}",
                    program.display(),
                    std::fs::read_to_string(server.dir.join("log/server.err.log"))
                        .unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `sql` and returns the answer as text (bytes that are not UTF-8
    /// replaced); panics when refused.
    pub fn query(&self, sql: &str) -> String {
        let mut response = self
            .agent
            .post(&format!("{}/", self.url))
            .send(sql)
            .expect("ClickHouse answers");
        let status = response.status();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut response.body_mut().as_reader(), &mut body)
            .expect("ClickHouse's answer");
        let text = String::from_utf8_lossy(&body).into_owned();
        assert!(status.is_success(), "{sql}: {status} {text}");
        text
    }

    /// The server's process id (for its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the statements that began at or after `since` (Unix seconds)
    /// did, by kind (`insert`, `select`, other), from `system.query_log`:
    /// how many, ClickHouse's time in them, rows written and read.
    pub fn statements_since(&self, since: u64) -> Vec<(String, u64, f64, u64, u64)> {
        self.query("SYSTEM FLUSH LOGS");
        let rows = self.query(&format!(
            "SELECT multiIf(query LIKE 'INSERT%', 'insert', query LIKE 'SELECT%', 'select', 'other')
                    AS kind, count(), sum(query_duration_ms), sum(written_rows), sum(read_rows)
             FROM system.query_log
             WHERE type = 2 AND query_start_time >= toDateTime({since})
               AND query NOT LIKE '%system.%'
             GROUP BY kind ORDER BY kind FORMAT TSV"
        ));
        rows.lines()
            .map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                let number = |i: usize| f.get(i).and_then(|n| n.parse().ok()).unwrap_or(0);
                (
                    f[0].to_owned(),
                    number(1),
                    number(2) as f64 / 1e3,
                    number(3),
                    number(4),
                )
            })
            .collect()
    }

    /// Waits until no merge has run for a second (or `patience` passed):
    /// what the inserts left for the background is then done.
    pub fn settle(&self, patience: Duration) {
        let begun = Instant::now();
        let mut quiet = 0;
        while quiet < 4 && begun.elapsed() < patience {
            std::thread::sleep(Duration::from_millis(250));
            if self.query("SELECT count() FROM system.merges").trim() == "0" {
                quiet += 1;
            } else {
                quiet = 0;
            }
        }
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three ports free on loopback right now.
fn free_ports() -> [u16; 3] {
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    let port = |i: usize| listeners[i].local_addr().expect("its address").port();
    [port(0), port(1), port(2)]
}

/// The tests' config (loopback only, everything under `dir`, UTC), which
/// 18.16 and current releases both read.
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

/// `default` without a password, from loopback only.
const USERS_XML: &str = r#"<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>8000000000</max_memory_usage>
            <log_queries>1</log_queries>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default></default>
    </quotas>
</yandex>
"#;
