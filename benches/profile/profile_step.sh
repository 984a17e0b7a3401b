#!/usr/bin/env bash
# Where a training step's time goes, per op category (BENCHMARKS.md, "Profile").
#
#   benches/profile/profile_step.sh [COMMIT] [train_bench args...]
#   e.g. benches/profile/profile_step.sh HEAD --batch 64 --steps 2 --warmup 1 [--mode naive]
#
# Exports COMMIT's tree (git archive) to a temp dir, adds this checkout's train_bench example,
# instruments the copy with benches/profile/instrument.py (the repo's src is never touched),
# builds it into target/profile-copy and prints the tables of benches/profile/render.py.
set -euo pipefail
ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
COMMIT=${1:-HEAD}
shift || true
ARGS=("$@")
[ ${#ARGS[@]} -eq 0 ] && ARGS=(--batch 64 --steps 2 --warmup 1)
W=$(mktemp -d /tmp/densenet-prof.XXXXXX)
trap 'rm -rf "$W"' EXIT
git -C "$ROOT" archive "$COMMIT" | tar -x -C "$W"
mkdir -p "$W/crates/densenet-core/examples/common"
cp "$ROOT/crates/densenet-core/examples/train_bench.rs" "$W/crates/densenet-core/examples/"
cp "$ROOT/crates/densenet-core/examples/common/bench_util.rs" "$W/crates/densenet-core/examples/common/"
cp "$ROOT/Cargo.lock" "$W/"
python3 "$ROOT/benches/profile/instrument.py" "$W"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/profile-copy}
cargo build --release --manifest-path "$W/Cargo.toml" -p densenet-core --example train_bench >&2
echo "commit $(git -C "$ROOT" rev-parse --short "$COMMIT"); $(date -Is); $(uptime)" >&2
"$CARGO_TARGET_DIR/release/examples/train_bench" "${ARGS[@]}" 2> "$W/stderr.txt"
grep '^PROFILE_JSON ' "$W/stderr.txt" >&2
python3 "$ROOT/benches/profile/render.py" "$W/stderr.txt"
