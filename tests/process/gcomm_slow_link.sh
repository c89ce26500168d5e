#!/usr/bin/env bash
# tests/process/gcomm_slow_link.sh: 3 gcomm nodes (one process) in a network namespace of their
# own whose loopback is shaped like a slow LAN (80 Mbit/s for all links together, MTU 1500, a
# 20 ms queue), saturated with 64 KB messages from every member: the send queues then hold
# seconds of data, and heartbeats and echoes must overtake it (the driver's urgent queue, and
# little unsent data in the kernel) or the leases run out and the group re-forms. Needs root
# (unshare -n, tc); exits 77 (skipped) without.
# Usage: gcomm_slow_link.sh path/to/trireme-gcomm-bench
set -u
BIN=${1:?path to trireme-gcomm-bench}
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root for a network namespace and tc"
command -v unshare >/dev/null && command -v tc >/dev/null && command -v ip >/dev/null || skip "needs unshare, ip and tc"
unshare -n true 2>/dev/null || skip "cannot create a network namespace here"
# The namespace, its loopback and the shaping go away with this process; nothing outside is touched.
unshare -n bash -c '
    ip link set lo mtu 1500 up || exit 77
    tc qdisc add dev lo root tbf rate 80mbit burst 32kb latency 20ms || exit 77
    BENCH_EXPECT_STABLE=1 BENCH_LAT_COUNT=20 timeout 240 "$1" 25840 5 65536
' slow-link "$BIN"
rc=$?
[ $rc = 77 ] && skip "cannot shape loopback in the namespace (tc tbf)"
[ $rc = 0 ] || echo "FAIL: trireme-gcomm-bench exited $rc (2: the group re-formed under load on the slow link)"
exit $rc
