#!/usr/bin/env bash
# tests/process/gcomm_adversary.sh: an outsider (trireme-gcomm-adversary) attacks a running group of 3
# trireme-gcomm-node processes: listening without speaking, a wrong group name, FRAG before HELLO,
# poisoned epochs with GATHER/START/ACK/FC from a non-member, FRAG floods announcing 2 GiB; one
# member runs with gcs.max_packet_size=1048576 and sends 150 KB messages throughout. For each:
# refused or ignored, no view change, the members' longest delivery gap under GAP_MS, memory bounded.
# Usage: gcomm_adversary.sh path/to/trireme-gcomm-node path/to/trireme-gcomm-adversary.
# Ends only the processes it started.
set -u
BIN=${1:?path to trireme-gcomm-node}
ADV=${2:?path to trireme-gcomm-adversary}
GAP_MS=${ADV_GAP_MS:-100}
# The adversary runs at the lowest CPU priority: a real attacker sends from its own machine, and
# here its send loop would take one of CI's two cores from the members it attacks. CI once saw a
# 137 ms gap during the flood; here it stayed under 40 ms in 13 runs with one or both cores busy,
# and the node logged nothing and held 24 MB, so sharing a core is the likely cause.
ADVRUN=(nice -n 19 "$ADV")
RSS_MB=${ADV_RSS_MB:-64}      # growth of a node's resident memory a flood may cause
VSZ_MB=${ADV_VSZ_MB:-512}     # ... and of its address space (an up-front 2 GiB allocation shows here)
N=3
WORK_NAME=gcomm-adv

. "$(dirname "$0")/proc_lib.sh"
. "$(dirname "$0")/gcomm_lib.sh"

BASE=$(free_ports $((N + 2))) || fail "no free port range"
NODE_EXTRA[2]="--rate 10 --size 150000 --opt gcs.max_packet_size=1048576"

mem_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/${PIDS[$1]}/status"; } # mem_kb i VmRSS|VmSize
# quiet NAME T0 T1 VIEWS_BEFORE: nobody changed views, every member delivered without a long gap
quiet() {
    local i g
    sleep 0.3
    [ "$(view_counts)" = "$4" ] || fail "$1: a view changed (VIEW lines per node$4 -> $(view_counts))"
    for i in $(seq 0 $((N - 1))); do
        g=$(longest_gap "$i" "$2" "$3")
        [ "$g" -le "$GAP_MS" ] || fail "$1: node $i did not deliver for $g ms (limit $GAP_MS)"
        GAPS="$GAPS $1:n$i=${g}ms"
    done
}

# attack NAME TARGET [adversary options]: runs it against node TARGET; the group must not notice
attack() {
    local name=$1 target=$2 before t0 t1 rc out
    shift 2
    before=$(view_counts)
    t0=$(now_ms)
    out=$("${ADVRUN[@]}" --address "gcomm://127.0.0.1:$((BASE + target))" --attack "$name" "$@" 2>&1)
    rc=$?
    t1=$(now_ms)
    echo "$out"
    [ $rc = 77 ] && { log "$name: skipped (not implemented in the TCP driver yet)"; return 0; }
    [ $rc = 0 ] || fail "$name: the node did not refuse or ignore it (exit $rc)"
    quiet "$name" "$t0" "$t1" "$before"
    log "$name against n$target: refused or ignored, no view change, gaps ok ($(( t1 - t0 )) ms)"
}

log "starting $N nodes on ports $BASE.. (n2: gcs.max_packet_size=1048576, 150 KB messages)"
start 0 bootstrap
sleep 0.3
for i in $(seq 1 $((N - 1))); do start "$i"; done
ALL=$(seq 0 $((N - 1)) | tr '\n' ' ')
wait_views "$ALL" "$N" 20 || fail "group of $N did not form"
sleep 2
GAPS=""
VIEWS0=$(view_counts)
L=$(leader "$ALL") || fail "no common leader"
log "group formed; n$L orders"

attack listen 0
grep -q "no HELLO on link" "$WORK/0.err" || fail "listen: node 0 did not log the silent connection"
attack wrong-group 1
grep -q "belongs to group 'not-trireme'" "$WORK/1.err" || fail "wrong-group: node 1 did not log it"
attack frag-before-hello 0
grep -q "FRAG before HELLO" "$WORK/0.err" || fail "frag-before-hello: node 0 did not log it"
attack poison "$L" --seconds 5
grep -q 'adversary\\x1b\[31m\\x0d\\x0afake log line' "$WORK"/*.err && log "the adversary's name reached a log escaped"
grep -q $'\x1b\[31m' "$WORK"/*.err && fail "a control character from the adversary's name reached a log"

rss0=$(mem_kb "$L" VmRSS)
vsz0=$(mem_kb "$L" VmSize)
"${ADVRUN[@]}" --address "gcomm://127.0.0.1:$((BASE + L))" --attack frag-flood --conns 4 --mib 4 --seconds 2 \
    >"$WORK/flood.out" 2>&1 &
FLOOD=$!
PIDS[$N]=$FLOOD
rss=$rss0
vsz=$vsz0
t0=$(now_ms)
before=$(view_counts)
while kill -0 "$FLOOD" 2>/dev/null; do
    r=$(mem_kb "$L" VmRSS); v=$(mem_kb "$L" VmSize)
    [ "$r" -gt "$rss" ] && rss=$r
    [ "$v" -gt "$vsz" ] && vsz=$v
    sleep 0.05
done
wait "$FLOOD"
rc=$?
PIDS[$N]=""
t1=$(now_ms)
cat "$WORK/flood.out"
[ $rc = 0 ] || fail "frag-flood: adversary exit $rc"
quiet frag-flood "$t0" "$t1" "$before"
log "frag-flood against n$L (4 connections x 4 MiB announcing 2 GiB each): RSS $((rss0 / 1024)) -> peak $((rss / 1024)) MB, address space $((vsz0 / 1024)) -> peak $((vsz / 1024)) MB"
[ $(((rss - rss0) / 1024)) -le "$RSS_MB" ] || fail "frag-flood: RSS grew by $(((rss - rss0) / 1024)) MB (limit $RSS_MB)"
[ $(((vsz - vsz0) / 1024)) -le "$VSZ_MB" ] || fail "frag-flood: address space grew by $(((vsz - vsz0) / 1024)) MB (limit $VSZ_MB)"

attack idle 0 --conns 200 --seconds 2

# the member with the larger gcs.max_packet_size: no view change since the group formed, and its
# 150 KB messages delivered everywhere in the same order
[ "$(view_counts)" = "$VIEWS0" ] || fail "views changed during the test ($VIEWS0 -> $(view_counts))"
big=$(awk '$1 == "MSG" && $4 == "'"${UUIDS[2]: -8}"'"' "$WORK/0.out" | wc -l)
[ "$big" -ge 20 ] || fail "only $big of n2's 150 KB messages were delivered at n0"
for i in $(seq 0 $((N - 1))); do kill -TERM "${PIDS[$i]}"; done
for i in $(seq 0 $((N - 1))); do wait "${PIDS[$i]}"; PIDS[$i]=""; done
logs_agree || fail "delivery logs disagree"
log "n2's 150 KB messages delivered: $big at n0"
log "gaps:$GAPS"
log "PASS"
