//! Receiving spans: the native TCP protocol and OTLP (gRPC here, HTTP in
//! [`crate::http`]), each converted to the collector's own form in one
//! place ([`convert`] for the native wire form, [`otlp`] for OTLP's).

pub mod convert;
pub mod grpc;
pub mod keep;
pub mod limits;
pub mod otlp;
mod tcp;

pub use tcp::{NativeIngest, serve};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Memory for requests and frames being decoded, shared by every ingest:
/// each takes a share estimated from its size (the most its decoded form
/// can take), waits while the budget is spent, and is refused when it
/// alone would take more than the whole.
#[derive(Debug)]
pub struct DecodeBudget {
    kib: std::sync::Arc<Semaphore>,
    total_kib: u32,
}

impl DecodeBudget {
    /// The default budget: 1 GiB.
    pub const DEFAULT_BYTES: u64 = 1 << 30;

    /// A budget of `bytes`.
    pub fn new(bytes: u64) -> DecodeBudget {
        let total_kib = u32::try_from(bytes / 1024).unwrap_or(u32::MAX >> 3).max(1);
        DecodeBudget {
            kib: std::sync::Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
        }
    }

    /// What a native frame of `bytes` may take decoded: a valid span takes
    /// at least 29 bytes on the wire and about ten times that while decoded
    /// (spans without valid ids are dropped as they are decoded).
    pub fn native(bytes: usize) -> u64 {
        bytes as u64 * 12
    }

    /// What an OTLP request of `bytes` (decompressed) may take decoded: an
    /// empty span or attribute is two bytes, a decoded one a few hundred.
    pub fn otlp(bytes: usize) -> u64 {
        bytes as u64 * 32
    }

    fn kib(bytes: u64) -> Option<u32> {
        u32::try_from(bytes.div_ceil(1024)).ok()
    }

    /// A share of `bytes`, once free; `None` when it is more than the whole
    /// budget.
    pub async fn reserve(&self, bytes: u64) -> Option<OwnedSemaphorePermit> {
        let kib = Self::kib(bytes).filter(|&k| k <= self.total_kib)?;
        self.kib.clone().acquire_many_owned(kib.max(1)).await.ok()
    }

    /// A share of `bytes` if free now: `Err(true)` when it is more than the
    /// whole budget, `Err(false)` when it is spent for the moment.
    pub fn try_reserve(&self, bytes: u64) -> Result<OwnedSemaphorePermit, bool> {
        let kib = Self::kib(bytes)
            .filter(|&k| k <= self.total_kib)
            .ok_or(true)?;
        self.kib
            .clone()
            .try_acquire_many_owned(kib.max(1))
            .map_err(|_| false)
    }
}
