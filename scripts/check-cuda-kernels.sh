#!/usr/bin/env bash
# Compiles kernels/densenet.cu to PTX with the CUDA 13.0 nvcc for every compute capability we
# ship (80, 90: A100, H100/H200), checks that every entry point is there and assembles each PTX
# with ptxas for its sm_XX. Fails loudly.
# (The host build of the same file runs in `cargo test -p densenet-cuda-kernels-host`.)
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/install-cuda-toolkit.sh --env)"
out="${1:-target/cuda-ptx}"
PTXAS="$CUDA_HOME/bin/ptxas"
mkdir -p "$out"
# Entry points: two element types per X(...) row of DN_KERNELS_OF.
want=$(( 2 * $(grep -cE '^  X\(' kernels/densenet.cu) ))
for cap in ${DENSENET_CUDA_CAPS:-80 90}; do
  cap="${cap//,/ }"
  for c in $cap; do
    ptx="$out/densenet_sm$c.ptx"
    "$NVCC" -ptx -O3 -std=c++17 -Werror all-warnings "-arch=compute_$c" -o "$ptx" kernels/densenet.cu
    got=$(grep -c '^\.visible \.entry' "$ptx")
    isa=$(grep -m1 '^\.version' "$ptx")
    if [[ "$got" != "$want" ]]; then
      echo "check-cuda-kernels: $ptx has $got entry points, expected $want" >&2
      exit 1
    fi
    # Assemble to SASS as well, so ptxas's errors (registers, shared memory) show up here.
    "$PTXAS" -arch="sm_$c" -O3 -o "$out/densenet_sm$c.cubin" "$ptx"
    echo "compute_$c: $got kernels, PTX $isa -> $ptx; ptxas sm_$c ok"
  done
done
