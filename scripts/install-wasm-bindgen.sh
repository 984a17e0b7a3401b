#!/usr/bin/env bash
# Installs wasm-bindgen-cli at the version crates/densenet-wasm pins (`wasm-bindgen = "=X.Y.Z"`:
# the CLI and the crate must match exactly) into a cache, $DENSENET_CACHE_DIR (default
# ~/.cache/densenet-sdk)/wasm-bindgen-X.Y.Z, when the binary there is missing or prints another
# version. Built with the host's cargo (rustup's if present), once: a few minutes.
# Prints the binary's path on stdout.
#
#   scripts/install-wasm-bindgen.sh                       # install when missing; print the path
#   scripts/install-wasm-bindgen.sh --dry-run [--root D]  # print what it would install
set -euo pipefail
DN_SCRIPT=install-wasm-bindgen
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib/detect.sh"
dn_parse_flags "$@"
version=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' "$here/../crates/densenet-wasm/Cargo.toml")
[ -n "$version" ] || { echo "$DN_SCRIPT: cannot read the pinned wasm-bindgen version from crates/densenet-wasm/Cargo.toml" >&2; exit 1; }
cache="${DENSENET_CACHE_DIR:-$HOME/.cache/densenet-sdk}"
prefix="$cache/wasm-bindgen-$version"
bin="$DN_ROOT$prefix/bin/wasm-bindgen"
if dn_have_wasm_bindgen "$bin" "$version"; then
  [ "$DN_DRY_RUN" = 1 ] && echo "$DN_SCRIPT: nothing to install" || echo "$bin"
  exit 0
fi
if [ "$DN_DRY_RUN" = 1 ]; then
  echo "$DN_SCRIPT: would install: wasm-bindgen-cli $version (cargo install --root $prefix)"
  exit 0
fi
echo "$DN_SCRIPT: installing wasm-bindgen-cli $version into $prefix (compiles for a few minutes, once)" >&2
cargo=$(command -v cargo || echo /usr/bin/cargo)
# --locked when its lock resolves; the crates.io mirror may lack a locked version (it lacked
# webpki-roots 1.0.11 here), then resolve afresh within the same semver ranges.
"$cargo" install wasm-bindgen-cli --version "$version" --locked --root "$prefix" >&2 \
  || "$cargo" install wasm-bindgen-cli --version "$version" --root "$prefix" >&2 \
  || { echo "$DN_SCRIPT: cargo install wasm-bindgen-cli --version $version failed" >&2; exit 1; }
dn_have_wasm_bindgen "$bin" "$version" || { echo "$DN_SCRIPT: $bin does not print wasm-bindgen $version after installing" >&2; exit 1; }
echo "$bin"
