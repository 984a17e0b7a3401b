#!/usr/bin/env bash
# Packs what the GPU check needs into one tarball for a machine with a GPU, CUDA 13 and PyTorch
# but no Rust or Node toolchain: the CUDA addon, the CPU addon (for --dry-run), the check scripts,
# and Node itself (the binary running this script, unless NODE names another). Node alone is
# ~95 MB unpacked, so the bundle travels only as the tarball (~40 MB) and is unpacked under /tmp
# there; it must stay within PACK_MAX_MIB (default 60: a 64 MiB carry limit, with room), else
# this script fails. Next to it, <out>.manifest.json lists every file with its size.
#   bash benches/gpu/pack.sh [out.tgz]     (default target/gpu-check.tgz)
#   PACK_NCCL=1 bash benches/gpu/pack.sh   also packs the pinned nvidia-nccl-cu13 wheel's
#                                          libnccl.so.2 (scripts/install-cuda-toolkit.sh --nccl, or
#                                          $DENSENET_NCCL_LIB; ~210 MB) into its own tarball,
#                                          <out>-nccl.tgz (gpu-check/nccl/lib, which check.sh
#                                          prefers), so the main one never grows past the limit;
#                                          without it check.sh uses PyTorch's libnccl.
#   PACK_CUDA_ADDON=path                   the addon to pack as the CUDA one (default native/…-cuda.node)
# There:  tar xzf gpu-check.tgz -C /tmp && bash /tmp/gpu-check/benches/gpu/check.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/target/gpu-check.tgz}"
max_mib="${PACK_MAX_MIB:-60}"
node_bin="${NODE:-$(command -v node)}"
addon="${PACK_CUDA_ADDON:-$root/native/densenet.linux-x64-gnu-cuda.node}"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
d="$stage/gpu-check"
mkdir -p "$d/native" "$d/benches/gpu" "$d/node/bin"
[[ -f "$addon" ]] || { echo "pack.sh: no CUDA addon at $addon: run scripts/build-cuda.sh first" >&2; exit 1; }
cp "$addon" "$d/native/densenet.linux-x64-gnu-cuda.node"
for f in "$root"/native/densenet.linux-x64-gnu-cuda.glibc.json "$root"/native/densenet.linux-x64-gnu.node; do
  [[ ! -f "$f" ]] || cp "$f" "$d/native/"
done
cp "$root"/benches/gpu/{check.sh,check.py,libs.py,nvml.py,reference.py,ours.mjs,README.md} "$d/benches/gpu/"
cp "$node_bin" "$d/node/bin/node"
mkdir -p "$(dirname "$out")"
tar czf "$out" -C "$stage" gpu-check
bytes=$(stat -c %s "$out")
(cd "$stage" && find gpu-check -type f -printf '%s %p\n' | sort -k2) | awk -v t="$bytes" -v m="$max_mib" '
  BEGIN { printf "{\"tarballBytes\": %d, \"limitBytes\": %d, \"files\": [", t, m * 1048576 }
  { printf "%s{\"path\": \"%s\", \"bytes\": %d}", (NR > 1 ? ", " : ""), $2, $1 }
  END { print "]}" }' > "${out%.tgz}.manifest.json"
ls -l "$out"
if (( bytes > max_mib * 1048576 )); then
  echo "pack.sh: $out is $((bytes / 1048576)) MiB, over the ${max_mib} MiB a carry allows (see ${out%.tgz}.manifest.json)" >&2
  exit 1
fi
if [[ "${PACK_NCCL:-}" == "1" ]]; then
  nccl="${DENSENET_NCCL_LIB:-$(eval "$("$root/scripts/install-cuda-toolkit.sh" --nccl --env)" && echo "$DENSENET_NCCL_LIB")}"
  rm -rf "$d" && mkdir -p "$d/nccl/lib"
  cp "$nccl" "$d/nccl/lib/libnccl.so.2"
  cp "$(dirname "$nccl")"/../../../nvidia_nccl_cu13-*.dist-info/licenses/* "$d/nccl/" 2>/dev/null || true
  tar czf "${out%.tgz}-nccl.tgz" -C "$stage" gpu-check
  ls -l "${out%.tgz}-nccl.tgz"
fi
