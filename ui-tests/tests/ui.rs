//! Pins what `#[traced]` accepts (`tests/pass`, each built and run) and the
//! errors it gives for what it refuses (`tests/fail`, each `.stderr` pinned).
//!
//! After a deliberate change to a message, regenerate the pinned output with
//! `TRYBUILD=overwrite cargo test -p dapple-ui-tests` and review the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/pass/*.rs");
    cases.compile_fail("tests/fail/*.rs");
}
