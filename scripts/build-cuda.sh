#!/usr/bin/env bash
# Builds the CUDA variant of the native addon, native/densenet.linux-x64-gnu-cuda.node, on any
# Linux x64 machine (no GPU needed): the CUDA 13.0 nvcc from PyPI (scripts/install-cuda-toolkit.sh),
# the kernels checked for sm_80/sm_90 (PTX + ptxas, scripts/check-cuda-kernels.sh), then
# densenet-node with `--features cuda` (kernels embedded as a fatbin for every DENSENET_CUDA_CAPS;
# the CUDA device is candle-core's, which links libcuda.so.1, libcublas.so.13, libcurand.so.10 and
# libcudart.so.13 by soname: the build links against stubs (crates/densenet-cuda/build.rs), the
# machine that loads the addon needs the real ones, else the loader's ERR_DEVICE names the
# missing library), and
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
# Our kernels: SASS for each of DENSENET_CUDA_CAPS. candle's (unused by the SDK's ops, there for
# candle tensors) take one capability, CUDA_COMPUTE_CAP: the lowest, as PTX the newer GPUs JIT.
export DENSENET_CUDA_CAPS="${DENSENET_CUDA_CAPS:-80,90}"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-${DENSENET_CUDA_CAPS%%,*}}"
eval "$(scripts/install-cuda-toolkit.sh --env)"
JOBS="${CARGO_BUILD_JOBS:-2}"

scripts/check-cuda-kernels.sh
if [[ "${1:-}" == "--check" ]]; then
  cargo clippy -j"$JOBS" -p densenet-cuda -p densenet-node --features densenet-node/cuda --all-targets -- -D warnings
  cargo test -j"$JOBS" -p densenet-cuda --features cuda --no-run
  # The test binaries link libcuda.so.1, libcublas.so.13, … (candle links them): without a GPU
  # they run against the build's stubs (every call returns the library's error, as NVIDIA's
  # stub libcuda does) and the toolkit's libcudart; on a GPU machine against the real ones.
  stubs=$(ls -dt "${CARGO_TARGET_DIR:-target}"/debug/build/densenet-cuda-*/out/link-stubs | head -n1)
  if [[ -e /dev/nvidiactl ]]; then lib_path="$CUDA_HOME/lib"; else lib_path="$stubs:$CUDA_HOME/lib"; fi
  LD_LIBRARY_PATH="$lib_path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" cargo test -j"$JOBS" -p densenet-cuda --features cuda
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
