#!/usr/bin/env bash
# The CUDA 13.0 toolkit pieces the CUDA build needs (nvcc, its front end and NVVM, the runtime
# headers, cuBLAS headers), from PyPI wheels into a cached venv. Idempotent: a second run with
# the same pins only prints the environment. cuBLAS is not needed to build (cudarc loads
# libcublas at run time; the GPU machine has it with its CUDA or PyTorch install).
#
#   eval "$(scripts/install-cuda-toolkit.sh --env)"   # CUDA_HOME, PATH, NVCC for this shell
#
# Versions: pinned to 13.0.x. The GPU machines run driver 580 (CUDA 13.0); the driver JIT-compiles
# PTX only up to its own PTX ISA, so PTX from a newer nvcc (13.1+) would not load there.
set -euo pipefail

CACHE="${DENSENET_CUDA_CACHE:-$HOME/.cache/densenet-sdk/cuda}"
VENV="$CACHE/venv"
PY="${PYTHON:-python3}"
PINS=(
  nvidia-cuda-nvcc==13.0.88
  nvidia-cuda-crt==13.0.88
  nvidia-nvvm==13.0.88
  nvidia-cuda-runtime==13.0.96
  nvidia-cuda-cccl==13.0.85
)
STAMP="$VENV/.densenet-pins"
want="$(printf '%s\n' "${PINS[@]}")"

if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
  echo "install-cuda-toolkit: installing ${PINS[*]} into $VENV" >&2
  mkdir -p "$CACHE"
  if [[ ! -x "$VENV/bin/python" ]]; then
    "$PY" -m venv "$VENV" >&2 || { echo "install-cuda-toolkit: '$PY -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2; exit 1; }
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}" >&2
  printf '%s\n' "$want" > "$STAMP"
fi

SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
NVCC="$(find "$SITE/nvidia" -path '*/bin/nvcc' -type f | head -n1)"
if [[ -z "$NVCC" ]]; then
  echo "install-cuda-toolkit: no nvcc under $SITE/nvidia after installing the wheels" >&2
  exit 1
fi
CUDA_HOME="$(cd "$(dirname "$NVCC")/.." && pwd)"
chmod +x "$CUDA_HOME"/bin/* "$CUDA_HOME"/nvvm/bin/* 2>/dev/null || true

if [[ "${1:-}" == "--env" ]]; then
  echo "export CUDA_HOME='$CUDA_HOME'"
  echo "export CUDA_PATH='$CUDA_HOME'"
  echo "export NVCC='$NVCC'"
  echo "export PATH='$CUDA_HOME/bin':\"\$PATH\""
else
  echo "CUDA_HOME=$CUDA_HOME" >&2
  "$NVCC" --version | tail -n2 >&2
fi
