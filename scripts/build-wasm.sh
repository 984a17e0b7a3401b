#!/usr/bin/env bash
# Builds the WASM package npm/wasm32 (@densenet-sdk/wasm32) from crates/densenet-wasm:
#   1. installs what is missing: Debian's wasm32 Rust toolchain (scripts/install-wasm-toolchain.sh:
#      rustc-web cargo-web rust-web-src lld; rustup cannot add targets here; needs root, as in CI)
#      and wasm-bindgen-cli pinned to the wasm-bindgen crate's version, cached in
#      $DENSENET_CACHE_DIR (default ~/.cache/densenet-sdk/wasm-bindgen-<version>) and reused
#      (scripts/install-wasm-bindgen.sh);
#   2. builds the cdylib in release for wasm32-unknown-unknown with SIMD128 (std from source);
#   3. runs wasm-bindgen --target nodejs into npm/wasm32/node and --target web into npm/wasm32/web;
#   4. prints the .wasm size, raw and gzipped.
# Any failure exits non-zero with a message naming the step: `npm run build` fails with it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
t0=$(date +%s)
step() { echo "build-wasm: $*" >&2; }
fail() { echo "build-wasm: FAILED: $*" >&2; exit 1; }
trap 'fail "command failed at line $LINENO (exit $?)"' ERR

# 1a. Debian's Rust with the wasm32 standard library sources, and wasm-ld.
bash scripts/install-wasm-toolchain.sh || fail "installing Debian's wasm32 Rust toolchain (scripts/install-wasm-toolchain.sh)"

# 1b. wasm-bindgen-cli at the wasm-bindgen crate's version, cached.
WB=$(bash scripts/install-wasm-bindgen.sh) || fail "installing wasm-bindgen-cli (scripts/install-wasm-bindgen.sh)"

# 2. The modules, release, SIMD128: one without threads (browsers whose page is not
#    cross-origin isolated), one with threads (+atomics: shared memory, rayon on JS workers; Node,
#    and isolated pages). Same sources; std rebuilt with atomics for the second.
export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld
TARGET_DIR=${CARGO_TARGET_DIR_WASM:-$root/target/wasm32}
build_module() { # build_module <target dir> <rustflags>
  RUSTFLAGS="$2" /usr/bin/cargo build --release --locked --manifest-path crates/densenet-wasm/Cargo.toml --target-dir "$1" \
    --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort >&2
  [ -f "$1/wasm32-unknown-unknown/release/densenet_wasm.wasm" ] || fail "$1/wasm32-unknown-unknown/release/densenet_wasm.wasm was not produced"
}
step "building crates/densenet-wasm for wasm32-unknown-unknown (release, +simd128)"
build_module "$TARGET_DIR" "-C target-feature=+simd128" || fail "cargo build of crates/densenet-wasm"
WASM=$TARGET_DIR/wasm32-unknown-unknown/release/densenet_wasm.wasm
step "building crates/densenet-wasm with threads (release, +simd128,+atomics, shared memory up to 4 GiB)"
# wasm-bindgen's thread support needs the memory imported and shared, and the TLS symbols exported.
THREADS_FLAGS="-C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals"
for a in --shared-memory --max-memory=4294967296 --import-memory --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base; do
  THREADS_FLAGS="$THREADS_FLAGS -C link-arg=$a"
done
build_module "$TARGET_DIR-threads" "$THREADS_FLAGS" || fail "cargo build of crates/densenet-wasm with threads"
WASM_THREADS=$TARGET_DIR-threads/wasm32-unknown-unknown/release/densenet_wasm.wasm

# 3. JS glue: web (ESM) for both modules, Node (CommonJS) for the threaded one.
out=npm/wasm32
rm -rf "$out/node" "$out/web" "$out/web-threads"
"$WB" --target web --out-dir "$out/web" --out-name densenet_wasm "$WASM" || fail "wasm-bindgen --target web"
"$WB" --target web --out-dir "$out/web-threads" --out-name densenet_wasm "$WASM_THREADS" || fail "wasm-bindgen --target web (threads)"
"$WB" --target nodejs --out-dir "$out/node" --out-name densenet_wasm "$WASM_THREADS" || fail "wasm-bindgen --target nodejs (threads)"
# The web glue is ESM; the package itself is CommonJS (index.cjs, node/).
echo '{ "type": "module" }' > "$out/web/package.json"
echo '{ "type": "module" }' > "$out/web-threads/package.json"
# One copy of the threaded module: both targets emit the same .wasm; the Node glue reads web-threads/'s.
cmp -s "$out/node/densenet_wasm_bg.wasm" "$out/web-threads/densenet_wasm_bg.wasm" || fail "the nodejs and web targets emitted different .wasm files"
sed -i 's#`${__dirname}/densenet_wasm_bg.wasm`#`${__dirname}/../web-threads/densenet_wasm_bg.wasm`#' "$out/node/densenet_wasm.js"
grep -q '/../web-threads/densenet_wasm_bg.wasm' "$out/node/densenet_wasm.js" || fail "could not point the Node glue at web-threads/densenet_wasm_bg.wasm (wasm-bindgen output changed?)"
rm "$out/node/densenet_wasm_bg.wasm"
# Check it loads and computes (a failure here fails the build, loudly).
node -e "
const b = require('./$out/index.cjs');
const m = new b.NativeModel(b.cifarConfig(10, 4, true, 10), 'f32', 1);
m.predict(new Float32Array(3 * 8 * 8), [1, 3, 8, 8]).then((y) => {
  if (y.length !== 10 || !y.every(Number.isFinite)) throw new Error('bad logits');
}).catch((e) => { console.error(e); process.exit(1); });
" || fail "the built module does not load or compute in Node"

# 4. Size.
raw=$(stat -c %s "$out/web/densenet_wasm_bg.wasm")
gz=$(gzip -9 -c "$out/web/densenet_wasm_bg.wasm" | wc -c)
echo "build-wasm: $out/web/densenet_wasm_bg.wasm: $raw bytes raw, $gz bytes gzip -9 ($(( $(date +%s) - t0 )) s)"
