#!/usr/bin/env bash
# Installs what the MPI variant of the addon and the distributed tests need, when it is missing:
# Open MPI (`mpirun`; `mpicc`, mpi.h and libmpi, which the `mpi` crate's build finds through
# `mpicc -show`) and libclang (the `mpi` crate's bindgen loads it at build time). Each is looked
# for the way its consumer looks for it (scripts/lib/detect.sh): libclang-cpp, which Debian ships
# with LLVM, is not libclang. Idempotent; Debian/Ubuntu (apt-get), as root or through sudo.
#
#   scripts/install-mpi.sh                       # install what is missing
#   scripts/install-mpi.sh --dry-run [--root D]  # print what it would install (under D: a fake root)
set -euo pipefail
DN_SCRIPT=install-mpi
. "$(dirname "$0")/lib/detect.sh"
dn_parse_flags "$@"
missing=()
dn_which mpirun >/dev/null || missing+=(openmpi-bin)
dn_have_mpicc || missing+=(libopenmpi-dev)
dn_find_libclang >/dev/null || missing+=(libclang-dev)
dn_apt_install "${missing[@]}"
