#!/usr/bin/env bash
# tests/process/gcomm_saturate.sh: 3 gcomm nodes (one process, loopback) saturated with 64 KB
# messages from every member must keep their view: a busy link must not starve heartbeats.
# Usage: gcomm_saturate.sh path/to/trireme-gcomm-bench
set -u
BIN=${1:?path to trireme-gcomm-bench}
. "$(dirname "$0")/proc_lib.sh"
BASE=$(free_ports 3) || { echo "FAIL: no free port range"; exit 1; }
# 64 KB only, 5 s of throughput; the bench exits 2 if any view was delivered during the runs
BENCH_EXPECT_STABLE=1 "$BIN" "$BASE" 5 65536
rc=$?
[ $rc = 0 ] || echo "FAIL: trireme-gcomm-bench exited $rc"
exit $rc
