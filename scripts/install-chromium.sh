#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the browser tests (test/wasm-chromium.test.ts,
# test/wasm-bundle.test.ts) when the browser they look for is missing: the same list as
# test/helpers/chromium.ts ($CHROMIUM_PATH, /usr/bin/chromium, /usr/bin/chromium-browser,
# /usr/bin/google-chrome), and the one found must start. The tests drive it over the DevTools
# pipe, with no npm dependency; without a browser they fail, they are never skipped.
#
#   scripts/install-chromium.sh                       # install when missing (root or sudo)
#   scripts/install-chromium.sh --dry-run [--root D]  # print what it would install
set -euo pipefail
DN_SCRIPT=install-chromium
. "$(dirname "$0")/lib/detect.sh"
dn_parse_flags "$@"
missing=()
dn_find_chromium >/dev/null || missing+=(chromium)
DN_APT_RECOMMENDS=1 dn_apt_install "${missing[@]}"
