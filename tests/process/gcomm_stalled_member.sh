#!/usr/bin/env bash
# tests/process/gcomm_stalled_member.sh: 3 trireme-gcomm-node processes, two of them sending 16 KB
# messages as fast as a window of 64 lets them; the third is stopped (SIGSTOP) for 4 s, less than
# evs.suspect_timeout, so it stays in the view and nobody can trim. With trireme.retain_limit=32M
# the senders' memory must stay bounded (peak RSS under 400 MB; without the limit the leader
# reached 1.3-1.9 GB and the survivors went non-primary when it came back in 6 runs of 7), and after
# SIGCONT the three must be one primary view again and deliver. Ends only the processes it started.
# Usage: gcomm_stalled_member.sh path/to/trireme-gcomm-node [LIMIT]
set -u
BIN=${1:?path to trireme-gcomm-node}
LIMIT=${2:-32M}
WORK=$(mktemp -d /tmp/trireme-gcomm-stall.XXXXXX)
FAILED=0
declare -a PIDS

. "$(dirname "$0")/proc_lib.sh"

cleanup() {
    stop_pids
    if [ "$FAILED" = 0 ]; then rm -rf "$WORK"; else echo "logs kept in $WORK"; fi
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    FAILED=1
    for i in 0 1 2; do echo "--- node $i"; grep VIEW "$WORK/$i.out" | tail -4; grep -v "primary=" "$WORK/$i.err" | tail -4; done
    exit 1
}

BASE=$(free_ports 3) || fail "no free port range"

ALL="gcomm://127.0.0.1:$BASE,127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2))"
for i in 0 1 2; do
    addr=$ALL
    load=(--rate 20000 --size 16384)
    [ $i = 0 ] && addr="gcomm://"
    [ $i = 2 ] && load=()
    "$BIN" --name "n$i" --listen "tcp://127.0.0.1:$((BASE + i))" --address "$addr" \
        --opt trireme.retain_limit="$LIMIT" "${load[@]}" >"$WORK/$i.out" 2>"$WORK/$i.err" &
    PIDS[$i]=$!
    sleep 0.5
done

prim3() { grep VIEW "$WORK/$1.out" | tail -1 | grep -q " PRIM 3 "; }
for t in $(seq 1 100); do prim3 0 && prim3 1 && prim3 2 && break; sleep 0.1; done
prim3 0 && prim3 1 && prim3 2 || fail "no 3-member primary view at the start"
sleep 2
kill -STOP "${PIDS[2]}"
sleep 4
kill -CONT "${PIDS[2]}"
for t in $(seq 1 150); do prim3 0 && prim3 1 && prim3 2 && break; sleep 0.1; done
prim3 0 && prim3 1 && prim3 2 || fail "not one 3-member primary view 15 s after SIGCONT"
before=$(grep -c '^MSG' "$WORK/2.out")
sleep 2
after=$(grep -c '^MSG' "$WORK/2.out")
[ "$after" -gt "$before" ] || fail "the resumed member delivers nothing"
worst=0
for i in 0 1 2; do
    kb=$(awk '/VmHWM/ {print $2}' "/proc/${PIDS[$i]}/status")
    echo "n$i: peak RSS $((kb / 1024)) MB, $(grep -c '^MSG' "$WORK/$i.out") messages delivered"
    [ "$kb" -gt "$worst" ] && worst=$kb
done
[ "$worst" -lt $((400 * 1024)) ] || fail "peak RSS $((worst / 1024)) MB with trireme.retain_limit=$LIMIT (limit 400 MB)"
echo "ok: retain limit $LIMIT, largest peak RSS $((worst / 1024)) MB"
