#!/usr/bin/env bash
# Installs Open MPI (mpirun, libmpi, headers) and libclang (the `mpi` crate's bindgen) when they
# are missing: what the MPI variant of the addon and the distributed tests need. Idempotent;
# Debian/Ubuntu (apt-get) only, as root or through sudo.
set -euo pipefail
have() { command -v "$1" >/dev/null 2>&1; }
missing=()
have mpirun || missing+=(openmpi-bin)
{ have mpicc && [ -n "$(ls /usr/lib/*/libmpi.so 2>/dev/null)" ]; } || missing+=(libopenmpi-dev)
[ -n "$(ls /usr/lib/*/libclang*.so* /usr/lib/llvm-*/lib/libclang*.so* 2>/dev/null)" ] || missing+=(libclang-dev)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-mpi: installing ${missing[*]}" >&2
if ! have apt-get; then
  echo "install-mpi: ${missing[*]} missing and no apt-get here: install Open MPI (mpirun, mpicc, libmpi) and libclang yourself" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends "${missing[@]}" || { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; }
