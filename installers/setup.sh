#!/usr/bin/env bash
# Set up ID-LoRA Studio in ./.venv (idempotent).
#   bash installers/setup.sh          runtime only
#   bash installers/setup.sh --test   runtime + test tools + the Debian packages tests need
# Torch: installs torch==2.13.0 unless a torch is already in the venv. Set IDLORA_TORCH_SPEC
# (for example "torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128") to choose
# another build before the first run.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; raise SystemExit(sys.version_info < (3, 11))'; then
  echo "ID-LoRA Studio needs Python 3.11 or newer ($PY is $("$PY" --version 2>&1))." >&2
  exit 1
fi

if [[ $want_test == 1 ]] && command -v apt-get >/dev/null 2>&1; then
  mapfile -t pkgs < <(grep -vE '^\s*(#|$)' installers/debian-test-packages.txt)
  missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if (( ${#missing[@]} )); then
    SUDO=""; [[ $(id -u) != 0 ]] && SUDO="sudo"
    echo "Installing Debian packages for the tests: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip -q --disable-pip-version-check)
if ! .venv/bin/python -c 'import torch' >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  "${PIP[@]}" install ${IDLORA_TORCH_SPEC:-torch==2.13.0}
fi
if [[ $want_test == 1 ]]; then
  "${PIP[@]}" install -e ".[test]"
else
  "${PIP[@]}" install -e .
fi
