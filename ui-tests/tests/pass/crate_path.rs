// Pins: `crate = path` names dapple through a re-export, spawn rewrites included.
mod reexport {
    pub use dapple;
}

// No `dapple` in this crate's namespace under that name.
mod inner {
    #[allow(dead_code)]
    mod dapple {}

    #[crate::reexport::dapple::traced(crate = crate::reexport::dapple, name = "child", args(n))]
    pub fn child(n: u32) -> u32 {
        n
    }

    #[crate::reexport::dapple::traced(crate = crate::reexport::dapple, name = "parent", err)]
    pub async fn parent() -> Result<u32, String> {
        let a = tokio::spawn(async { child(1) }).await.unwrap();
        let mut set = tokio::task::JoinSet::new();
        set.spawn(async { child(2) });
        let b = set.join_next().await.unwrap().unwrap();
        Ok(a + b + std::thread::spawn(|| child(3)).join().unwrap())
    }
}

fn main() {
    let spans = dapple::MemorySink::install();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(inner::parent()), Ok(6));
    assert_eq!(
        spans.tree_of("parent").unwrap().render(),
        "parent\n  child\n  child\n  child\n"
    );
}
