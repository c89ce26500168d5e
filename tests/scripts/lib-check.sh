# tests/scripts/lib-check.sh: pass/fail bookkeeping for the MariaDB-level test scripts.
# The caller sets DEADLINE (seconds); the last line printed is "N passed, M failed".
PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
expect() { # DESC ACTUAL WANTED
  in_time
  if [ "$2" = "$3" ]; then pass "$1 ($2)"; else fail "$1: got '$2', want '$3'"; fi
}
finish() { # log tails first, so the summary stays the last line
  if [ "$FAILED" -gt 0 ] && [ -n "$MDB_ROOT" ]; then
    for n in $(mdb_nodes); do mdb_log_tail "$n" 40 2>&1; done
    MDB_TAILS_SHOWN=1 # read by mdb_cleanup
  fi
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ] # the EXIT trap stops the servers and removes the temp dir
  exit
}
abort() { fail "$*"; finish; }
in_time() {
  [ "$SECONDS" -lt "$DEADLINE" ] || abort "out of time: more than $DEADLINE s (a hung server?)"
}
# wait_for SECONDS CMD...: until CMD succeeds, polling every 0.5 s; fails after SECONDS.
wait_for() {
  local limit=$1 start=$SECONDS; shift
  while ! "$@"; do
    [ $((SECONDS - start)) -lt "$limit" ] || return 1
    in_time
    sleep 0.5
  done
}
