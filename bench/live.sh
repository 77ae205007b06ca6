#!/usr/bin/env bash
# Live lab benchmark: rvs (DR, NAT) against nftables DNAT and plain routing, in one run.
#
#   sudo bench/live.sh                      (make bench-live)
#   REPS=1 DUR=2 sudo bench/live.sh         (make bench-live-smoke)
#
# Environment: REPS (3) repetitions of each measurement, DUR (5) seconds each, SERVERS (3),
# SYSTEMS ("plain nftables rvs-dr rvs-nat"), CONNS (16) wrk connections, OUT
# (target/bench-live). For every system a fresh `rvs lab` (named rvsb<random>) is brought up,
# measured and torn down (also on error or Ctrl-C, by a trap).
#
# Measurements (method in bench/RESULTS.md):
#   keep-alive req/s  wrk -t1 -cCONNS -dDUR http://TARGET/
#   conn/s            the same with -H 'Connection: close' (one TCP connection per request)
#   UDP pps at RS     `rvs lab flood` (64 UDP sockets = 64 source ports, 18-byte payloads,
#                     sendmmsg batches of 64) from the client to TARGET:9000 for DUR s; counted as
#                     the sum of rx_packets deltas of eth0 in every real-server netns.
#                     The generator's own rate (datagrams the client kernel accepted, and
#                     client eth0 tx_packets) is reported next to it.
# TARGET: the VIP 198.18.1.100 (port 80) for nftables and rvs; for plain routing (NAT
# topology, no balancer) HTTP goes to rs1 198.18.2.11:8080 (wrk has one target per thread)
# and the UDP flood is spread over every RIP.
set -euo pipefail

REPS=${REPS:-3}
DUR=${DUR:-5}
SERVERS=${SERVERS:-3}
CONNS=${CONNS:-16}
SYSTEMS=${SYSTEMS:-"plain nftables rvs-dr rvs-nat"}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TD=${CARGO_TARGET_DIR:-$ROOT/target}
case $TD in /*) ;; *) TD=$ROOT/$TD ;; esac
OUT=${OUT:-$ROOT/target/bench-live}
RVS=$TD/release/rvs
VIP=198.18.1.100

die() { echo "bench-live: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, XDP)"
missing=()
for t in wrk:wrk nft:nftables jq:jq curl:curl; do
	command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
	command -v apt-get >/dev/null || die "needs ${missing[*]}"
	echo "== apt-get install ${missing[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi
[[ $REPS =~ ^[1-9][0-9]*$ && $DUR =~ ^[1-9][0-9]*$ ]] || die "REPS and DUR must be positive integers"

cd "$ROOT"
echo "== cargo build --release -p rvs" >&2
cargo build --release --locked -p rvs >&2
mkdir -p "$OUT"

LAB=""
down() {
	if [ -n "$LAB" ]; then
		"$RVS" lab down --name "$LAB" >/dev/null 2>&1 || echo "bench-live: lab down $LAB failed" >&2
		LAB=""
	fi
}
trap down EXIT
trap 'exit 130' INT TERM

# The per-measurement raw results: system<TAB>metric<TAB>rep<TAB>value<TAB>extra
RAW=$OUT/raw.tsv
: >"$RAW"

ns() { ip netns exec "$LAB-$1" "${@:2}"; }
rs_rx() {
	local s=0 v n
	for n in $(seq 1 "$SERVERS"); do
		v=$(ns "rs$n" cat /sys/class/net/eth0/statistics/rx_packets)
		s=$((s + v))
	done
	echo "$s"
}
client_tx() { ns client cat /sys/class/net/eth0/statistics/tx_packets; }

# wrk's Requests/sec, or fail loudly when wrk saw errors.
run_wrk() {
	local out
	out=$(ns client wrk -t1 -c"$CONNS" -d"${DUR}s" "$@")
	echo "$out" >>"$OUT/wrk.log"
	if grep -qE 'Socket errors|Non-2xx' <<<"$out"; then
		echo "bench-live: wrk reported errors: $(grep -E 'Socket errors|Non-2xx' <<<"$out")" >&2
	fi
	awk '/^Requests\/sec:/ {print int($2)}' <<<"$out"
}

measure() {
	local sys=$1 url=$2 udp_dst=$3 r v rx0 rx1 tx0 tx1 gen
	ns client curl -sf -m 2 -o /dev/null "$url" || die "$sys: no HTTP answer from $url"
	ns client wrk -t1 -c"$CONNS" -d1s "$url" >/dev/null # warm-up (ARP, conn tables, caches)
	for r in $(seq 1 "$REPS"); do
		v=$(run_wrk "$url")
		printf '%s\tkeepalive\t%s\t%s\t\n' "$sys" "$r" "$v" >>"$RAW"
		echo "   $sys keep-alive rep $r: $v req/s" >&2
	done
	for r in $(seq 1 "$REPS"); do
		v=$(run_wrk -H 'Connection: close' "$url")
		printf '%s\tconnclose\t%s\t%s\t\n' "$sys" "$r" "$v" >>"$RAW"
		echo "   $sys conn/s rep $r: $v" >&2
	done
	for r in $(seq 1 "$REPS"); do
		sleep 0.5
		rx0=$(rs_rx)
		tx0=$(client_tx)
		gen=$(ns client "$RVS" lab flood "$udp_dst" 9000 "$DUR" --sockets 64 --payload 18)
		sleep 0.3 # let the last frames through the queues
		rx1=$(rs_rx)
		tx1=$(client_tx)
		v=$(((rx1 - rx0) / DUR))
		local gpps wire
		gpps=$(awk '{print $4}' <<<"$gen")
		wire=$(((tx1 - tx0) / DUR))
		printf '%s\tudp\t%s\t%s\t%s %s\n' "$sys" "$r" "$v" "${gpps%.*}" "$wire" >>"$RAW"
		echo "   $sys UDP rep $r: $v pps at RS (generator $gpps pps accepted, $wire pps on client eth0)" >&2
	done
}

STATUS_JSON="{}"
for sys in $SYSTEMS; do
	case $sys in
	plain) args=(--mode nat --balancer none) ;;
	nftables) args=(--mode nat --balancer nftables) ;;
	rvs-dr) args=(--mode dr --balancer rvs) ;;
	rvs-nat) args=(--mode nat --balancer rvs) ;;
	*) die "unknown system $sys (plain nftables rvs-dr rvs-nat)" ;;
	esac
	LAB=rvsb$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
	echo "== $sys: rvs lab up ${args[*]} --servers $SERVERS --name $LAB" >&2
	"$RVS" lab up "${args[@]}" --servers "$SERVERS" --name "$LAB" >"$OUT/lab-$sys.txt"
	# Generator side only: enough source ports for DUR seconds of Connection: close.
	ns client sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
	if [ "$sys" = plain ]; then
		rips=$(seq -s, -f '198.18.2.%g' 11 $((10 + SERVERS)))
		measure "$sys" "http://198.18.2.11:8080/" "$rips"
	else
		measure "$sys" "http://$VIP/" "$VIP"
	fi
	if [[ $sys == rvs-* ]]; then
		st=$("$RVS" ctl --control "/run/rvs/lab/$LAB/rvsd.sock" --status)
		echo "$st" >"$OUT/status-$sys.json"
		STATUS_JSON=$(jq -c --arg s "$sys" --argjson st "$st" '. + {($s): $st}' <<<"$STATUS_JSON")
		echo "   rvsd $sys: $(jq -c '{rx: .dataplane.rx, tx: .dataplane.tx, tx_failed: .dataplane.tx_failed, unresolved_dropped: .dataplane.unresolved_dropped, dropped: .dataplane.dropped, engine_dropped: .engine.dropped, redirect_failed: .dataplane.classifier.redirect_failed, redirected: .dataplane.classifier.redirected, kernel_rx_ring_full: .dataplane.kernel.rx_ring_full, kernel_rx_dropped: .dataplane.kernel.rx_dropped}' <<<"$st")" >&2
	fi
	down
done

# Summaries: median and min-max per system and metric; ratios of the medians.
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo "+dirty" || true)
jq -R -s \
	--arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg commit "$COMMIT$DIRTY" \
	--arg kernel "$(uname -r)" --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
	--argjson nproc "$(nproc)" --argjson reps "$REPS" --argjson dur "$DUR" \
	--argjson servers "$SERVERS" --argjson conns "$CONNS" --argjson status "$STATUS_JSON" '
	def median: sort | if length % 2 == 1 then .[length / 2 | floor]
		else (.[length / 2 - 1] + .[length / 2]) / 2 end;
	[split("\n")[] | select(length > 0) | split("\t")
	 | {system: .[0], metric: .[1], rep: (.[2] | tonumber), value: (.[3] | tonumber),
	    gen: (if .[4] == "" then null else (.[4] | split(" ") | map(tonumber)) end)}] as $rows
	| ($rows | map(.system) | unique) as $_
	| {date: $date, commit: $commit, kernel: $kernel, cpu: $cpu, nproc: $nproc, reps: $reps,
	   duration_s: $dur, servers: $servers, wrk_connections: $conns, rvsd_status: $status,
	   raw: $rows,
	   results: ($rows | group_by(.system) | map({key: .[0].system, value: (
		group_by(.metric) | map({key: .[0].metric, value: {
			median: (map(.value) | median), min: (map(.value) | min), max: (map(.value) | max),
			values: map(.value),
			generator_pps: (if .[0].gen then (map(.gen[0]) | median) else null end),
			client_tx_pps: (if .[0].gen then (map(.gen[1]) | median) else null end)}})
		| from_entries)}) | from_entries)}' "$RAW" >"$OUT/results.json"

# The Markdown table, in the order of $SYSTEMS.
jq -r --arg order "$SYSTEMS" '
	def fmt: if . == null then "–" else (. | floor | tostring) end;
	def cell($s; $m): .results[$s][$m] as $r | if $r == null then "–"
		else "\($r.median | fmt) (\($r.min | fmt)–\($r.max | fmt))" end;
	def ratio($s; $m; $base): if .results[$base][$m].median and .results[$s][$m].median
		then (.results[$s][$m].median / .results[$base][$m].median * 100 | round) as $v
		| "\($v / 100 | floor).\($v % 100 | tostring | if length == 1 then "0" + . else . end)"
		else "–" end;
	def name: {plain: "plain routing (no balancer)", nftables: "nftables DNAT",
		"rvs-dr": "rvs DR (rvsd)", "rvs-nat": "rvs NAT (rvsd)"}[.] // .;
	. as $all
	| "| system | req/s keep-alive | conn/s (Connection: close) | UDP pps at RS | UDP generator pps | ratio to nftables (req/s · conn/s · pps) | ratio to plain routing (req/s · conn/s · pps) |",
	  "|---|---:|---:|---:|---:|---:|---:|",
	  ($order | split(" ")[] | select(length > 0) as $s | $all
	   | select(.results[$s] != null)
	   | "| \($s | name) | \(cell($s; "keepalive")) | \(cell($s; "connclose")) | \(cell($s; "udp")) | \(.results[$s].udp.generator_pps | fmt) | \(ratio($s; "keepalive"; "nftables")) · \(ratio($s; "connclose"; "nftables")) · \(ratio($s; "udp"; "nftables")) | \(ratio($s; "keepalive"; "plain")) · \(ratio($s; "connclose"; "plain")) · \(ratio($s; "udp"; "plain")) |")
	' "$OUT/results.json" >"$OUT/results.md"
{
	echo
	echo "median (min–max) of $REPS runs of ${DUR} s each; $SERVERS real servers; wrk -t1 -c$CONNS"
	echo "commit $COMMIT$DIRTY, $(nproc) CPUs, kernel $(uname -r)"
} >>"$OUT/results.md"
cat "$OUT/results.md"
echo "bench-live: wrote $OUT/results.md and $OUT/results.json" >&2
