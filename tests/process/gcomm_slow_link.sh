#!/usr/bin/env bash
# tests/process/gcomm_slow_link.sh: 3 gcomm nodes (one process) in a network namespace of their
# own whose loopback is shaped like a slow LAN (80 Mbit/s for all links together, MTU 1500, a
# 20 ms queue), saturated with 64 KB messages from every member: the send queues then hold
# seconds of data, and heartbeats and echoes must overtake it (the driver's urgent queue, and
# little unsent data in the kernel) or the leases run out and the group re-forms. Needs root
# (unshare -n, tc); exits 77 (skipped) without. evs.keepalive_period is 2 s (lease 1 s): with the
# default 500 ms lease, TCP's loss recovery on this drop-tail link (a retransmission timeout of
# 200 ms or more holds the whole stream) cost the lease in about 1 run of 8 (docs/benchmarks.md).
# Usage: gcomm_slow_link.sh path/to/trireme-gcomm-bench
set -u
BIN=${1:?path to trireme-gcomm-bench}
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root for a network namespace and tc"
command -v unshare >/dev/null && command -v tc >/dev/null && command -v ip >/dev/null || skip "needs unshare, ip and tc"
unshare -n true 2>/dev/null || skip "cannot create a network namespace here"
LOG=$(mktemp /tmp/trireme-slow-link.XXXXXX)
trap 'rm -f "$LOG"' EXIT
# The namespace, its loopback and the shaping go away with this process; nothing outside is touched.
unshare -n bash -c '
    ip link set lo mtu 1500 up || exit 77
    tc qdisc add dev lo root tbf rate 80mbit burst 32kb latency 20ms || exit 77
    BENCH_DEBUG=info BENCH_KEEPALIVE_MS=2000 BENCH_EXPECT_STABLE=1 BENCH_LAT_COUNT=20 timeout 240 "$1" 25840 5 65536 >"$2" 2>&1
' slow-link "$BIN" "$LOG"
rc=$?
grep -v "^[0-9.]* gcomm" "$LOG" # the figures; the gcomm log lines only on failure
[ $rc = 77 ] && skip "cannot shape loopback in the namespace (tc tbf)"
if [ $rc != 0 ]; then
    echo "--- gcomm log (view changes) ---"
    grep -E "view|lease|leav|gather|wanted|unreachable|lost contact" "$LOG" | tail -60
    echo "FAIL: trireme-gcomm-bench exited $rc (2: the group re-formed under load on the slow link)"
fi
exit $rc
