# tests/kv/kv_lib.sh: what the multi-process trireme-kv tests share (sourced, with the name of
# the work directory as $1): free ports and stop_pids (proc_lib.sh); DIR, the work directory,
# removed on exit once the test set OK=1, kept and named otherwise; PIDS; fail.
. "$(dirname "${BASH_SOURCE[0]}")/../process/proc_lib.sh"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
PIDS=()
OK=0
kv_cleanup() {
    stop_pids
    if [ $OK = 1 ]; then rm -rf "$DIR"; else echo "logs kept in $DIR"; fi
}
trap kv_cleanup EXIT
# fail WHY: WHY and the last lines of every node's log, then exit 1
fail() {
    echo "FAIL: $*"
    for f in "$DIR"/*.err "$DIR"/*.log; do [ -f "$f" ] && { echo "--- $f"; grep -v 'P:INFO' "$f" | tail -15; }; done
    exit 1
}
