//! The allocator `dapple-collector` runs on, and how a binary installs it:
//! [`global_allocator!`](crate::global_allocator).

#[cfg(not(all(feature = "jemalloc", not(target_env = "msvc"))))]
pub use std::alloc::System as Allocator;
/// The allocator `dapple-collector` runs on: jemalloc with the default
/// feature `jemalloc` (it spends less CPU per stored span than glibc's
/// malloc, on spans that are freed by other threads than made them), the
/// system's otherwise.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
pub use tikv_jemallocator::Jemalloc as Allocator;

/// jemalloc's options in a binary that installs [`Allocator`] with
/// [`global_allocator!`](crate::global_allocator), NUL-terminated:
/// transparent huge pages for its heap, so that a store growing by
/// hundreds of megabytes takes a page fault per 2 MiB, not per 4 KiB
/// (about a fifth less collector CPU per stored span into the memory
/// store, for about 6 MiB more resident when idle; `bench/README.md`).
/// The environment variable `_RJEM_MALLOC_CONF` overrides them, e.g.
/// `_RJEM_MALLOC_CONF=thp:default`.
pub const JEMALLOC_OPTIONS: &[u8] = b"thp:always\0";

/// Installs [`Allocator`] as the program's global allocator, with
/// [`JEMALLOC_OPTIONS`] when it is jemalloc: for a binary that serves as
/// the collector. Use it once, at the top level of the binary's crate.
///
/// ```
/// dapple_collector::global_allocator!();
///
/// fn main() {
///     let spans = vec![0_u8; 1 << 20]; // allocated by jemalloc
///     assert_eq!(spans.len(), 1 << 20);
/// }
/// ```
#[macro_export]
macro_rules! global_allocator {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::allocator::Allocator = $crate::allocator::Allocator;
        $crate::__jemalloc_options!();
    };
}

#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[doc(hidden)]
#[macro_export]
macro_rules! __jemalloc_options {
    () => {
        // SAFETY: jemalloc (built with the `_rjem_` prefix) reads its
        // options from this symbol, a weak `const char *` in C: a thin
        // pointer to NUL-terminated bytes, as a `&u8` to the first of
        // them is. The bytes are static and never written.
        #[used]
        #[unsafe(export_name = "_rjem_malloc_conf")]
        static JEMALLOC_OPTIONS: &u8 = &$crate::allocator::JEMALLOC_OPTIONS[0];
    };
}

#[cfg(not(all(feature = "jemalloc", not(target_env = "msvc"))))]
#[doc(hidden)]
#[macro_export]
macro_rules! __jemalloc_options {
    () => {};
}
