#!/usr/bin/env bash
# Builds the MPI variant of the addon (cargo feature `mpi` of densenet-node, linked to libmpi)
# as native/densenet.<triple>-mpi.node, next to the default addon which never links MPI.
# ts/native.ts loads it only under mpirun. Installs Open MPI first when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(uname -s)" != "Linux" ]; then
  echo "build-native-mpi: skipped on $(uname -s) (the MPI variant is built and tested on Linux with Open MPI)" >&2
  exit 0
fi
bash scripts/install-mpi.sh
out=target/napi-mpi
rm -rf "$out"
npx napi build --platform --release --manifest-path crates/densenet-node/Cargo.toml --features mpi --output-dir "$out" --no-js
mkdir -p native
for f in "$out"/densenet.*.node; do
  name=$(basename "$f" .node)
  cp "$f" "native/${name}-mpi.node"
  echo "built native/${name}-mpi.node"
done
