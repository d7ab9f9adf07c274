//! A real ClickHouse server: Debian's `clickhouse-server` (or upstream's
//! `clickhouse server`), started on free loopback ports with a config and
//! data directory of its own under the temporary directory, killed (and the
//! directory removed) when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server gets to answer `/ping`: it takes about a tenth of a
/// second here, far longer on a loaded CI machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// How long one [`ClickHouse::query`] may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(600);

/// A user with a password, besides `default` (which has none).
pub const USER: &str = "dapple_writer";
/// [`USER`]'s password.
pub const PASSWORD: &str = "s3cret pass";

/// How to run the server: the program and the arguments before the config.
#[derive(Clone, Debug)]
pub struct ServerBinary {
    program: PathBuf,
    /// `server` for upstream's single `clickhouse` binary.
    subcommand: Option<&'static str>,
}

impl ServerBinary {
    /// The server: `DAPPLE_CLICKHOUSE`, else `clickhouse-server` in Debian's
    /// `/usr/sbin` or on `PATH`, else `clickhouse` on `PATH`.
    pub fn find() -> Option<ServerBinary> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")];
        dirs.extend(std::env::split_paths(&path));
        let on_path = |name: &str| dirs.iter().map(|d| d.join(name)).find(|p| p.is_file());
        let program = match std::env::var_os("DAPPLE_CLICKHOUSE") {
            Some(program) => Some(PathBuf::from(program)).filter(|p| p.is_file()),
            None => on_path("clickhouse-server").or_else(|| on_path("clickhouse")),
        }?;
        let single = program.file_name().is_some_and(|n| n == "clickhouse");
        Some(ServerBinary {
            program,
            subcommand: single.then_some("server"),
        })
    }

    /// The program's path.
    pub fn program(&self) -> &Path {
        &self.program
    }
}

/// A cluster every server has in its config: two shards, both the server
/// itself, each in a database of its own ([`SHARD_DATABASES`]), for
/// `Distributed` tables (`Distributed(two_shards, '', table, key)`).
pub const SHARDED_CLUSTER: &str = "two_shards";

/// The databases of [`SHARDED_CLUSTER`]'s shards.
pub const SHARD_DATABASES: [&str; 2] = ["shard_1", "shard_2"];

/// How a server is set up.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Bytes one query may use (`max_memory_usage`).
    pub max_memory_usage: u64,
    /// Whether statements go to `system.query_log`, which
    /// [`ClickHouse::statements_since`] reads.
    pub log_queries: bool,
}

impl Default for Options {
    /// 2 GB a query, no query log.
    fn default() -> Options {
        Options {
            max_memory_usage: 2_000_000_000,
            log_queries: false,
        }
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
    agent: ureq::Agent,
    /// Its config, data and logs; removed after the process is gone.
    dir: tempfile::TempDir,
}

impl ClickHouse {
    /// Starts `binary` in a fresh directory and waits for `/ping`. Free ports
    /// are picked by binding and letting go, so another process may take one
    /// meanwhile: a server that fails is tried twice more on other ports.
    pub fn start(binary: &ServerBinary, options: Options) -> Result<ClickHouse, String> {
        let mut failures = Vec::new();
        for _ in 0..3 {
            match ClickHouse::try_start(binary, options) {
                Ok(server) => return Ok(server),
                Err(why) => failures.push(why),
            }
        }
        Err(failures.join("\n---\n"))
    }

    fn try_start(binary: &ServerBinary, options: Options) -> Result<ClickHouse, String> {
        let dir = tempfile::Builder::new()
            .prefix("dapple-clickhouse-")
            .tempdir()
            .map_err(|e| format!("a temporary directory: {e}"))?;
        let [http, tcp, interserver] = free_ports();
        let config = dir.path().join("config.xml");
        std::fs::write(&config, config_xml(dir.path(), http, tcp, interserver))
            .and_then(|()| std::fs::write(dir.path().join("users.xml"), users_xml(options)))
            .map_err(|e| format!("the config: {e}"))?;
        let begun = Instant::now();
        let child = Command::new(&binary.program)
            .args(binary.subcommand)
            .arg(format!("--config-file={}", config.display()))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{} does not run: {e}", binary.program.display()))?;
        let mut server = ClickHouse {
            child,
            url: format!("http://127.0.0.1:{http}"),
            started_in: Duration::ZERO,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(QUERY_TIMEOUT))
                .build()
                .into(),
            dir,
        };
        let ping: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        loop {
            let answer = ping
                .get(&format!("{}/ping", server.url))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok());
            if answer.as_deref() == Some("Ok.\n") {
                server.started_in = begun.elapsed();
                return Ok(server);
            }
            let exited = server.child.try_wait().ok().flatten();
            if exited.is_some() || begun.elapsed() > PATIENCE {
                // Dropping `server` kills it and removes its directory.
                return Err(format!(
                    "{} did not answer ({exited:?}, after {:?}); its error log:\n{}",
                    binary.program.display(),
                    begun.elapsed(),
                    std::fs::read_to_string(server.dir().join("log/server.err.log"))
                        .unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `sql` as `default` and returns the answer as text (bytes that
    /// are not UTF-8 replaced); panics when the server refuses it.
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

    /// Its directory (config, data, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the statements that began at or after `since` (Unix seconds)
    /// did, by kind (`insert`, `select`, other), from `system.query_log`
    /// (see [`Options::log_queries`]): how many, ClickHouse's time in them
    /// in seconds, rows written and read.
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
        // `dir` is removed when the field drops, after this.
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
    <remote_servers>
        <{SHARDED_CLUSTER}>
            <shard><replica>
                <host>127.0.0.1</host><port>{tcp}</port>
                <default_database>{shard_1}</default_database>
            </replica></shard>
            <shard><replica>
                <host>127.0.0.1</host><port>{tcp}</port>
                <default_database>{shard_2}</default_database>
            </replica></shard>
        </{SHARDED_CLUSTER}>
    </remote_servers>
</yandex>
"#,
        shard_1 = SHARD_DATABASES[0],
        shard_2 = SHARD_DATABASES[1],
    )
}

/// `default` without a password and [`USER`] with [`PASSWORD`], both from
/// loopback only, with `options`' profile.
fn users_xml(options: Options) -> String {
    let Options {
        max_memory_usage,
        log_queries,
    } = options;
    let log_queries = u8::from(log_queries);
    format!(
        r#"<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>{max_memory_usage}</max_memory_usage>
            <log_queries>{log_queries}</log_queries>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <{USER}>
            <password>{PASSWORD}</password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </{USER}>
    </users>
    <quotas>
        <default></default>
    </quotas>
</yandex>
"#
    )
}
