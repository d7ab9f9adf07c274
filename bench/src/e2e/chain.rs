// The request path of the end-to-end benchmark, written once and included
// by `server.rs` twice: `chain_fn!` adds `#[dapple::traced]` in the traced
// server and nothing in the built-out one, so both run the same code.
//
// Ten nested async fns, each doing a little arithmetic; the innermost also
// yields to the scheduler once, as a handler waiting for I/O would, so each
// span is suspended and resumed at least once.

/// A little arithmetic the optimiser cannot remove (a splitmix64 step, a
/// few times over).
fn mix(mut x: u64) -> u64 {
    for _ in 0..8 {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
    }
    std::hint::black_box(x)
}

chain_fn! {
    pub(super) async fn level_1(seed: u64) -> u64 {
        level_2(mix(seed)).await
    }
}

chain_fn! {
    async fn level_2(seed: u64) -> u64 {
        level_3(mix(seed)).await
    }
}

chain_fn! {
    async fn level_3(seed: u64) -> u64 {
        level_4(mix(seed)).await
    }
}

chain_fn! {
    async fn level_4(seed: u64) -> u64 {
        level_5(mix(seed)).await
    }
}

chain_fn! {
    async fn level_5(seed: u64) -> u64 {
        level_6(mix(seed)).await
    }
}

chain_fn! {
    async fn level_6(seed: u64) -> u64 {
        level_7(mix(seed)).await
    }
}

chain_fn! {
    async fn level_7(seed: u64) -> u64 {
        level_8(mix(seed)).await
    }
}

chain_fn! {
    async fn level_8(seed: u64) -> u64 {
        level_9(mix(seed)).await
    }
}

chain_fn! {
    async fn level_9(seed: u64) -> u64 {
        level_10(mix(seed)).await
    }
}

chain_fn! {
    async fn level_10(seed: u64) -> u64 {
        tokio::task::yield_now().await;
        mix(seed)
    }
}
