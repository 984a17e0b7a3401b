# Detection shared by the install scripts (sourced, not run). Each check looks for a dependency
# the way the tool that consumes it does, so that "present" here means "its consumer will find
# it". Every path is looked up under $DN_ROOT (empty: the real machine), so the tests can run
# the same checks against a fake root laid out like a fresh image (test/install-detect.test.ts).
#
# The scripts that source this take the same two flags (dn_parse_flags):
#   --dry-run     decide, print `<script>: would install: <packages>` (or `nothing to install`), change nothing
#   --root DIR    look for everything under DIR instead of / (implies nothing else; use with --dry-run)

DN_ROOT="${DN_ROOT:-}"
DN_DRY_RUN="${DN_DRY_RUN:-0}"

dn_parse_flags() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --dry-run) DN_DRY_RUN=1 ;;
      --root) DN_ROOT="${2:?--root needs a directory}"; shift ;;
      --root=*) DN_ROOT="${1#--root=}" ;;
      *) echo "$DN_SCRIPT: unknown argument $1 (--dry-run, --root DIR)" >&2; exit 2 ;;
    esac
    shift
  done
  DN_ROOT="${DN_ROOT%/}"
}

# The first executable NAME in $PATH (each entry under $DN_ROOT), as a path under the root.
dn_which() {
  local dir IFS=:
  for dir in $PATH; do
    [ -n "$dir" ] || continue
    if [ -x "$DN_ROOT$dir/$1" ] && [ ! -d "$DN_ROOT$dir/$1" ]; then
      echo "$DN_ROOT$dir/$1"
      return 0
    fi
  done
  return 1
}

# Files in DIR whose names match clang-sys's runtime patterns for Linux (bindgen's default
# `runtime` feature): libclang.so, libclang-*.so, libclang.so.*, libclang-*.so.*. Like clang-sys,
# names containing "-cpp." are skipped: libclang-cpp is the C++ library, not libclang.
dn_libclang_in() {
  local dir="$1" f name
  [ -d "$dir" ] || return 1
  for f in "$dir"/libclang.so "$dir"/libclang-*.so "$dir"/libclang.so.* "$dir"/libclang-*.so.*; do
    [ -e "$f" ] || continue
    name="${f##*/}"
    case "$name" in *-cpp.*) continue ;; esac
    echo "$f"
    return 0
  done
  return 1
}

# Where clang-sys (build/common.rs, search_libclang_directories) finds libclang: only
# $LIBCLANG_PATH (a matching file, or a directory holding one) when it is set; otherwise
# `llvm-config --prefix`/{bin,lib,lib64}, $LD_LIBRARY_PATH, $LIBRARY_PATH, then the fixed Linux
# directory globs. Prints the first library found.
dn_find_libclang() {
  local d cfg prefix IFS
  if [ -n "${LIBCLANG_PATH:-}" ]; then
    d="$DN_ROOT$LIBCLANG_PATH"
    if [ -f "$d" ]; then
      case "${d##*/}" in
        *-cpp.*) return 1 ;;
        libclang.so | libclang-*.so | libclang.so.* | libclang-*.so.*) echo "$d"; return 0 ;;
      esac
    fi
    dn_libclang_in "$d"
    return
  fi
  cfg="${LLVM_CONFIG_PATH:-}"
  [ -n "$cfg" ] && cfg="$DN_ROOT$cfg"
  [ -n "$cfg" ] || cfg="$(dn_which llvm-config || true)"
  if [ -n "$cfg" ] && [ -x "$cfg" ]; then
    prefix="$("$cfg" --prefix 2>/dev/null | head -n1 || true)"
    if [ -n "$prefix" ]; then
      for d in bin lib lib64; do dn_libclang_in "$DN_ROOT$prefix/$d" && return 0; done
    fi
  fi
  IFS=:
  for d in ${LD_LIBRARY_PATH:-} ${LIBRARY_PATH:-}; do
    [ -n "$d" ] && dn_libclang_in "$DN_ROOT$d" && return 0
  done
  unset IFS
  local pattern
  for pattern in '/usr/local/llvm*/lib*' '/usr/local/lib*/*/*' '/usr/local/lib*/*' '/usr/local/lib*' '/usr/lib*/*/*' '/usr/lib*/*' '/usr/lib*'; do
    for d in $DN_ROOT$pattern; do
      [ -d "$d" ] && dn_libclang_in "$d" && return 0
    done
  done
  return 1
}

# Open MPI as the `mpi` crate's build (build-probe-mpi) and the tests use it: `mpicc` (or $MPICC)
# on PATH, whose `-show` names the headers and libmpi it links; `mpirun` to launch. Under a fake
# root the wrappers cannot run, so the check is that they exist and that mpi.h and libmpi.so are
# where Debian's libopenmpi-dev puts them.
dn_have_mpicc() {
  local mpicc
  if [ -n "${MPICC:-}" ] && [ -x "$DN_ROOT$MPICC" ]; then mpicc="$DN_ROOT$MPICC"; else mpicc="$(dn_which mpicc)" || return 1; fi
  if [ -z "$DN_ROOT" ]; then
    local show inc found=0
    show="$("$mpicc" -show 2>/dev/null)" || return 1
    case " $show " in *" -lmpi "*) ;; *) return 1 ;; esac
    for inc in $(printf '%s\n' $show | sed -n 's/^-I//p') /usr/include; do
      [ -f "$inc/mpi.h" ] && found=1
    done
    [ "$found" = 1 ]
  else
    compgen -G "$DN_ROOT/usr/lib/*/openmpi/include/mpi.h" >/dev/null || [ -f "$DN_ROOT/usr/include/mpi.h" ] || return 1
    compgen -G "$DN_ROOT/usr/lib/*/libmpi.so" >/dev/null || compgen -G "$DN_ROOT/usr/lib/*/openmpi/lib/libmpi.so" >/dev/null
  fi
}

# Debian's wasm32 Rust, as scripts/build-wasm.sh drives it: /usr/bin/cargo and /usr/bin/rustc
# (rustc-web, not rustup's), the standard library's sources where `-Zbuild-std` looks for them
# ($(rustc --print sysroot)/lib/rustlib/src/rust/library, sysroot /usr), and `wasm-ld` on PATH
# (the linker CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER names).
dn_wasm_missing_packages() {
  local missing=()
  [ -x "$DN_ROOT/usr/bin/rustc" ] || missing+=(rustc-web)
  [ -x "$DN_ROOT/usr/bin/cargo" ] || missing+=(cargo-web)
  [ -f "$DN_ROOT/usr/lib/rustlib/src/rust/library/Cargo.lock" ] || missing+=(rust-web-src)
  dn_which wasm-ld >/dev/null || missing+=(lld)
  # Debian's own `rustc` (1.63 in bookworm) is also /usr/bin/rustc but has no wasm32 std sources
  # and is too old for this workspace: only rustc-web's (1.8x+) will do.
  if [ -z "$DN_ROOT" ] && [ -x /usr/bin/rustc ]; then
    local minor
    minor="$(/usr/bin/rustc --version 2>/dev/null | sed -n 's/^rustc 1\.\([0-9]*\).*/\1/p')"
    if [ -z "$minor" ] || [ "$minor" -lt 85 ]; then
      case " ${missing[*]} " in *" rustc-web "*) ;; *) missing+=(rustc-web) ;; esac
    fi
  fi
  echo "${missing[*]}"
}

# The browser the tests launch (test/helpers/chromium.ts, findChromium): $CHROMIUM_PATH, then
# /usr/bin/chromium, /usr/bin/chromium-browser, /usr/bin/google-chrome. On the real machine the
# one found must also start (`--version`), so a half-installed browser is not taken for one.
dn_find_chromium() {
  local c
  for c in "${CHROMIUM_PATH:-}" /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome; do
    [ -n "$c" ] && [ -x "$DN_ROOT$c" ] || continue
    if [ -z "$DN_ROOT" ] && ! "$c" --headless --no-sandbox --version >/dev/null 2>&1; then continue; fi
    echo "$DN_ROOT$c"
    return 0
  done
  return 1
}

# Python's venv as scripts/install-cuda-toolkit.sh uses it (`python3 -m venv` then pip): Debian
# splits ensurepip, which venv needs, into python3-venv. Under a fake root: its module files.
dn_have_venv() {
  local py="${PYTHON:-python3}"
  if [ -z "$DN_ROOT" ]; then
    "$py" -c 'import ensurepip, venv' >/dev/null 2>&1
  else
    dn_which "$py" >/dev/null && compgen -G "$DN_ROOT/usr/lib/python3*/ensurepip/__init__.py" >/dev/null
  fi
}

# The wasm-bindgen CLI scripts/build-wasm.sh runs: BIN must print `wasm-bindgen VERSION`.
dn_have_wasm_bindgen() {
  local bin="$1" version="$2"
  [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null | awk '{print $2}')" = "$version" ]
}

# Installs Debian packages (root, or through sudo), refreshing the package lists when they are
# missing or stale; under --dry-run prints what it would install and changes nothing.
dn_apt_install() {
  if [ $# -eq 0 ]; then
    [ "$DN_DRY_RUN" = 1 ] && echo "$DN_SCRIPT: nothing to install"
    return 0
  fi
  if [ "$DN_DRY_RUN" = 1 ]; then
    echo "$DN_SCRIPT: would install: $*"
    return 0
  fi
  echo "$DN_SCRIPT: installing $* (apt-get)" >&2
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$DN_SCRIPT: $* missing and there is no apt-get here: install them (or their equivalents) yourself" >&2
    return 1
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "$DN_SCRIPT: $* missing, and this is neither root nor has sudo: apt-get install $* as root" >&2; return 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  # DN_APT_RECOMMENDS=1 keeps the recommended packages (Chromium's fonts).
  local flags=(-y -qq)
  [ "${DN_APT_RECOMMENDS:-0}" = 1 ] || flags+=(--no-install-recommends)
  $sudo apt-get install "${flags[@]}" "$@" >&2 \
    || { $sudo apt-get update -qq >&2 && $sudo apt-get install "${flags[@]}" "$@" >&2; }
}
