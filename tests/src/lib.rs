//! Helpers shared by the end-to-end tests.

pub mod counting;

use std::sync::OnceLock;

use dapple::MemorySink;

/// The collector of this test binary, installed once: tests run on parallel
/// threads, so each gives its root span a name of its own and reads back
/// only its own trace.
pub fn collector() -> &'static MemorySink {
    static COLLECTOR: OnceLock<MemorySink> = OnceLock::new();
    COLLECTOR.get_or_init(MemorySink::install)
}

/// The README's Rust code, compiled and run as a doctest.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
