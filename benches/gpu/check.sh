#!/usr/bin/env bash
# The GPU check of the CUDA backend (issue #12): parity with PyTorch on the same GPU, training
# speed and memory against PyTorch + cuDNN, densenet264 at 224² (see check.py). One call, under
# 4 minutes on one H100/H200 with CUDA 13 and PyTorch; needs no Rust and no npm, only:
#   native/densenet.linux-x64-gnu-cuda.node   (scripts/build-cuda.sh)
#   a Node binary: $NODE, else node/bin/node under the repo root, else `node` on PATH
#   python3 with torch
#   the NVIDIA driver >= 580 and cuBLAS 13 (libcublas.so.13: the CUDA 13 toolkit, or PyTorch's or
#   the nvidia-cublas wheel); check.py's preflight names what is missing before anything runs
#   for the NCCL row: libnccl.so.2 (torch's CUDA 13 wheels bring nvidia-nccl-cu13; or the bundle's
#   nccl/lib from PACK_NCCL=1 benches/gpu/pack.sh (gpu-check-nccl.tgz); or DENSENET_NCCL_LIB=/path/to/libnccl.so.2)
#   tar xzf gpu-check.tgz -C /tmp && bash /tmp/gpu-check/benches/gpu/check.sh   # from the bundle
#   bash benches/gpu/check.sh            # on the GPU machine
#   bash benches/gpu/check.sh --dry-run  # the same logic on the CPU (our CPU addon, torch CPU)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
PY="${PYTHON:-python3}"
if [[ -z "${NODE:-}" ]]; then
  if [[ -x "$root/node/bin/node" ]]; then NODE="$root/node/bin/node"; else NODE="$(command -v node || true)"; fi
fi
[[ -n "$NODE" ]] || { echo "check.sh: no Node binary (set NODE)" >&2; exit 2; }
if [[ "${1:-}" == "--dry-run" ]]; then
  export DENSENET_NATIVE_PATH="${DENSENET_NATIVE_PATH:-$root/native/densenet.linux-x64-gnu.node}"
else
  export DENSENET_NATIVE_PATH="${DENSENET_NATIVE_PATH:-$root/native/densenet.linux-x64-gnu-cuda.node}"
  # cuBLAS 13 and NCCL (libnccl.so.2) for our addon (libs.py): a folder of libcublas.so links to
  # the CUDA 13 .so.13 first (cudarc tries the unversioned name first), then $CUDA_HOME/lib64 and
  # the PyPI wheels' nvidia/cu13/lib, nvidia/*/lib (PyTorch's CUDA 13 wheels, nvidia-nccl-cu13),
  # then the old LD_LIBRARY_PATH without stubs folders (a stub libcuda.so must never load).
  shim="$(mktemp -d "${TMPDIR:-/tmp}/densenet-gpu-libs.XXXXXX")"
  LD_LIBRARY_PATH="$("$PY" "$root/benches/gpu/libs.py" --ld-path "$shim")"
  export LD_LIBRARY_PATH
  # The pinned NCCL wheel's library, when the bundle carries it (PACK_NCCL=1 benches/gpu/pack.sh),
  # comes before any other (the addon loads $DENSENET_NCCL_LIB first).
  if [[ -z "${DENSENET_NCCL_LIB:-}" && -f "$root/nccl/lib/libnccl.so.2" ]]; then
    export DENSENET_NCCL_LIB="$root/nccl/lib/libnccl.so.2"
  fi
fi
[[ -f "$DENSENET_NATIVE_PATH" ]] || { echo "check.sh: no addon at $DENSENET_NATIVE_PATH" >&2; exit 2; }
exec "$PY" "$root/benches/gpu/check.py" --node "$NODE" "$@"
