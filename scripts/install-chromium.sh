#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the browser test (test/wasm-chromium.test.ts)
# when it is missing (needs root, as in CI). The test drives it over the DevTools pipe, with no npm
# dependency; without a browser the test fails, it is never skipped.
set -euo pipefail
if [ -n "${CHROMIUM_PATH:-}" ] && [ -x "$CHROMIUM_PATH" ]; then exit 0; fi
if command -v chromium >/dev/null; then exit 0; fi
[ "$(id -u)" = 0 ] || { echo "install-chromium: chromium is missing and this is not root; apt-get install chromium" >&2; exit 1; }
echo "install-chromium: apt-get install chromium" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq chromium >&2
