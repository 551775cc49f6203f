#!/usr/bin/env bash
# The local stack, shared by `make dev` and `make test`: the Python tools in .venv, moto as the
# DynamoDB endpoint, the table, and the functions behind `cargo lambda watch`. Every process
# started here is remembered by its id and stopped by it (never by name).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"

# Dummy credentials: moto accepts any; nothing here can reach AWS.
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-local-dummy}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-local-dummy}
export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_EC2_METADATA_DISABLED=true

STARTED_PIDS=()

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for URL SECONDS PID: until URL answers (any HTTP status), the process dies, or time runs out.
wait_for() {
  local url=$1 seconds=$2 pid=${3:-}
  local deadline=$((SECONDS + seconds))
  while [ $SECONDS -lt $deadline ]; do
    if curl -s -o /dev/null --max-time 2 "$url"; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      log "process $pid exited before $url answered"
      return 1
    fi
    sleep 0.3
  done
  log "$url did not answer within ${seconds}s"
  return 1
}

# Starts a command in its own process group, so stopping it also stops what it spawned; its
# id is left in LAST_PID. (Not meant for `$(...)`: a subshell would not remember the process.)
start_bg() {
  local logfile=$1; shift
  setsid "$@" >"$logfile" 2>&1 &
  LAST_PID=$!
  STARTED_PIDS+=("$LAST_PID")
}

# Whether a process is still running (a zombie has exited; it only waits to be reaped).
running() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $state != Z* ]]
}

stop_started() {
  local pid
  for pid in "${STARTED_PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    for _ in $(seq 1 50); do running "$pid" || break; sleep 0.1; done
    if running "$pid"; then
      log "process $pid ignored SIGTERM; killing it"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  STARTED_PIDS=()
}

# start_moto PORT LOGFILE: moto on 127.0.0.1:PORT unless something already answers there.
start_moto() {
  local port=$1 logfile=$2
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  if curl -s -o /dev/null --max-time 2 "$AWS_ENDPOINT_URL/moto-api/"; then
    log "using the emulator already answering on port $port"
    return 0
  fi
  # moto_server with its transaction backups taken once per table (tools/moto_server.py).
  start_bg "$logfile" "$VENV/bin/python" "$ROOT/tools/moto_server.py" -H 127.0.0.1 -p "$port"
  wait_for "$AWS_ENDPOINT_URL/moto-api/" 60 "$LAST_PID"
  log "moto on $AWS_ENDPOINT_URL (pid $LAST_PID)"
}

# The attachments bucket, path-style (moto), with the CORS rule of template.yaml.
export S3_FORCE_PATH_STYLE=true
export FRONTEND_ORIGINS=${FRONTEND_ORIGINS:-http://127.0.0.1:8000,http://localhost:8000}

create_table_and_bucket() {
  "$ROOT/target/debug/tickets-dev" create-table >&2
  "$ROOT/target/debug/tickets-dev" create-bucket >&2
}

# Debian's Chromium and playwright-core (pinned in e2e/browser/package-lock.json) for the
# browser test; the browser comes from the distribution, never a download of its own.
ensure_browser() {
  if [ ! -x /usr/bin/chromium ]; then
    log "installing Debian's chromium"
    if [ "$(id -u)" -ne 0 ]; then log "chromium is missing and this is not root: apt-get install chromium"; return 1; fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  local dir="$ROOT/e2e/browser"
  if [ ! -d "$dir/node_modules/playwright-core" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    log "installing playwright-core (npm ci)"
    (cd "$dir" && npm ci --no-audit --no-fund --silent)
    touch "$dir/node_modules"
  fi
}

# Spectral and Redocly (pinned in tools/openapi/package-lock.json), the OpenAPI linters.
ensure_openapi_lint() {
  local dir="$ROOT/tools/openapi"
  if [ ! -x "$dir/node_modules/.bin/spectral" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    log "installing the OpenAPI linters (npm ci)"
    (cd "$dir" && npm ci --no-audit --no-fund --silent)
    touch "$dir/node_modules"
  fi
}

# start_web PORT LOGFILE: examples/web as static files from its own origin.
start_web() {
  local port=$1 logfile=$2
  start_bg "$logfile" python3 -m http.server --bind 127.0.0.1 --directory "$ROOT/examples/web" "$port"
  wait_for "http://127.0.0.1:$port/index.html" 30 "$LAST_PID"
  export WEB_URL="http://127.0.0.1:$port"
  log "examples/web on $WEB_URL (pid $LAST_PID)"
}

# s3s-fs: an S3 endpoint that checks SigV4 (moto does not), for the signature tests; built
# once from crates.io into .local.
S3S_FS="$ROOT/.local/s3s-fs/bin/s3s-fs"
# What make test installs in the background from its start, beside its builds: .venv, the
# browser and the OpenAPI linters (below), s3s-fs, compiled once, in the dev profile without debug info
# (it serves a handful of test requests; an optimised build took 40 s longer), and checkov's
# own venv. start_install NAME LOGFILE COMMAND... (nothing when COMMAND is `true`);
# await_install NAME LOGFILE before its first use: the run fails with its output if it failed.
declare -A INSTALL_PIDS=()
start_install() {
  local name=$1 logfile=$2; shift 2
  [ "$1" = true ] && return 0
  log "installing $name (in the background)"
  start_bg "$logfile" "$@"
  INSTALL_PIDS[$name]=$LAST_PID
}

await_install() {
  local name=$1 logfile=$2 pid=${INSTALL_PIDS[$1]:-}
  [ -n "$pid" ] || return 0
  if ! wait "$pid"; then
    log "installing $name failed:"
    cat "$logfile" >&2
    return 1
  fi
  unset "INSTALL_PIDS[$name]"
  log "$name installed"
}

# The background installs of make test (see above).
start_installs() {
  local logs=$1
  if [ -x "$S3S_FS" ]; then
    start_install s3s-fs "$logs/s3s-install.log" true
  else
    start_install s3s-fs "$logs/s3s-install.log" env CARGO_PROFILE_DEV_DEBUG=0 cargo install \
      --quiet --debug --locked --features binary s3s-fs --version 0.14.1 --root "$ROOT/.local/s3s-fs"
  fi
  # .venv's pinned tools (moto, cargo-lambda, pytest: first needed when moto starts, after
  # the builds), Debian's chromium and the npm packages (the browser test, the OpenAPI lint):
  # network and disk mostly, beside the builds' compiling.
  start_install venv "$logs/venv-install.log" bash -c "source '$ROOT/tools/venv.sh' && ensure_venv"
  start_install browser "$logs/browser-install.log" bash -c "source '$ROOT/tools/stack.sh' && ensure_browser"
  start_install openapi-lint "$logs/openapi-lint-install.log" \
    bash -c "source '$ROOT/tools/stack.sh' && ensure_openapi_lint"
  if checkov_installed; then
    start_install checkov "$logs/checkov-install.log" true
  else
    start_install checkov "$logs/checkov-install.log" \
      bash -c "source '$ROOT/tools/venv.sh' && ensure_checkov"
  fi
}

# start_s3s_fs PORT DATADIR LOGFILE: exports S3_SIGV4_* for the tests.
start_s3s_fs() {
  local port=$1 data=$2 logfile=$3
  export S3_SIGV4_URL="http://127.0.0.1:$port" S3_SIGV4_BUCKET=sigv4-tests
  export S3_SIGV4_KEY=local-sigv4-key S3_SIGV4_SECRET=local-sigv4-dummy-secret
  rm -rf "$data" && mkdir -p "$data/$S3_SIGV4_BUCKET"
  start_bg "$logfile" "$S3S_FS" --host 127.0.0.1 --port "$port" \
    --access-key "$S3_SIGV4_KEY" --secret-key "$S3_SIGV4_SECRET" "$data"
  wait_for "$S3_SIGV4_URL/" 30 "$LAST_PID"
  log "s3s-fs on $S3_SIGV4_URL (pid $LAST_PID)"
}

# start_proxy PORT FUNCTIONS_URL LOGFILE: tools/localproxy.py in front of the emulator (S3
# event notifications to confirm-attachment, faults on request); the functions then use it.
start_proxy() {
  local port=$1 functions=$2 logfile=$3
  start_bg "$logfile" "$VENV/bin/python" "$ROOT/tools/localproxy.py" "$port" "$AWS_ENDPOINT_URL" "$functions"
  wait_for "http://127.0.0.1:$port/moto-api/" 30 "$LAST_PID"
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  log "local AWS endpoint (proxy to moto) on $AWS_ENDPOINT_URL (pid $LAST_PID)"
}

# warm_api URL N: N concurrent unauthenticated requests (401s) to every route, so that
# cargo lambda watch starts each function's instances now rather than in the middle of a test
# (seen here: a request arriving while instances were being spawned waited 60 s).
warm_api() {
  local url=$1 n=$2 id=01937f5e-7a3c-7cc0-8d2a-6f1e2b3c4d5e route i pids
  for route in "GET /v2/support-tickets" "POST /v2/support-tickets" "GET /v2/support-tickets/$id" \
      "PATCH /v2/support-tickets/$id" "POST /v2/support-tickets/$id/threads" \
      "GET /v2/support-tickets/$id/threads" \
      "POST /v2/support-tickets/$id/attachments/$id/upload" \
      "PATCH /v2/support-tickets/$id/status" "DELETE /v2/support-tickets/$id" \
      "POST /v2/erasures" "POST /v2/exports"; do
    pids=()
    for i in $(seq 1 "$n"); do
      curl -s -o /dev/null --max-time 60 -X "${route%% *}" "$url${route#* }" &
      pids+=("$!")
    done
    # Only these requests: a bare `wait` would also wait for the servers started above.
    wait "${pids[@]}"
  done
}

# Events and webhooks locally (docs/events.md): the bus and queues tools/localqueues.py makes
# from template.yaml (local-<logical id>), receivers on 127.0.0.1 over http allowed, and a
# retry schedule of seconds instead of hours (1 s, then 2 s: three tries).
local_events_env() {
  export EVENT_BUS_NAME=local-EventBus
  export WEBHOOK_DELIVERY_QUEUE_URL="$AWS_ENDPOINT_URL/123456789012/local-WebhookDeliveryQueue"
  export WEBHOOK_DEAD_LETTER_QUEUE_URL="$AWS_ENDPOINT_URL/123456789012/local-WebhookDeadLetterQueue"
  export WEBHOOK_ALLOW_LOOPBACK=true
  export WEBHOOK_RETRY_SECONDS=${WEBHOOK_RETRY_SECONDS:-1,2}
  # Erasure jobs' steps, and closed tickets purged 30 days after closing, so that retention
  # runs locally too (off by default in template.yaml; docs/data-lifecycle.md).
  export ERASURE_QUEUE_URL="$AWS_ENDPOINT_URL/123456789012/local-ErasureQueue"
  export EXPORT_QUEUE_URL="$AWS_ENDPOINT_URL/123456789012/local-ExportQueue"
  export RETENTION_DAYS=${RETENTION_DAYS:-30}
}

# start_api PORT LOGFILE [CONCURRENCY]: the functions behind cargo lambda watch, local auth on.
start_api() {
  local port=$1 logfile=$2 concurrency=${3:-4}
  export AUTH_MODE=local
  local_events_env
  start_bg "$logfile" cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" \
    --ignore-changes --concurrency "$concurrency"
  # A real route (answers 401 without a token), which also starts list-tickets.
  wait_for "http://127.0.0.1:$port/v2/support-tickets" 120 "$LAST_PID"
  warm_api "http://127.0.0.1:$port" "$concurrency"
  log "API on http://127.0.0.1:$port (pid $LAST_PID)"
}
