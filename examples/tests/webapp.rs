//! The webapp demo's binaries run as a user runs them: `webapp` alone, and
//! `serviceA`, `serviceB` and `frontservice` as three processes; each front
//! page answers with both back ends' replies. (The trace they make is
//! checked against a real collector in `tests/tests/webapp_e2e.rs`.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};

/// A running example, killed when dropped.
struct Running {
    child: Child,
    url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address nothing listens on, so spans go nowhere.
fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

fn start(binary: &str, args: &[&str]) -> Running {
    let mut child = Command::new(binary)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("DAPPLE_ENDPOINT", closed_port())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("it prints its address");
    let url = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("{binary} printed {line:?}"))
        .to_owned();
    Running { child, url }
}

/// `GET /` on `url`: the whole HTTP/1.0 response as text.
fn get_front_page(url: &str) -> String {
    let address = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("the front page listens");
    write!(stream, "GET / HTTP/1.0\r\nHost: {address}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn assert_both_back_ends_answered(response: &str) {
    assert!(response.starts_with("HTTP/1.0 200"), "{response}");
    // A read the first user from its SQLite file; B counted, scored and
    // got a price from B1.
    assert!(
        response.contains("service A: Ada (team plan)"),
        "{response}"
    );
    assert!(response.contains("service B: 42 in stock"), "{response}");
    assert!(response.contains("B1: 2099 cents"), "{response}");
    assert!(response.contains("traceresponse: 00-"), "{response}");
}

#[test]
fn webapp_serves_the_front_page_from_one_process() {
    let webapp = start(env!("CARGO_BIN_EXE_webapp"), &[]);
    assert_both_back_ends_answered(&get_front_page(&webapp.url));
}

#[test]
fn the_three_service_binaries_serve_the_front_page_together() {
    let a = start(env!("CARGO_BIN_EXE_serviceA"), &[]);
    let b = start(env!("CARGO_BIN_EXE_serviceB"), &[]);
    let front = start(
        env!("CARGO_BIN_EXE_frontservice"),
        &["--service-a", &a.url, "--service-b", &b.url],
    );
    assert_both_back_ends_answered(&get_front_page(&front.url));
}
