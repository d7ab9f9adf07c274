//! Compile-pass and compile-fail cases for `#[traced]`: see `tests/ui.rs`.
