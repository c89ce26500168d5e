#!/usr/bin/env bash
# tests/process/gcomm_nodes.sh: N trireme-gcomm-node processes on 127.0.0.1 under load through
# kill -9, restart, SIGSTOP/SIGCONT, bad peers and a full crash; then every delivery log must agree.
# Usage: gcomm_nodes.sh N path/to/trireme-gcomm-node. Ends only the processes it started.
set -u
N=${1:?node count}
BIN=${2:?path to trireme-gcomm-node}
WORK=$(mktemp -d /tmp/trireme-gcomm-proc.XXXXXX)
FAILED=0
declare -a PIDS
OPTS=(--opt evs.suspect_timeout=PT3S --opt evs.inactive_timeout=PT6S --rate 50 --size 300)

. "$(dirname "$0")/proc_lib.sh"

cleanup() {
    stop_pids
    if [ "$FAILED" = 0 ]; then rm -rf "$WORK"; else echo "logs kept in $WORK"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; FAILED=1; for i in $(seq 0 $((N - 1))); do echo "--- node $i"; grep VIEW "$WORK/$i.out" | tail -3; tail -3 "$WORK/$i.err"; done; exit 1; }
log() { echo "[$(date +%T)] $*"; }

BASE=$(free_ports $((N + 2))) || fail "no free port range"

others() { # seed list: every node but $1
    local s="" i
    for i in $(seq 0 $((N - 1))); do [ "$i" = "$1" ] || s="$s${s:+,}127.0.0.1:$((BASE + i))"; done
    echo "gcomm://$s"
}

start() { # start i [bootstrap]
    local i=$1 addr
    if [ "${2:-}" = bootstrap ]; then addr="gcomm://"; else addr=$(others "$i"); fi
    mkdir -p "$WORK/d$i"
    "$BIN" --name "n$i" --listen "tcp://127.0.0.1:$((BASE + i))" --address "$addr" --data-dir "$WORK/d$i" \
        "${OPTS[@]}" >>"$WORK/$i.out" 2>>"$WORK/$i.err" &
    PIDS[$i]=$!
}

last_view() { grep VIEW "$WORK/$1.out" 2>/dev/null | tail -1; }
msgs() { grep -c '^MSG' "$WORK/$1.out" 2>/dev/null || echo 0; }

wait_views() { # wait_views "nodes" members seconds
    local nodes=$1 want=$2 secs=$3 t=0 i ok
    while [ "$t" -lt $((secs * 10)) ]; do
        ok=1
        for i in $nodes; do
            set -- $(last_view "$i")
            [ "${3:-}" = PRIM ] && [ "${4:-}" = "$want" ] || ok=0
        done
        [ $ok = 1 ] && return 0
        sleep 0.1
        t=$((t + 1))
    done
    return 1
}

all() { seq 0 $((N - 1)) | tr '\n' ' '; }
but() { seq 0 $((N - 1)) | grep -vx "$1" | tr '\n' ' '; }

delivering() { # delivering "nodes": every node delivers new messages within 3 s
    local i before
    for i in $1; do
        before=$(msgs "$i")
        local t=0
        while [ "$(msgs "$i")" -le "$before" ]; do
            sleep 0.1
            t=$((t + 1))
            [ $t -lt 30 ] || return 1
        done
    done
}

log "starting $N nodes on ports $BASE.."
start 0 bootstrap
sleep 0.3
for i in $(seq 1 $((N - 1))); do start "$i"; done
wait_views "$(all)" "$N" 20 || fail "group of $N did not form"
delivering "$(all)" || fail "no delivery under load"
log "group formed, all deliver"

log "kill -9 node 1"
kill -9 "${PIDS[1]}"
wait "${PIDS[1]}" 2>/dev/null
PIDS[1]=""
t0=$(date +%s%N)
wait_views "$(but 1)" $((N - 1)) 15 || fail "no $((N - 1))-member primary view after kill -9"
log "new primary view after $((($(date +%s%N) - t0) / 1000000)) ms"
delivering "$(but 1)" || fail "delivery stopped after kill -9"

log "restart node 1"
start 1
wait_views "$(all)" "$N" 20 || fail "node 1 did not rejoin"
delivering "$(all)" || fail "no delivery after rejoin"

log "SIGSTOP node 2 past inactive_timeout"
kill -STOP "${PIDS[2]}"
wait_views "$(but 2)" $((N - 1)) 15 || fail "paused node not evicted"
sleep 7
delivering "$(but 2)" || fail "delivery stopped while node 2 paused"
kill -CONT "${PIDS[2]}"
wait_views "$(all)" "$N" 20 || fail "node 2 did not rejoin after SIGCONT"
log "node 2 rejoined"

log "bad peers: garbage, oversized frame, truncated frame, unknown protocol version, wrong group"
head -c 4096 /dev/urandom >/dev/tcp/127.0.0.1/"$BASE" 2>/dev/null
printf '\xff\xff\xff\x7f\x00\x00\x00\x00' >/dev/tcp/127.0.0.1/"$BASE" 2>/dev/null
"$BIN" --probe truncated --address "gcomm://127.0.0.1:$BASE" || fail "truncated-frame probe could not run"
"$BIN" --probe version:99 --address "gcomm://127.0.0.1:$BASE" || fail "a peer speaking protocol 99 was not disconnected"
"$BIN" --name intruder --group not-trireme --listen "tcp://127.0.0.1:$((BASE + N))" --address "gcomm://127.0.0.1:$BASE" \
    >"$WORK/intruder.out" 2>"$WORK/intruder.err" &
PIDS[$N]=$!
sleep 2
kill -9 "${PIDS[$N]}"
wait "${PIDS[$N]}" 2>/dev/null
PIDS[$N]=""
grep -q "disconnecting" "$WORK/0.err" || fail "node 0 did not log the bad peers"
grep -q "belongs to group" "$WORK/0.err" "$WORK/intruder.err" || fail "wrong group not reported"
grep -q "speaks protocol 99" "$WORK/0.err" || fail "unknown protocol version not reported"
grep -q "ended inside a frame" "$WORK/0.err" || fail "truncated frame not reported"
grep -q "VIEW.*PRIM" "$WORK/intruder.out" && grep "VIEW" "$WORK/intruder.out" | grep -qv "PRIM 1 " && fail "intruder joined"
wait_views "$(all)" "$N" 5 || fail "group disturbed by bad peers"
delivering "$(all)" || fail "no delivery after bad peers"

log "kill -9 all, restart all (gvwstate recovery, no bootstrap)"
for i in $(seq 0 $((N - 1))); do kill -9 "${PIDS[$i]}"; done
for i in $(seq 0 $((N - 1))); do wait "${PIDS[$i]}" 2>/dev/null; PIDS[$i]=""; done
for i in $(seq 0 $((N - 1))); do start "$i"; done
wait_views "$(all)" "$N" 30 || fail "no primary view after full restart"
delivering "$(all)" || fail "no delivery after full restart"
log "recovered"

for i in $(seq 0 $((N - 1))); do kill -TERM "${PIDS[$i]}"; done
for i in $(seq 0 $((N - 1))); do
    wait "${PIDS[$i]}"
    rc=$?
    PIDS[$i]=""
    [ "$rc" = 0 ] || fail "node $i exited with status $rc after SIGTERM (sanitizer report in $WORK/$i.err?)"
done
grep -l "ERROR: .*Sanitizer\|WARNING: ThreadSanitizer" "$WORK"/*.err && fail "sanitizer report"


# every (history, seqno) is the same message everywhere, and no node delivers one twice
cat "$WORK"/[0-9]*.out | awk '$1=="MSG"{k=$2" "$3; if ((k in m) && m[k]!=$5) {print "order mismatch at", k; bad=1} m[k]=$5}
    END{printf "%d distinct seqnos agree\n", length(m); exit bad}' || fail "delivery logs disagree"
for i in $(seq 0 $((N - 1))); do
    dups=$(awk '$1=="MSG"{print $2, $3}' "$WORK/$i.out" | sort | uniq -d | head -1)
    [ -z "$dups" ] || fail "node $i delivered $dups twice"
done
log "PASS ($N nodes)"
