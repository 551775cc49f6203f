#!/usr/bin/env bash
# `make dev`: moto (unless one answers on EMULATOR_PORT), the table, and the API on API_PORT,
# until Ctrl-C; then stops what it started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/stack.sh"
cd "$ROOT"
trap stop_started EXIT
trap 'exit 130' INT TERM

EMULATOR_PORT=${EMULATOR_PORT:-5000}
LOCAL_AWS_PORT=${LOCAL_AWS_PORT:-4566}
API_PORT=${API_PORT:-9000}
export TABLE_NAME=${TABLE_NAME:-support-tickets-local}
export BUCKET_NAME=${BUCKET_NAME:-support-tickets-local}
mkdir -p "$ROOT/.local"

ensure_venv
cargo build --workspace --quiet
start_moto "$EMULATOR_PORT" "$ROOT/.local/moto.log"
create_table_and_bucket
start_proxy "$LOCAL_AWS_PORT" "http://127.0.0.1:$API_PORT" "$ROOT/.local/proxy.log"
export AUTH_MODE=local
local_events_env
log "API on http://127.0.0.1:$API_PORT (table $TABLE_NAME, bucket $BUCKET_NAME at $AWS_ENDPOINT_URL); Ctrl-C stops"
log "a token: make token SUB=alice ROLE=customer"
log "webhooks: make token SUB=ops ROLE=admin, then POST /v2/webhooks with a receiver on http://127.0.0.1:<port>/ (docs/events.md, Locally)"
# In its own process group and waited for, so that Ctrl-C or a TERM to this script runs the
# EXIT trap at once and stops watch with everything else (a foreground command would hold
# the trap until it ended by itself).
setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$API_PORT" --concurrency 4 &
STARTED_PIDS+=("$!")
wait "$!"
