#!/usr/bin/env bash
# The core (and its CPU backend) must compile for wasm32-unknown-unknown: no file system, no
# threads of its own, no x86-only code outside runtime dispatch. rustup cannot add targets here,
# so this uses Debian's Rust, which builds std for wasm32 from source (installed when missing;
# needs root, as in CI).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! [ -x /usr/bin/cargo ] || ! [ -x /usr/bin/wasm-ld ] || ! [ -f /usr/src/rustc-*/library/Cargo.lock ] 2>/dev/null; then
  echo "installing Debian's wasm32 Rust toolchain (rustc-web cargo-web rust-web-src lld)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq rustc-web cargo-web rust-web-src lld >&2
fi

export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_WASM:-target/wasm32-check}"
/usr/bin/cargo build --release --locked -p densenet-core -p densenet-cpu --no-default-features \
  --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort
echo "densenet-core and densenet-cpu build for wasm32-unknown-unknown"
