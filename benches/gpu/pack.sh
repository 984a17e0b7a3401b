#!/usr/bin/env bash
# Packs what the GPU check needs into one tarball for a machine with a GPU, CUDA 13 and PyTorch
# but no Rust or Node toolchain: the CUDA addon, the CPU addon (for --dry-run), the check scripts,
# and Node itself (the binary running this script, unless NODE names another).
#   bash benches/gpu/pack.sh [out.tgz]     (default target/gpu-check.tgz)
#   PACK_NCCL=1 bash benches/gpu/pack.sh   also carries the pinned nvidia-nccl-cu13 wheel's
#                                          libnccl.so.2 (scripts/install-cuda-toolkit.sh --nccl;
#                                          ~210 MB more, too big for a 64 MiB carry) as gpu-check/nccl/lib, which check.sh
#                                          prefers; without it check.sh uses PyTorch's libnccl.
# There:  tar xzf gpu-check.tgz && bash gpu-check/benches/gpu/check.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/target/gpu-check.tgz}"
node_bin="${NODE:-$(command -v node)}"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
d="$stage/gpu-check"
mkdir -p "$d/native" "$d/benches/gpu" "$d/node/bin"
cp "$root/native/densenet.linux-x64-gnu-cuda.node" "$d/native/" || { echo "pack.sh: run scripts/build-cuda.sh first" >&2; exit 1; }
cp "$root/native/densenet.linux-x64-gnu.node" "$d/native/" 2>/dev/null || true
cp "$root"/benches/gpu/{check.sh,check.py,ours.mjs,README.md} "$d/benches/gpu/"
cp "$node_bin" "$d/node/bin/node"
if [[ "${PACK_NCCL:-}" == "1" ]]; then
  nccl="$(eval "$("$root/scripts/install-cuda-toolkit.sh" --nccl --env)" && echo "$DENSENET_NCCL_LIB")"
  mkdir -p "$d/nccl/lib"
  cp "$nccl" "$d/nccl/lib/libnccl.so.2"
  cp "$(dirname "$nccl")"/../../../nvidia_nccl_cu13-*.dist-info/licenses/* "$d/nccl/" 2>/dev/null || true
fi
mkdir -p "$(dirname "$out")"
tar czf "$out" -C "$stage" gpu-check
ls -l "$out"
