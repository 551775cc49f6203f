#!/usr/bin/env bash
# sam build, one function (template.yaml: BuildMethod makefile, the Makefile's build-%Function):
# the package named by the function's logical id less "Function" (GetTicketFunction ->
# get-ticket; e2e/test_template.py checks every function's), built by tools/build.sh (arm64,
# static) and copied into sam's ARTIFACTS_DIR.
#   tools/sam-build.sh LOGICAL_ID_STEM ARTIFACTS_DIR
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
name=$(printf '%s' "$1" | sed -E 's/([a-z0-9])([A-Z])/\1-\2/g' | tr '[:upper:]' '[:lower:]')
bash "$root/tools/build.sh" "$name"
mkdir -p "$2"
cp "$root/target/lambda/$name/bootstrap" "$2/bootstrap"
