#!/usr/bin/env bash
# `make bench`: release binaries for arm64 (what deploys; sizes) and for this machine (to run),
# moto on a free port, then tools/bench.py per function, then the local end-to-end latency
# through the `make dev` stack, and the time from a write to a webhook receiver. Results:
# target/bench/results.{json,md}, e2e.json and events.json.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/stack.sh"
cd "$ROOT"
trap stop_started EXIT
trap 'exit 130' INT TERM

command -v valgrind >/dev/null || { log "valgrind is needed for instruction counts: apt-get install valgrind"; exit 1; }
# The arm64 binaries' own memory (tools/bench.py, arm64_burst) needs qemu's user-mode emulator
# (the binaries are static: no arm64 C library); without it those columns say n/a.
if ! command -v qemu-aarch64 >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    log "installing qemu-user (the arm64 binaries' memory)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user \
        >/dev/null; } || log "could not install it: arm64 memory n/a"
  else
    log "no qemu-aarch64 (apt-get install qemu-user): arm64 memory n/a"
  fi
fi
# What tools/bench.py measures: its functions (or those named) and the floor, a hello-world
# lambda_http function built by the same profile in the same run (tools/bench-floor).
# The host builds are static musl programs like the arm64 ones (tools/build.sh --host): what
# deploys, on this machine's architecture.
# `tools/bench.sh --hot-text [FUNCTION...]` (make hot-text) writes tools/hot-text.ld instead:
# host builds with glibc (tools/build.sh --trace: its page trace preloads a library), each
# function profiled under callgrind and traced natively (tools/hottext.py).
hot_text=0
if [ "${1:-}" = "--hot-text" ]; then hot_text=1; shift; fi
mapfile -t measured < <(python3 tools/bench.py --list "$@")
if [ $hot_text = 1 ]; then
  bash tools/build.sh --trace "${measured[@]}"
  export BENCH_HOST_DIR="$ROOT/target/lambda-trace"
else
  bash tools/build.sh "${measured[@]}"
  bash tools/build.sh --host "${measured[@]}"
fi
cargo build --quiet -p tickets-dev

mkdir -p target/bench
start_moto "$(free_port)" target/bench/moto.log
export TABLE_NAME="bench-$$" BUCKET_NAME="bench-$$"
create_table_and_bucket
# The functions reach moto over TLS, as they reach DynamoDB and S3 in AWS: a TLS front on a
# free port with a certificate authority made for this run, which they trust through
# AWS_CA_BUNDLE (shared/src/tls.rs); the harness itself talks to moto directly.
TLS_PORT=$(free_port)
rm -rf target/bench/tls
start_bg target/bench/tlsproxy.log "$VENV/bin/python" tools/tlsproxy.py "$TLS_PORT" "${AWS_ENDPOINT_URL##*:}" target/bench/tls
for _ in $(seq 100); do [ -s target/bench/tls/ca.pem ] && break; sleep 0.1; done
export BENCH_ENDPOINT_URL="https://localhost:$TLS_PORT" BENCH_CA_BUNDLE="$ROOT/target/bench/tls/ca.pem"
log "TLS front of moto on $BENCH_ENDPOINT_URL (pid $LAST_PID)"
if [ $hot_text = 1 ]; then
  python3 tools/hottext.py "$@"
  exit 0
fi
python3 tools/bench.py "$@"

log "local end-to-end latency through the make dev stack (cargo lambda watch, debug builds)"
# 300 replies from one caller: the write quota set out of reach, as in tools/bench.py.
export CUSTOMER_WRITES_PER_MINUTE=100000 AGENT_WRITES_PER_MINUTE=100000
cargo build --workspace --quiet
API_PORT=$(free_port)
start_proxy "$(free_port)" "http://127.0.0.1:$API_PORT" target/bench/proxy.log
start_api "$API_PORT" target/bench/api.log 4
API_URL="http://127.0.0.1:$API_PORT" python3 tools/bench_e2e.py
API_URL="http://127.0.0.1:$API_PORT" python3 tools/bench_events.py
