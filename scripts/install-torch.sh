#!/usr/bin/env bash
# PyTorch for the GPU check's --dry-run (benches/gpu/check.sh, part of `npm test`: its reference
# side runs torch on the CPU). Uses $PYTHON (default python3) when it imports torch already;
# otherwise installs the pinned wheel into a cached venv, $DENSENET_CACHE_DIR (default
# ~/.cache/densenet-sdk)/torch-<version>/venv, once (PyPI's Linux wheel brings its CUDA libraries:
# about 3 GB to download, 5.5 GB on disk; torch imports them even on the CPU). A venv needs
# Debian's python3-venv (installed when missing). Prints the python to use on stdout.
#
#   scripts/install-torch.sh                       # install when missing; print the python
#   scripts/install-torch.sh --dry-run [--root D]  # print what it would install
set -euo pipefail
DN_SCRIPT=install-torch
. "$(dirname "$0")/lib/detect.sh"
dn_parse_flags "$@"
PIN=torch==2.15.0
# torch's wheel does not depend on numpy, but the check hands tensors to files through .numpy()
NUMPY_PIN=numpy==2.4.6
PY="${PYTHON:-python3}"
venv="${DENSENET_CACHE_DIR:-$HOME/.cache/densenet-sdk}/torch-${PIN#torch==}/venv"
imports_torch() { [ -z "$DN_ROOT" ] && [ -x "$(command -v "$1" || true)" ] && "$1" -c 'import torch, numpy' >/dev/null 2>&1; }
if imports_torch "$PY"; then
  [ "$DN_DRY_RUN" = 1 ] && echo "$DN_SCRIPT: nothing to install" || command -v "$PY"
  exit 0
fi
if [ -x "$DN_ROOT$venv/bin/python" ] && { [ -n "$DN_ROOT" ] || imports_torch "$venv/bin/python"; } && [ -f "$DN_ROOT$venv/.densenet-pin" ] && [ "$(cat "$DN_ROOT$venv/.densenet-pin")" = "$PIN $NUMPY_PIN" ]; then
  [ "$DN_DRY_RUN" = 1 ] && echo "$DN_SCRIPT: nothing to install" || echo "$venv/bin/python"
  exit 0
fi
apt=()
dn_have_venv || apt+=(python3-venv)
if [ "$DN_DRY_RUN" = 1 ]; then
  [ ${#apt[@]} -eq 0 ] || echo "$DN_SCRIPT: would install: ${apt[*]}"
  echo "$DN_SCRIPT: would pip install into $venv: $PIN $NUMPY_PIN"
  exit 0
fi
dn_apt_install "${apt[@]}"
echo "$DN_SCRIPT: installing $PIN into $venv (about 3 GB to download, once)" >&2
rm -rf "$venv"
"$PY" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$PIN" "$NUMPY_PIN" >&2
imports_torch "$venv/bin/python" || { echo "$DN_SCRIPT: $venv/bin/python does not import torch and numpy after installing $PIN $NUMPY_PIN" >&2; exit 1; }
echo "$PIN $NUMPY_PIN" > "$venv/.densenet-pin"
echo "$venv/bin/python"
