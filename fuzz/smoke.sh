#!/usr/bin/env bash
# The fuzz smoke test: builds every fuzz target, then runs each for 30
# seconds over its committed corpus. Fails on the first crash, leak,
# timeout or out-of-memory; libFuzzer prints the input's path under
# fuzz/artifacts/<target>/.
#
#   fuzz/smoke.sh            # every target
#   fuzz/smoke.sh query      # some
#
# New inputs found go to a temporary directory, not to the committed corpus.
set -euo pipefail

cd "$(dirname "$0")"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# Same flags as the campaigns in README.md.
build=(--sanitizer none)
cargo +nightly fuzz build "${build[@]}"

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for file in fuzz_targets/*.rs; do
        targets+=("$(basename "$file" .rs)")
    done
fi

found=$(mktemp -d)
trap 'rm -rf "$found"' EXIT

for target in "${targets[@]}"; do
    case "$target" in
        native_stream | native_batch | otlp_protobuf | otlp_http) max_len=65536 ;;
        *) max_len=4096 ;;
    esac
    mkdir -p "$found/$target" "corpus/$target"
    echo "== $target"
    cargo +nightly fuzz run "${build[@]}" "$target" "$found/$target" "corpus/$target" -- \
        -max_total_time=30 -max_len="$max_len" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1
done
echo "fuzz smoke: ${#targets[@]} targets, no crash"
