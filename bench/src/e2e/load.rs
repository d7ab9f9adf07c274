//! The load generator: keep-alive HTTP/1.1 connections, one thread each,
//! each sending a request and reading the whole answer before the next.
//! It runs in the driver, so its CPU time is not the server's.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// How much load one window puts on a server.
#[derive(Clone, Copy, Debug)]
pub enum Amount {
    /// Every connection sends requests until this much time has passed.
    For(Duration),
    /// This many requests, spread over the connections.
    #[allow(dead_code)] // the smoke test's amount
    Requests(u64),
}

/// What one window of load saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct Window {
    /// Answers with status 200.
    pub ok: u64,
    /// Other answers and broken connections.
    pub failed: u64,
    /// From the first request sent to the last answer read.
    pub elapsed: Duration,
    /// The server's CPU time over the same span, in microseconds.
    pub server_cpu_micros: u64,
}

impl Window {
    /// Answered requests per second.
    pub fn requests_per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The server's CPU time per answered request, in microseconds.
    pub fn cpu_micros_per_request(&self) -> f64 {
        self.server_cpu_micros as f64 / self.ok.max(1) as f64
    }
}

/// Opens `connections` connections to `address` and puts `amount` of load
/// on them; `server_cpu` reads the server's CPU time (µs) just before the
/// first request and just after the last answer.
pub fn run(
    address: SocketAddr,
    connections: usize,
    amount: Amount,
    server_cpu: impl Fn() -> io::Result<u64>,
) -> io::Result<Window> {
    let opened = (0..connections)
        .map(|_| Connection::open(address))
        .collect::<io::Result<Vec<_>>>()?;
    let start = Arc::new(Barrier::new(connections + 1));
    let threads: Vec<_> = opened
        .into_iter()
        .enumerate()
        .map(|(index, mut connection)| {
            let start = start.clone();
            let quota = match amount {
                Amount::For(_) => u64::MAX,
                Amount::Requests(n) => {
                    n / connections as u64 + u64::from((index as u64) < n % connections as u64)
                }
            };
            std::thread::spawn(move || {
                start.wait();
                let deadline = match amount {
                    Amount::For(duration) => Some(Instant::now() + duration),
                    Amount::Requests(_) => None,
                };
                let (mut ok, mut failed) = (0, 0);
                let mut seed = (index as u64) << 32;
                while ok + failed < quota && deadline.is_none_or(|d| Instant::now() < d) {
                    seed += 1;
                    match connection.get(seed) {
                        Ok(200) => ok += 1,
                        Ok(_) => failed += 1,
                        Err(_) => {
                            failed += 1;
                            break;
                        }
                    }
                }
                (ok, failed, connection)
            })
        })
        .collect();
    let cpu_before = server_cpu()?;
    start.wait();
    let began = Instant::now();
    let mut window = Window::default();
    let mut connections = Vec::new();
    for thread in threads {
        let (ok, failed, connection) = thread
            .join()
            .map_err(|_| io::Error::other("a load thread panicked"))?;
        window.ok += ok;
        window.failed += failed;
        connections.push(connection);
    }
    window.elapsed = began.elapsed();
    window.server_cpu_micros = server_cpu()?.saturating_sub(cpu_before);
    // Closed after the server's CPU was read.
    drop(connections);
    Ok(window)
}

/// One keep-alive HTTP/1.1 connection.
struct Connection {
    stream: TcpStream,
    host: String,
    request: Vec<u8>,
    answer: Vec<u8>,
}

impl Connection {
    fn open(address: SocketAddr) -> io::Result<Connection> {
        let stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Connection {
            stream,
            host: address.to_string(),
            request: Vec::with_capacity(128),
            answer: Vec::with_capacity(1024),
        })
    }

    /// `GET /chain/<seed>`: the answer's status, once all of it is read.
    fn get(&mut self, seed: u64) -> io::Result<u16> {
        self.request.clear();
        write!(
            self.request,
            "GET /chain/{seed} HTTP/1.1\r\nhost: {}\r\nuser-agent: dapple-e2e\r\n\r\n",
            self.host
        )?;
        self.stream.write_all(&self.request)?;
        self.answer.clear();
        let mut head_end = None;
        let mut chunk = [0u8; 4096];
        loop {
            let read = self.stream.read(&mut chunk)?;
            if read == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.answer.extend_from_slice(&chunk[..read]);
            if head_end.is_none() {
                head_end = self
                    .answer
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|p| p + 4);
            }
            if let Some(end) = head_end {
                let (status, length) = parse_head(&self.answer[..end])?;
                if self.answer.len() >= end + length {
                    return Ok(status);
                }
            }
        }
    }
}

/// The status and `content-length` of an answer's head.
fn parse_head(head: &[u8]) -> io::Result<(u16, usize)> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let head = std::str::from_utf8(head).map_err(|_| bad("answer head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .ok_or_else(|| bad("no content-length"))?;
    Ok((status, length))
}

#[cfg(test)]
mod tests {
    use super::parse_head;

    #[test]
    fn a_head_gives_its_status_and_length() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nContent-Length: 19\r\n\r\n";
        assert_eq!(parse_head(head).unwrap(), (200, 19));
    }
}
