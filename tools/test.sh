#!/usr/bin/env bash
# `make test`: everything a change must pass, from a fresh clone. Starts moto and the local
# API on free ports and stops them again, whatever happens.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/stack.sh"
cd "$ROOT"
trap stop_started EXIT
trap 'exit 130' INT TERM

# Logs of each run are kept (the last five) to look into a failure after the fact.
LOGS="$ROOT/target/test-logs/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$LOGS"
ls -1d "$ROOT"/target/test-logs/*/ 2>/dev/null | head -n -5 | xargs -r rm -rf

start_installs "$LOGS"

log "format"
cargo fmt --all -- --check
# Lint: clippy is the compiler of the workspace's own crates for every cargo command of this
# run, with the lints of `cargo clippy --all-targets -- -D warnings` (any of them fails the
# build). One build of everything instead of clippy's check build of it all, then the real
# one; dependencies are compiled by rustc as usual.
CLIPPY_DRIVER=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)
export RUSTC_WORKSPACE_WRAPPER="$CLIPPY_DRIVER"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

log "the domain crate as deployed functions build it (no local-auth; with and without files), linted"
# Built, not checked: a check would build every dependency once more in check mode, which
# nothing else in the run uses. Both resolve dependencies' features as the workspace does,
# through the crate's dev-dependencies, so the workspace build below builds no dependency
# again.
cargo test -p support-tickets --lib --quiet --no-default-features --features files
cargo build -p support-tickets --lib --tests --quiet --no-default-features

log "build and lint (once for the whole run)"
cargo build --workspace --all-targets --quiet

await_install venv "$LOGS/venv-install.log"
start_moto "$(free_port)" "$LOGS/moto.log"
MOTO_URL=$AWS_ENDPOINT_URL
# moto applies concurrent transactions without isolation (docs/development.md): the store and
# handler tests reach it through the local proxy, which passes DynamoDB requests to it one at
# a time, as the end-to-end tests' functions do.
TABLE_NAME=unit-tests start_proxy "$(free_port)" "" "$LOGS/proxy-units.log"

# The unit and store tests run in the background, beside the template and contract checks and
# the start of the end-to-end stack (their environment is taken now, before the stack's); their
# output is shown, and their result decides, before the end-to-end tests begin.
log "unit and store tests (store tests against moto, through $AWS_ENDPOINT_URL), in the background"
if cargo nextest --version >/dev/null 2>&1; then
  start_bg "$LOGS/units.log" cargo nextest run --workspace --no-fail-fast
else
  start_bg "$LOGS/units.log" cargo test --workspace --no-fail-fast
fi
UNITS_PID=$LAST_PID
export AWS_ENDPOINT_URL=$MOTO_URL

await_install checkov "$LOGS/checkov-install.log"
log "template checks: cfn-lint with the serverless rules, checkov (suppressions are justified inline)"
cfn-lint template.yaml -a cfn_lint_serverless.rules
"$VENV/checkov/bin/checkov" -f template.yaml --compact --quiet --skip-download

await_install openapi-lint "$LOGS/openapi-lint-install.log"
log "openapi.yaml under Spectral's and Redocly's recommended rules: no warning passes"
tools/openapi/node_modules/.bin/spectral lint openapi.yaml --ruleset tools/openapi/.spectral.yaml \
  --fail-severity=warn --quiet
tools/openapi/node_modules/.bin/redocly lint openapi.yaml --config tools/openapi/redocly.yaml \
  --format=stylish

export TABLE_NAME="tickets-e2e-$$"
export BUCKET_NAME="tickets-e2e-$$"
# The example page is served from its own origin, which the bucket's CORS must allow.
WEB_PORT=$(free_port)
export FRONTEND_ORIGINS="http://127.0.0.1:$WEB_PORT"
create_table_and_bucket
start_web "$WEB_PORT" "$LOGS/web.log"

# The functions reach moto through the local proxy, which the tests can also tell to hold
# back or fail operations (FAULT_PROXY_URL).
API_PORT=$(free_port)
start_proxy "$(free_port)" "http://127.0.0.1:$API_PORT" "$LOGS/proxy.log"
export FAULT_PROXY_URL="$AWS_ENDPOINT_URL"
# JSON logs, as in AWS (the template sets LogFormat: JSON); e2e/test_logs.py reads them.
export AWS_LAMBDA_LOG_FORMAT=JSON API_LOG="$LOGS/api.log"
start_api "$API_PORT" "$LOGS/api.log" 8
export API_URL="http://127.0.0.1:$API_PORT"
await_install s3s-fs "$LOGS/s3s-install.log"
start_s3s_fs "$(free_port)" "$LOGS/s3s-data" "$LOGS/s3s.log"

await_install browser "$LOGS/browser-install.log"

log "unit and store tests: their output"
units=0
wait "$UNITS_PID" || units=$?
cat "$LOGS/units.log"
[ "$units" -eq 0 ] || { log "unit and store tests failed ($units)"; exit "$units"; }

# TESTS=e2e/test_x.py make test runs only those end-to-end tests (to iterate; CI runs all,
# and the smoke suite and the IAM report need all of them).
log "end-to-end and template tests against $API_URL"
if [ -n "${TESTS:-}" ]; then
  # shellcheck disable=SC2086
  pytest -q $TESTS
  exit 0
fi
pytest -q --durations=12 e2e

log "the smoke suite (make smoke) against the local API"
TOKEN=$(target/debug/tickets-dev token smoke-customer customer) \
AGENT_TOKEN=$(target/debug/tickets-dev token smoke-agent agent) \
  pytest -q -rs smoke

log "least privilege: what each function used of its role in template.yaml (tools/localiam.py)"
"$VENV/bin/python" tools/localiam.py report "$FAULT_PROXY_URL" | tee "$LOGS/iam-report.txt"
