# Developer entry points. `make dev` serves the API locally; `make test` is what CI runs.
SHELL := /bin/bash
SUB ?= alice
ROLE ?= customer

.PHONY: dev test token web build fmt lint clean

dev:
	bash tools/dev.sh

test:
	bash tools/test.sh

# A local token for curl: make token SUB=alice ROLE=agent
token:
	@cargo build --quiet -p tickets-dev && ./target/debug/tickets-dev token "$(SUB)" "$(ROLE)"

# The example frontend on http://127.0.0.1:8000 (an origin the local bucket's CORS allows).
web:
	python3 -m http.server --bind 127.0.0.1 --directory examples/web 8000

build:
	cargo build --workspace

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

clean:
	cargo clean
	rm -rf .venv .local
