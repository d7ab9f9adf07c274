//! The whole path of a span, from the traced call to encoded bytes on a
//! socket and the collector's acknowledgement, allocates nothing once warm:
//! every thread of this process is counted, the reporter's included. The
//! receiving end is a minimal native-protocol peer that itself allocates
//! nothing while it reads frames and acknowledges them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dapple::traced;
use dapple_tests::counting::{self, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Spans the peer received in batch frames.
static RECEIVED: AtomicU64 = AtomicU64::new(0);

fn read_varint(input: &mut impl Read) -> Option<u64> {
    let mut value = 0;
    for shift in (0..64).step_by(7) {
        let mut byte = [0];
        input.read_exact(&mut byte).ok()?;
        value |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn varint_at(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Reads frames into one buffer; answers each batch with an ack of its
/// sequence and counts its spans. Allocates only the buffer, up front.
fn peer(mut stream: TcpStream) {
    let mut frame = vec![0_u8; 16 << 20];
    while let Some(len) = read_varint(&mut stream) {
        let len = len as usize;
        if len > frame.len() || stream.read_exact(&mut frame[..len]).is_err() {
            return;
        }
        let body = &frame[..len];
        // Frame.batch (field 2), then Batch.sequence (field 1) first.
        if body.first() != Some(&0x12) {
            continue; // the hello
        }
        let mut at = 1;
        let Some(batch_len) = varint_at(body, &mut at) else {
            return;
        };
        let end = at + batch_len as usize;
        let mut sequence = 0;
        let mut spans = 0;
        while at < end {
            let Some(key) = varint_at(body, &mut at) else {
                return;
            };
            match key {
                0x08 => sequence = varint_at(body, &mut at).unwrap_or(0),
                0x12 => {
                    let span_len = varint_at(body, &mut at).unwrap_or(0);
                    at += span_len as usize;
                    spans += 1;
                }
                0x18 => {
                    varint_at(body, &mut at);
                }
                _ => return,
            }
        }
        RECEIVED.fetch_add(spans, Ordering::SeqCst);
        // Frame { ack (field 3) { sequence (field 1) } }.
        let mut ack = [0_u8; 16];
        let mut inner = [0_u8; 11];
        inner[0] = 0x08;
        let mut n = 1;
        let mut value = sequence;
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            inner[n] = if value == 0 { byte } else { byte | 0x80 };
            n += 1;
            if value == 0 {
                break;
            }
        }
        ack[0] = (n + 2) as u8;
        ack[1] = 0x1a;
        ack[2] = n as u8;
        ack[3..3 + n].copy_from_slice(&inner[..n]);
        if stream.write_all(&ack[..3 + n]).is_err() {
            return;
        }
    }
}

#[traced(name = "export.root")]
fn root() {
    for i in 0..100 {
        leaf(i, "GET /users/{id}/orders?page=2&sort=newest", "ok");
    }
}

/// An integer and a 40-byte text kept in place, a third argument in the
/// span's recycled box.
#[traced(name = "export.leaf", args(n, route, short))]
fn leaf(n: i64, route: &str, short: &str) {
    let _ = (n, route, short);
}

#[test]
fn spans_reach_the_socket_without_allocating_in_steady_state() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            peer(stream);
        }
    });
    let tracing = dapple::init(
        dapple::Config::default()
            .with_endpoint(address.to_string())
            .with_service("export-allocations"),
    );
    // Warm every buffer, pool and queue on the way.
    for _ in 0..50 {
        root();
        assert_eq!(dapple::flush(Duration::from_secs(10)), 0);
    }
    let warm = RECEIVED.load(Ordering::SeqCst);
    assert_eq!(warm, 50 * 101, "every warm-up span arrived");

    counting::count_every_thread(true);
    for _ in 0..300 {
        root();
        assert_eq!(dapple::flush(Duration::from_secs(10)), 0);
    }
    counting::count_every_thread(false);

    assert_eq!(RECEIVED.load(Ordering::SeqCst) - warm, 300 * 101);
    assert_eq!(dapple::dropped_spans(), 0);
    assert_eq!(
        counting::allocations(),
        0,
        "allocations while 10,100 spans went to the socket and were acknowledged"
    );
    drop(tracing);
}
