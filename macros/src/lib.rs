//! The `#[traced]` attribute of [Dapple](https://docs.rs/dapple). Use it
//! through `dapple::traced`; this crate has nothing else.
//!
//! The phases, one file each: `attr` parses the options, `ast` models the
//! function, `valid` checks the two together and reports every problem,
//! `expand` writes the instrumented function, and `propagate` rewrites spawn
//! calls in its body.

mod ast;
mod attr;
mod expand;
mod propagate;
mod valid;

use proc_macro::TokenStream;

/// Turns every call of the function into a span. See `dapple::traced`.
#[proc_macro_attribute]
pub fn traced(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::traced(args.into(), item.into(), cfg!(feature = "enabled")).into()
}
