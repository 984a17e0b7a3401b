#!/usr/bin/env bash
# The CUDA 13.0 toolkit pieces the CUDA build needs (nvcc, its front end and NVVM, the runtime
# headers, cuBLAS headers), from PyPI wheels into a cached venv. Idempotent: a second run with
# the same pins only prints the environment. cuBLAS is not needed to build (cudarc loads
# libcublas at run time; the GPU machine has it with its CUDA or PyTorch install).
#
#   eval "$(scripts/install-cuda-toolkit.sh --env)"   # CUDA_HOME, PATH, NVCC for this shell
#   scripts/install-cuda-toolkit.sh --nccl --env      # also the pinned NCCL wheel: DENSENET_NCCL_LIB
#   scripts/install-cuda-toolkit.sh --zig --env       # also zig + cargo-zigbuild: CARGO_ZIGBUILD
#   scripts/install-cuda-toolkit.sh --dry-run [--root D]  # print what it would install
#
# NCCL (--nccl, opt-in: ~200 MB, and the build does not need it: the addon loads libnccl.so.2 at
# run time) is the nvidia-nccl-cu13 wheel (nccl.h + libnccl.so.2), for the GPU check's bundle
# (PACK_NCCL=1 benches/gpu/pack.sh) and for running the NCCL path on a GPU machine without
# PyTorch's copy. Pinned to 2.28.9, the NCCL release cudarc 0.19's bindings describe; any NCCL 2.x
# with ncclGetUniqueId/ncclCommInitRank/ncclAllReduce serves (we resolve only those).
#
# zig (--zig: the ziglang and cargo-zigbuild wheels, ~60 MB) links the release addon against
# glibc 2.28 (scripts/build-cuda.sh), so that it loads on Ubuntu 20.04 / RHEL 8 and newer, not only
# on the build machine's glibc.
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
NCCL_PIN=nvidia-nccl-cu13==2.28.9
ZIG_PINS="ziglang==0.17.0 cargo-zigbuild==0.24.0"
ZIG=0
ENV=0
NCCL=0
DN_SCRIPT=install-cuda-toolkit
. "$(dirname "$0")/lib/detect.sh"
flags=()
for arg in "$@"; do
  case "$arg" in
    --env) ENV=1 ;;
    --nccl) NCCL=1 ;;
    --zig) ZIG=1 ;;
    *) flags+=("$arg") ;;
  esac
done
dn_parse_flags "${flags[@]}"
STAMP="$DN_ROOT$VENV/.densenet-pins"
want="$(printf '%s\n' "${PINS[@]}")"

# The wheels' nvcc runs from the venv the stamp vouches for; a venv needs Debian's python3-venv.
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" || ! -x "$DN_ROOT$VENV/bin/python" ]]; then
  apt=()
  [[ -x "$DN_ROOT$VENV/bin/python" ]] || dn_have_venv || apt+=(python3-venv)
  if [[ "$DN_DRY_RUN" == 1 ]]; then
    [[ ${#apt[@]} -eq 0 ]] || echo "install-cuda-toolkit: would install: ${apt[*]}"
    echo "install-cuda-toolkit: would pip install into $VENV: ${PINS[*]}"
    [[ "$ZIG" == 0 ]] || echo "install-cuda-toolkit: would pip install into $VENV: $ZIG_PINS"
    exit 0
  fi
  dn_apt_install "${apt[@]}" || { echo "install-cuda-toolkit: '$PY -m venv' needs python3-venv, which could not be installed" >&2; exit 1; }
  echo "install-cuda-toolkit: installing ${PINS[*]} into $VENV" >&2
  mkdir -p "$CACHE"
  if [[ ! -x "$VENV/bin/python" ]]; then
    "$PY" -m venv "$VENV" >&2 || { echo "install-cuda-toolkit: '$PY -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2; exit 1; }
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}" >&2
  printf '%s\n' "$want" > "$STAMP"
fi

if [[ "$DN_DRY_RUN" == 1 ]]; then
  if [[ "$ZIG" == 1 && "$(cat "$DN_ROOT$VENV/.densenet-zig-pin" 2>/dev/null)" != "$ZIG_PINS" ]]; then
    echo "install-cuda-toolkit: would pip install into $VENV: $ZIG_PINS"
  else
    echo "install-cuda-toolkit: nothing to install"
  fi
  exit 0
fi

if [[ "$NCCL" == 1 && ( ! -f "$VENV/.densenet-nccl-pin" || "$(cat "$VENV/.densenet-nccl-pin")" != "$NCCL_PIN" ) ]]; then
  echo "install-cuda-toolkit: installing $NCCL_PIN into $VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$NCCL_PIN" >&2
  echo "$NCCL_PIN" > "$VENV/.densenet-nccl-pin"
fi

if [[ "$ZIG" == 1 && ( ! -f "$VENV/.densenet-zig-pin" || "$(cat "$VENV/.densenet-zig-pin")" != "$ZIG_PINS" ) ]]; then
  echo "install-cuda-toolkit: installing $ZIG_PINS into $VENV" >&2
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $ZIG_PINS >&2
  echo "$ZIG_PINS" > "$VENV/.densenet-zig-pin"
fi

SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
NVCC="$(find "$SITE/nvidia" -path '*/bin/nvcc' -type f | head -n1)"
if [[ -z "$NVCC" ]]; then
  echo "install-cuda-toolkit: no nvcc under $SITE/nvidia after installing the wheels" >&2
  exit 1
fi
CUDA_HOME="$(cd "$(dirname "$NVCC")/.." && pwd)"
chmod +x "$CUDA_HOME"/bin/* "$CUDA_HOME"/nvvm/bin/* 2>/dev/null || true

NCCL_LIB=""
if [[ "$NCCL" == 1 ]]; then
  NCCL_LIB="$SITE/nvidia/nccl/lib/libnccl.so.2"
  [[ -f "$NCCL_LIB" ]] || { echo "install-cuda-toolkit: no $NCCL_LIB after installing $NCCL_PIN" >&2; exit 1; }
fi

if [[ "$ENV" == 1 ]]; then
  echo "export CUDA_HOME='$CUDA_HOME'"
  echo "export CUDA_PATH='$CUDA_HOME'"
  echo "export NVCC='$NVCC'"
  echo "export PATH='$CUDA_HOME/bin':\"\$PATH\""
  [[ -z "$NCCL_LIB" ]] || echo "export DENSENET_NCCL_LIB='$NCCL_LIB'"
  if [[ "$ZIG" == 1 ]]; then
    # cargo-zigbuild runs zig as `python -m ziglang` with the venv's python.
    echo "export CARGO_ZIGBUILD='$VENV/bin/cargo-zigbuild'"
    echo "export CARGO_ZIGBUILD_PYTHON_PATH='$VENV/bin/python'"
  fi
else
  echo "CUDA_HOME=$CUDA_HOME" >&2
  "$NVCC" --version | tail -n2 >&2
  [[ -z "$NCCL_LIB" ]] || echo "DENSENET_NCCL_LIB=$NCCL_LIB" >&2
fi
