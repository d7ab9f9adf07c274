//! The data every browser test reads: a real collector filled by real
//! instrumented programs, shared by the tests that run at the same time and
//! stopped when the last of them is done.

use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::browser::{ChromeDriver, Chromium};
use crate::support::{CollectorProcess, printed_trace_id, run_traced_program};

/// Spans in the wide trace.
pub const WIDE_SPANS: usize = 10_000;

/// A collector holding three checkouts across the `frontend`, `backend` and
/// `ledger` services (checkout 1 declined: two error spans, no ledger call),
/// one trace of [`WIDE_SPANS`] spans from `bulk`, and one trace of the
/// traced program.
#[derive(Debug)]
pub struct Shop {
    /// The collector process.
    pub collector: CollectorProcess,
    /// The checkouts' trace ids, in the order they ran.
    pub checkouts: Vec<String>,
    /// The wide trace's id.
    pub wide: String,
    /// The traced program's trace id.
    pub program: String,
}

/// The shop the running tests share, filled on first use.
pub fn shop() -> Arc<Shop> {
    static SHOP: Mutex<Weak<Shop>> = Mutex::new(Weak::new());
    let mut slot = SHOP.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(shop) = slot.upgrade() {
        return shop;
    }
    let shop = Arc::new(Shop::fill());
    *slot = Arc::downgrade(&shop);
    shop
}

/// The chromedriver the running tests share, or `None` (after a skip
/// notice) on a machine without Chromium.
pub fn driver() -> Option<Arc<ChromeDriver>> {
    static DRIVER: Mutex<Weak<ChromeDriver>> = Mutex::new(Weak::new());
    let chromium = Chromium::find()?;
    let mut slot = DRIVER.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(driver) = slot.upgrade() {
        return Some(driver);
    }
    let driver = Arc::new(ChromeDriver::start(chromium));
    *slot = Arc::downgrade(&driver);
    Some(driver)
}

impl Shop {
    fn fill() -> Shop {
        let collector = CollectorProcess::start(&["--store", "memory"]);
        let native = collector.native.to_string();
        let checkouts = run_fixture(&native, "frontend", &["frontend", "3"]);
        assert_eq!(checkouts.len(), 3, "three checkouts ran");
        let wide = run_fixture(&native, "bulk", &["wide", &WIDE_SPANS.to_string()]).remove(0);
        let output = run_traced_program(&native, &[], 10);
        assert!(output.status.success(), "the traced program runs");
        let program = printed_trace_id(&output);
        Shop {
            collector,
            checkouts,
            wide,
            program,
        }
    }
}

/// Runs the UI fixture as `service`; gives the trace ids it printed.
fn run_fixture(native: &str, service: &str, args: &[&str]) -> Vec<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_ui_fixture"))
        .args(args)
        .env("DAPPLE_ENDPOINT", native)
        .env("DAPPLE_SERVICE", service)
        .output()
        .expect("the UI fixture runs");
    assert!(
        output.status.success(),
        "ui_fixture {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("trace ").map(str::to_owned))
        .collect()
}
