#!/usr/bin/env bash
# `make build`: every function as Lambda expects it (arm64, provided.al2023): a static
# executable linked with musl (cargo lambda with zig, target aarch64-unknown-linux-musl), in
# target/lambda/<function>/bootstrap and bootstrap.zip. Static, because glibc's shared
# libraries were 1.5 MiB of every function's resident memory and its loader's work at start
# (docs/performance.md, "Memory"); mimalloc keeps musl's allocator out of it. sam build uses
# this script too (tools/sam-build.sh).
# Each function is built as its own package, so its features are its own (list-tickets and
# escalate-tickets do not link the S3 client); all share target/, so dependencies compile once.
#   tools/build.sh            arm64, static (what the template deploys)
#   tools/build.sh --host     the machine's own architecture, static with musl too (the same
#                             kind of program as deploys, to run and measure here: make
#                             bench), into target/lambda-host
#   tools/build.sh --trace    the machine's own architecture with glibc, into
#                             target/lambda-trace: make hot-text's page trace preloads a
#                             library, which a static program cannot take (the layout's
#                             patterns match the musl builds' names too: tools/hottext.py)
#   tools/build.sh [--host|--trace] PACKAGE...   only these packages (make bench: the
#                             functions it measures and its floor, tools/bench-floor)
# BUILD_DRY_RUN=1 prints the build commands instead of running them (e2e/test_bench.py).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
cd "$ROOT"
ensure_venv

target=aarch64-unknown-linux-musl out=target/lambda
case "${1:-}" in
  --host | --trace)
    # With symbols: tools/hottext.py reads them from callgrind's profiles, and profiles of the
    # bench's builds can be read too (they are not loaded at run time: peak RSS is the same).
    export CARGO_PROFILE_RELEASE_STRIP=false
    if [ "$1" = --host ]; then
      target=$(uname -m)-unknown-linux-musl out=target/lambda-host
    else
      target="" out=target/lambda-trace
    fi
    shift ;;
esac
arch=()
[ -z "$target" ] || arch=(--target "$target")
packages=("$@")
if [ ${#packages[@]} -eq 0 ]; then
  for dir in functions/*/; do packages+=("$(basename "$dir")"); done
fi
dry=()
[ -z "${BUILD_DRY_RUN:-}" ] || dry=(echo)
if [ ${#dry[@]} -eq 0 ] && [ -n "$target" ] && ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  rustup target add "$target"
fi

for name in "${packages[@]}"; do
  log "building $name ${arch[*]:-(host, glibc)}"
  "${dry[@]}" cargo lambda build --release "${arch[@]}" --package "$name" --lambda-dir "$out" --quiet
  [ ${#dry[@]} -eq 0 ] || continue
  (cd "$out/$name" && rm -f bootstrap.zip && python3 -c '
import zipfile
with zipfile.ZipFile("bootstrap.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, open("bootstrap", "rb").read())
')
done
[ ${#dry[@]} -eq 0 ] || exit 0
for name in "${packages[@]}"; do ls -l "$out/$name/bootstrap" "$out/$name/bootstrap.zip"; done
