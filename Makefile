# rvs — Linux Virtual Server in Rust.
#   make demo   a live DR lab: rvsd on XDP/AF_XDP, 3 real servers under wrr 3/2/1 (root)
#   make demo-sim  replay the bundled flows and capture through `rvs sim` (offline)
#   make test   formatting, clippy -D warnings, every test
#   make install  rvsd, rvsadm (+ -save/-restore links; IPVSADM_NAMES=1: ipvsadm names), rvs
#   make bench  root: the criterion benchmarks of rvs-core and the packet engine, then
#               `rvs bench` (bench-live): rvs NAT/DR/TUN/FULLNAT vs plain routing, nftables,
#               HAProxy and nginx stream in netns labs; records bench/RESULTS.md + ratios.svg
#   make bench-smoke  root: a short `rvs bench` (1 run x 1 s, 4 systems; CI runs it)
#   make fuzz-smoke  every fuzz target for FUZZ_SECONDS (60) each (cargo-fuzz, stable)

CARGO ?= cargo
export RUSTFLAGS ?=

PREFIX ?= /usr/local

.PHONY: all deps build install test demo demo-sim bench bench-live bench-smoke fuzz-smoke fmt clippy clean

all: build

deps:
	@scripts/deps

build: deps
	$(CARGO) build --workspace --locked

# rvsd, rvsadm and rvs into $(PREFIX)/sbin, with the rvsadm-save / rvsadm-restore links;
# IPVSADM_NAMES=1 also links ipvsadm, ipvsadm-save and ipvsadm-restore to rvsadm.
install: deps
	$(CARGO) build --workspace --locked --release
	install -d $(DESTDIR)$(PREFIX)/sbin
	install -m 0755 target/release/rvsd target/release/rvsadm target/release/rvs $(DESTDIR)$(PREFIX)/sbin/
	ln -sf rvsadm $(DESTDIR)$(PREFIX)/sbin/rvsadm-save
	ln -sf rvsadm $(DESTDIR)$(PREFIX)/sbin/rvsadm-restore
	if [ -n "$(IPVSADM_NAMES)" ]; then for n in ipvsadm ipvsadm-save ipvsadm-restore; do \
		ln -sf rvsadm $(DESTDIR)$(PREFIX)/sbin/$$n; done; fi

test: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) test --workspace --locked

demo: deps
	$(CARGO) build --locked -q -p rvs --bins
	target/debug/rvs lab demo

# The offline demos: flows and a capture replayed through the engine by `rvs sim`.
demo-sim: deps
	$(CARGO) build --locked -q -p rvs
	target/debug/rvs sim --rules examples/sim/rules.txt --flows examples/sim/flows.txt \
		--list --stats --rate --conns
	@echo
	@echo "== frames through the packet engine: examples/pcap/in.pcap -> target/demo-out.pcap"
	target/debug/rvs sim --rules examples/pcap/rules.txt --pcap examples/pcap/in.pcap \
		--out target/demo-out.pcap $$(cat examples/pcap/args) --stats

# Where cargo puts the binaries the live benchmark runs.
BENCH_TARGET := $(or $(CARGO_TARGET_DIR),target)

bench: deps
	$(CARGO) bench --locked -p rvs-core --bench core
	$(CARGO) bench --locked -p rvs-core --bench engine
	$(MAKE) bench-live

# Live labs (root): `rvs bench`, every system, 3 runs x 5 s of every measurement; writes
# target/bench/results.{md,json} and ratios.svg, and (when the table is complete) the table
# into bench/RESULTS.md and the chart to bench/ratios.svg. Method: bench/RESULTS.md.
bench-live: deps
	$(CARGO) build --release --locked -p rvs --bins
	$(BENCH_TARGET)/release/rvs bench --out target/bench --record bench/RESULTS.md

# The same harness, short (1 run x 1 s, plain/nftables/rvs NAT/rvs DR, memory at 10k
# connections, debug build): fails unless it produces a complete table of non-zero numbers.
bench-smoke: deps
	$(CARGO) build --locked -p rvs --bins
	$(BENCH_TARGET)/debug/rvs bench --smoke --out target/bench-smoke

# Targets are the [[bin]] names of fuzz/Cargo.toml, so new targets are picked up. New
# inputs go to fuzz/target/smoke-corpus/ (the committed corpus is only read); a crash is
# saved under fuzz/artifacts/<target>/, the other targets still run, and make fails.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(shell sed -n '/^\[\[bin\]\]/,/^name/s/^name *= *"\(.*\)"/\1/p' fuzz/Cargo.toml)

fuzz-smoke:
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	@cd fuzz; failed=; for t in $(FUZZ_TARGETS); do \
		echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
		mkdir -p target/smoke-corpus/$$t corpus/$$t || exit 2; \
		$(CARGO) fuzz run -s none $$t target/smoke-corpus/$$t corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz-smoke: failed:$$failed"; exit 1; fi

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

clean:
	$(CARGO) clean
