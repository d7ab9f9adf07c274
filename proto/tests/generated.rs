//! The checked-in prost types are exactly what prost-build generates from
//! `proto/dapple.proto` (parsed by protox, so no `protoc` is needed). After
//! changing the `.proto`, regenerate them with
//! `DAPPLE_REGENERATE=1 cargo test -p dapple-proto --test generated`.

use std::path::Path;

const CHECKED_IN: &str = "src/generated/dapple.v1.rs";

fn generate(out_dir: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let descriptors = protox::compile(["dapple.proto"], [root.join("proto")])
        .unwrap_or_else(|e| panic!("proto/dapple.proto does not compile: {e}"));
    std::fs::create_dir_all(out_dir).unwrap();
    prost_build::Config::new()
        .out_dir(out_dir)
        .compile_fds(descriptors)
        .unwrap();
    std::fs::read_to_string(out_dir.join("dapple.v1.rs")).unwrap()
}

#[test]
fn checked_in_types_are_what_the_proto_generates() {
    let generated = generate(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("dapple-proto"));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(CHECKED_IN);
    if std::env::var_os("DAPPLE_REGENERATE").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{CHECKED_IN} is not what proto/dapple.proto generates; regenerate it with \
         `DAPPLE_REGENERATE=1 cargo test -p dapple-proto --test generated`"
    );
}
