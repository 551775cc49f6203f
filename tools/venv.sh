#!/usr/bin/env bash
# The pinned Python tools (moto, cargo-lambda with zig, cfn-lint, pytest, ...) in .venv, and
# checkov in a venv of its own inside it (its pins conflict with pytest's). Sourced by the other
# scripts; sets nothing else, so `make deploy` keeps the caller's AWS credentials.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
export PATH="$VENV/bin:$PATH"

# Each line says how long the run has taken so far (where a slow phase is).
log() { printf '[stack +%ss] %s\n' "$SECONDS" "$*" >&2; }

ensure_venv() {
  local stamp="$VENV/.installed"
  if [ ! -f "$stamp" ] || [ "$ROOT/tools/requirements.txt" -nt "$stamp" ]; then
    log "installing the pinned Python tools into .venv"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/tools/requirements.txt"
    touch "$stamp"
  fi
}

# checkov has a venv of its own (.venv/checkov), independent of .venv's tools: make test
# installs it in the background beside them (tools/stack.sh, start_install).
checkov_installed() {
  [ -f "$VENV/checkov/.installed" ] && [ ! "$ROOT/tools/requirements-checkov.txt" -nt "$VENV/checkov/.installed" ]
}

ensure_checkov() {
  local venv="$VENV/checkov"
  if ! checkov_installed; then
    log "installing checkov into .venv/checkov"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/tools/requirements-checkov.txt"
    touch "$venv/.installed"
  fi
}
