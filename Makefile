# Developer entry points. `make dev` serves the API locally; `make test` is what CI runs.
SHELL := /bin/bash
SUB ?= alice
ROLE ?= customer

.PHONY: dev test token web build deploy smoke bench hot-text capacity fmt lint clean

dev:
	bash tools/serve.sh

test:
	bash tools/test.sh

# A local token for curl: make token SUB=alice ROLE=agent (or customer, or admin: webhooks)
token:
	@cargo build --quiet -p tickets-dev && ./target/debug/tickets-dev token "$(SUB)" "$(ROLE)"

# The example frontend on http://127.0.0.1:8000 (an origin the local bucket's CORS allows).
web:
	python3 -m http.server --bind 127.0.0.1 --directory examples/web 8000

# Every function for Lambda (arm64, provided.al2023, static): target/lambda/<function>/bootstrap(.zip).
build:
	bash tools/build.sh

# What sam build runs for each function (template.yaml: BuildMethod makefile, ContextPath .),
# in the function's directory: tools/build.sh for it, the binary into sam's ARTIFACTS_DIR.
build-%Function:
	bash "$(dir $(abspath $(firstword $(MAKEFILE_LIST))))tools/sam-build.sh" "$*" "$(ARTIFACTS_DIR)"

# Sizes, cold starts, instructions, peak RSS and latencies of the release binaries (README,
# Performance): results in target/bench/results.md.
bench:
	bash tools/bench.sh

# tools/hot-text.ld, the layout that groups the code the functions run (docs/performance.md,
# Memory), from callgrind profiles and a native page trace (needs valgrind, cc, nm, readelf):
# re-run when what a request runs has changed much, then make bench.
hot-text:
	bash tools/bench.sh --hot-text

# The capacity model (docs/capacity.md): partition load, conflicts and cost of a traffic mix,
# from the requests the functions send (capacity/profile.json). No AWS, no build. Change the
# mix with ARGS, e.g. make capacity ARGS="--set rates.create=2000".
capacity:
	python3 tools/capacity.py $(ARGS)

# sam build + sam deploy with samconfig.toml's ENV (default or prod); needs the AWS SAM CLI and
# AWS credentials. cargo lambda and zig come from .venv.
ENV ?= default
deploy:
	@command -v sam >/dev/null || { echo "make deploy needs the AWS SAM CLI (sam) on PATH" >&2; exit 1; }
	source tools/venv.sh && ensure_venv && sam build --config-env "$(ENV)" && sam deploy --config-env "$(ENV)"

# The smoke suite against a deployed stack: make smoke API_URL=<ApiUrl> TOKEN=<access token>
# [AGENT_TOKEN=<an agent's>]. Skipped, not faked, without API_URL.
smoke:
	API_URL="$(API_URL)" TOKEN="$(TOKEN)" AGENT_TOKEN="$(AGENT_TOKEN)" bash tools/smoke.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

clean:
	cargo clean
	rm -rf .venv .local
