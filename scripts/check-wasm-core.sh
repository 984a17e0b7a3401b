#!/usr/bin/env bash
# The core (and its CPU backend) must compile for wasm32-unknown-unknown: no file system, no
# threads of its own, no x86-only code outside runtime dispatch. rustup cannot add targets here,
# so this uses Debian's Rust, which builds std for wasm32 from source (installed when missing by
# scripts/install-wasm-toolchain.sh; needs root, as in CI).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-wasm-toolchain.sh

export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_WASM:-target/wasm32-check}"
/usr/bin/cargo build --release --locked -p densenet-core -p densenet-cpu --no-default-features \
  --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort
echo "densenet-core and densenet-cpu build for wasm32-unknown-unknown"
