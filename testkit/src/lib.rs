//! What Dapple's tests (`tests/`) and benchmarks (`bench/`) share.

pub mod clickhouse;
