//! Code the example programs share: where one-shot examples send their spans
//! ([`sink`]). The webapp demo's services live in the `dapple-demo` crate,
//! shared with `dapple-collector demo`.

pub mod sink;
