#!/usr/bin/env bash
# Installs Debian's wasm32 Rust toolchain when any piece that scripts/build-wasm.sh and
# scripts/check-wasm-core.sh use is missing: rustc-web and cargo-web (/usr/bin/rustc and
# /usr/bin/cargo, Rust 1.8x+; rustup cannot add targets here), rust-web-src (the std sources that
# `-Zbuild-std` reads from the sysroot, /usr/lib/rustlib/src/rust/library) and lld (`wasm-ld` on
# PATH, the linker the builds name). Detection: scripts/lib/detect.sh. Needs root or sudo.
#
#   scripts/install-wasm-toolchain.sh                       # install what is missing
#   scripts/install-wasm-toolchain.sh --dry-run [--root D]  # print what it would install
set -euo pipefail
DN_SCRIPT=install-wasm-toolchain
. "$(dirname "$0")/lib/detect.sh"
dn_parse_flags "$@"
read -r -a missing <<<"$(dn_wasm_missing_packages)"
DN_APT_RECOMMENDS=1 dn_apt_install "${missing[@]}"
