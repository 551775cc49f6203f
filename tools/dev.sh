#!/usr/bin/env bash
# `make dev`: moto (unless one answers on EMULATOR_PORT), the table, and the API on API_PORT,
# until Ctrl-C; then stops what it started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/stack.sh"
cd "$ROOT"
trap stop_started EXIT
trap 'exit 130' INT TERM

EMULATOR_PORT=${EMULATOR_PORT:-5000}
API_PORT=${API_PORT:-9000}
export TABLE_NAME=${TABLE_NAME:-support-tickets-local}
mkdir -p "$ROOT/.local"

ensure_venv
cargo build --workspace --quiet
start_moto "$EMULATOR_PORT" "$ROOT/.local/moto.log"
create_table
export AUTH_MODE=local
log "API on http://127.0.0.1:$API_PORT (table $TABLE_NAME at $AWS_ENDPOINT_URL); Ctrl-C stops"
log "a token: make token SUB=alice ROLE=customer"
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$API_PORT" --concurrency 4
