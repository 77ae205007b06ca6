# rvs — Linux Virtual Server in Rust.
#   make demo   run the bundled example through `rvs sim` (the live demo comes with rvsd)
#   make test   formatting, clippy -D warnings, every test
#   make bench  criterion benchmarks of rvs-core (numbers go to bench/RESULTS.md)

CARGO ?= cargo
export RUSTFLAGS ?=

.PHONY: all deps build test demo bench fmt clippy clean

all: build

deps:
	@scripts/deps

build: deps
	$(CARGO) build --workspace --locked

test: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) test --workspace --locked

demo: deps
	$(CARGO) build --locked -q -p rvs
	target/debug/rvs sim --rules examples/sim/rules.txt --flows examples/sim/flows.txt \
		--list --stats --rate --conns

bench: deps
	$(CARGO) bench --locked -p rvs-core --bench core

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

clean:
	$(CARGO) clean
