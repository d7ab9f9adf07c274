//! Child processes: the servers and the collector, each this executable
//! started again in another role, killed when their guard drops; and the
//! CPU time a process has used, from `/proc`.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{ENDPOINT, Mode, ROLE};

/// A child process, killed and reaped when dropped.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
    /// The first line it printed: its addresses.
    pub first_line: String,
}

impl ChildProcess {
    /// Starts `exe` in `role` with `args` and waits for its first line on
    /// stdout; the rest of its stdout goes to our stderr.
    pub fn start(
        exe: &Path,
        role: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> io::Result<ChildProcess> {
        let child = Command::new(exe)
            .args(args)
            .env(ROLE, role)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        // From here on the guard kills the child on every way out.
        let mut process = ChildProcess {
            child,
            first_line: String::new(),
        };
        let stdout = process.child.stdout.take().expect("stdout is piped");
        let mut stdout = BufReader::new(stdout);
        stdout.read_line(&mut process.first_line)?;
        if process.first_line.is_empty() {
            return Err(io::Error::other(format!("{role} exited before printing")));
        }
        let role = role.to_owned();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                eprintln!("[{role}] {line}");
            }
        });
        Ok(process)
    }

    /// The address after `key` in its first line.
    pub fn address(&self, key: &str) -> io::Result<SocketAddr> {
        self.first_line
            .split_whitespace()
            .find_map(|part| part.strip_prefix(key))
            .and_then(|address| address.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no {key} in {:?}", self.first_line)))
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The user and system CPU time it has used so far, in microseconds.
    pub fn cpu_micros(&self) -> io::Result<u64> {
        cpu_micros(self.pid())
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The user and system CPU time of every thread of process `pid`, living or
/// exited, in microseconds (`utime` + `stime` of `/proc/<pid>/stat`, in
/// clock ticks of usually 10 ms).
pub fn cpu_micros(pid: u32) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name is in parentheses and may hold spaces; the fields
    // after it start with the state (field 3), so utime (14) is the 12th.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| io::Error::other("no ')' in /proc/<pid>/stat"))?;
    let mut fields = after_name.split_whitespace().skip(11);
    let mut field = || -> io::Result<u64> {
        fields
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other("short /proc/<pid>/stat"))
    };
    let ticks = field()? + field()?;
    Ok(ticks * 1_000_000 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf reads a constant of the system; no memory is passed.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

/// The server of `mode`, and where it listens.
#[derive(Debug)]
pub struct Server {
    /// The process.
    pub process: ChildProcess,
    /// Its HTTP address.
    pub address: SocketAddr,
}

impl Server {
    /// Starts the server of `mode`, reporting to the collector at `endpoint`
    /// when the mode reports.
    pub fn start(exe: &Path, mode: Mode, endpoint: SocketAddr) -> io::Result<Server> {
        let endpoint = endpoint.to_string();
        let process = ChildProcess::start(
            exe,
            &format!("server:{}", mode.name()),
            &[(ENDPOINT, &endpoint)],
            &[],
        )?;
        let address = process.address("http=")?;
        Ok(Server { process, address })
    }
}

/// The real collector, in memory, on free loopback ports.
#[derive(Debug)]
pub struct Collector {
    /// The process.
    pub process: ChildProcess,
    /// Its native ingest, for `dapple::init`.
    pub native: SocketAddr,
    /// Its HTTP query API.
    pub http: SocketAddr,
}

impl Collector {
    /// Starts `dapple-collector serve --store memory` at its default
    /// bounds: over a run it evicts as much as it stores, as a collector
    /// that has run for a while does (spans are counted as they are
    /// accepted, see [`Collector::accepted_spans`]).
    pub fn start(exe: &Path) -> io::Result<Collector> {
        let process = ChildProcess::start(
            exe,
            "collector",
            &[],
            &[
                "serve",
                "--store",
                "memory",
                "--http",
                "127.0.0.1:0",
                "--native",
                "127.0.0.1:0",
                "--log-level",
                "warn",
            ],
        )?;
        let native = process.address("native=")?;
        let http = process.address("http=")?;
        Ok(Collector {
            process,
            native,
            http,
        })
    }

    /// `GET path` on the query API: the status and the JSON body.
    fn get(&self, path: &str) -> io::Result<(u16, serde_json::Value)> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent
            .get(&format!("http://{}{path}", self.http))
            .call()
            .map_err(|e| io::Error::other(format!("GET {path}: {e}")))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(io::Error::other)?;
        let json = serde_json::from_str(&body)
            .map_err(|e| io::Error::other(format!("GET {path}: {e} in {body:?}")))?;
        Ok((status, json))
    }

    /// `GET path` on the query API, expecting 200.
    fn get_ok(&self, path: &str) -> io::Result<serde_json::Value> {
        match self.get(path)? {
            (200, json) => Ok(json),
            (status, json) => Err(io::Error::other(format!("GET {path}: {status} {json}"))),
        }
    }

    /// The spans of `service` the collector accepted since it started
    /// (`GET /api/ingest`), whether or not it still holds them.
    pub fn accepted_spans(&self, service: &str) -> io::Result<u64> {
        let json = self.get_ok("/api/ingest")?;
        Ok(json["accepted_spans"][service].as_u64().unwrap_or(0))
    }

    /// The spans the servers of `service` said they dropped because their
    /// memory bound was reached (`GET /api/services`).
    pub fn dropped_spans(&self, service: &str) -> io::Result<u64> {
        let json = self.get_ok("/api/services")?;
        Ok(json["dropped_spans"][service].as_u64().unwrap_or(0))
    }

    /// Waits until the spans of `service` the collector accepted, and
    /// those the servers said they dropped, add up to `expected`, or until
    /// neither has moved for `patience`; returns both.
    pub fn await_spans(
        &self,
        service: &str,
        expected: u64,
        patience: Duration,
    ) -> io::Result<(u64, u64)> {
        let count = || -> io::Result<(u64, u64)> {
            Ok((self.accepted_spans(service)?, self.dropped_spans(service)?))
        };
        let mut counts = count()?;
        let mut moved = Instant::now();
        while counts.0 + counts.1 < expected && moved.elapsed() < patience {
            std::thread::sleep(Duration::from_millis(100));
            let now = count()?;
            if now != counts {
                moved = Instant::now();
                counts = now;
            }
        }
        Ok(counts)
    }
}
