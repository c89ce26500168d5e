#!/usr/bin/env bash
# tests/process/gcomm_saturate.sh: 3 gcomm nodes (one process, loopback) saturated with 64 KB
# messages from every member must keep their view: a busy link must not starve heartbeats.
# Usage: gcomm_saturate.sh path/to/trireme-gcomm-bench
set -u
BIN=${1:?path to trireme-gcomm-bench}
port_free() { ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
BASE=0
for try in $(seq 1 50); do
    cand=$((20000 + (RANDOM * 7 + $$) % 30000))
    if port_free "$cand" && port_free $((cand + 1)) && port_free $((cand + 2)); then BASE=$cand; break; fi
done
[ "$BASE" != 0 ] || { echo "FAIL: no free port range"; exit 1; }
# 64 KB only, 5 s of throughput; the bench exits 2 if any view was delivered during the runs
BENCH_EXPECT_STABLE=1 "$BIN" "$BASE" 5 65536
rc=$?
[ $rc = 0 ] || echo "FAIL: trireme-gcomm-bench exited $rc"
exit $rc
