#!/usr/bin/env bash
# Builds the CUDA variant of the native addon, native/densenet.linux-x64-gnu-cuda.node, on any
# Linux x64 machine (no GPU needed): the CUDA 13.0 nvcc from PyPI (scripts/install-cuda-toolkit.sh),
# the kernels checked for sm_80/sm_90 (PTX + ptxas, scripts/check-cuda-kernels.sh), then
# densenet-node with `--features cuda` (kernels embedded as
# PTX for every CUDA_COMPUTE_CAP; the driver and cuBLAS are loaded at run time, so the addon
# loads on machines without them and reports ERR_DEVICE when `device: 'cuda'` is asked for), and
# native/densenet.linux-x64-gnu-cuda.glibc.json, the glibc it needs (scripts/glibc-needs.mjs).
# The release addon is linked against glibc $CUDA_GLIBC (default 2.28: Ubuntu 20.04, RHEL 8) with
# cargo-zigbuild (zig from PyPI, install-cuda-toolkit.sh --zig); CUDA_GLIBC= (empty) builds
# against this machine's glibc with napi build instead.
#
#   scripts/build-cuda.sh            # release addon into native/
#   scripts/build-cuda.sh --check    # kernels + clippy (feature cuda) + the device-selection tests, no addon (npm test)
#   npm run pack:platform -- --cuda  # then packs npm/linux-x64-gnu-cuda
set -euo pipefail
cd "$(dirname "$0")/.."
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80,90}"
eval "$(scripts/install-cuda-toolkit.sh --env)"
JOBS="${CARGO_BUILD_JOBS:-2}"

scripts/check-cuda-kernels.sh
if [[ "${1:-}" == "--check" ]]; then
  cargo clippy -j"$JOBS" -p densenet-cuda -p densenet-node --features densenet-node/cuda --all-targets -- -D warnings
  cargo test -j"$JOBS" -p densenet-cuda --features cuda
  exit 0
fi

CUDA_GLIBC="${CUDA_GLIBC-2.28}"
if [[ -n "$CUDA_GLIBC" ]]; then
  eval "$(scripts/install-cuda-toolkit.sh --zig --env)"
  target="x86_64-unknown-linux-gnu"
  "$CARGO_ZIGBUILD" zigbuild -j"$JOBS" --release -p densenet-node --features densenet-node/cuda --target "$target.$CUDA_GLIBC"
  src="${CARGO_TARGET_DIR:-target}/$target/release/libdensenet_node.so"
else
  out=target/cuda-native
  rm -rf "$out"
  CARGO_BUILD_JOBS="$JOBS" npx napi build --platform --release --features cuda --manifest-path crates/densenet-node/Cargo.toml --output-dir "$out" --no-js
  src=$(ls "$out"/densenet.*.node | head -n1)
fi
mkdir -p native
cp "$src" native/densenet.linux-x64-gnu-cuda.node.tmp
mv native/densenet.linux-x64-gnu-cuda.node.tmp native/densenet.linux-x64-gnu-cuda.node
# The glibc its symbols need, next to it (densenet.linux-x64-gnu-cuda.glibc.json): the loader
# refuses the addon on an older glibc with a typed error naming both versions (objdump: binutils).
if ! command -v objdump >/dev/null; then
  DN_SCRIPT=build-cuda
  . scripts/lib/detect.sh
  dn_apt_install binutils || { echo "build-cuda: objdump (binutils) is needed to record the addon's glibc" >&2; exit 1; }
fi
node scripts/glibc-needs.mjs ${CUDA_GLIBC:+--max "$CUDA_GLIBC"} native/densenet.linux-x64-gnu-cuda.node
ls -l native/densenet.linux-x64-gnu-cuda.node
