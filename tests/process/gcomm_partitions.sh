#!/usr/bin/env bash
# tests/process/gcomm_partitions.sh: 3 trireme-gcomm-node processes, each in a network namespace of
# its own joined by veth pairs, under load, through network faults made with nftables (and tc netem
# where the kernel has it): one-way loss, a partial partition (A-B cut, both reach C), a flapping
# link, random loss, and netem delay with reordering. After each fault the network heals and the
# group must be one primary view of 3 again. Checks: no node delivers a message differently or twice,
# no node skips a seqno without a non-continuous view first (no delivered message lost), and the
# longest delivery gap at the nodes that stay primary is recorded per fault next to that of a
# killed member. Needs root, ip and nft; exits 77 (skipped) without.
# Usage: gcomm_partitions.sh path/to/trireme-gcomm-node. Ends only the processes it started and
# deletes the namespaces it made, also when it fails.
set -u
BIN=${1:?path to trireme-gcomm-node}
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
command -v ip >/dev/null && command -v nft >/dev/null && command -v tc >/dev/null || skip "needs ip, tc and nft (cmake/install-deps.sh)"
FAULT_S=${PART_FAULT_S:-6}
N=3
WORK_NAME=gcomm-part
NS=trp$$ # namespaces trp<pid>0..2

. "$(dirname "$0")/proc_lib.sh"
. "$(dirname "$0")/gcomm_lib.sh"
# shellcheck source=../scripts/lib-netns.sh
. "$(dirname "$0")/../scripts/lib-netns.sh"

test_cleanup() { netns_delete; }

# the network: node i is 10.77.0.(i+1) on its loopback; a veth pair per pair of nodes, routed
NETNS_PREFIX=$NS NETNS_NET=10.77.0 NETNS_BASE=1
netns_mesh 0 1 2
case $? in 0) ;; 77) skip "cannot create network namespaces or use nftables here" ;; *) fail "cannot create veth pairs" ;; esac
for i in 0 1 2; do
    NODE_CMD[$i]="ip netns exec $NS$i"
    NODE_ADDRS[$i]="$(netns_addr "$i")"
done
BASE=4567

drop() { netns_drop "$@"; } # a's packets to b
lossy() { netns_lossy "$@"; }
dropped() { # packets the rules dropped since the last heal
    local i n=0 c
    for i in 0 1 2; do
        for c in $(ip netns exec "$NS$i" nft list chain inet trireme out | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'); do
            n=$((n + c))
        done
    done
    echo $n
}
DROPS=0 # packets dropped by rules flushed since the last record
heal() {
    DROPS=$((DROPS + $(dropped)))
    netns_heal
}

ALL="0 1 2"
others() { echo "$ALL" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' '; }

# record NAME T0 T1: the longest delivery gap during [T0, T1] at the nodes primary at T1
FIGS=""
record() {
    local i g worst=0 who="" d
    d=$((DROPS + $(dropped)))
    DROPS=$((-$(dropped)))
    for i in $ALL; do
        [ -n "${PIDS[$i]}" ] || continue
        prim_of "$i" 3 || prim_of "$i" 2 || continue
        g=$(longest_gap "$i" "$2" "$3")
        [ "$g" -gt "$worst" ] && worst=$g
        who="$who n$i"
    done
    FIGS="$FIGS
  $1: longest delivery gap $worst ms (at$who; $d packets dropped)"
    log "$1: longest delivery gap $worst ms at the nodes primary at its end ($who ), $d packets dropped"
}

# recover NAME: heals, then the group must be 3 again and deliver
recover() {
    heal
    wait_views "$ALL" 3 30 || fail "$1: not one 3-member primary view 30 s after healing"
    local i before t
    for i in $ALL; do
        before=$(grep -c '^MSG' "$WORK/$i.out"); t=0
        while [ "$(grep -c '^MSG' "$WORK/$i.out")" -le "$before" ]; do
            sleep 0.1; t=$((t + 1)); [ $t -lt 50 ] || fail "$1: node $i delivers nothing after healing"
        done
    done
    logs_agree >/dev/null || fail "$1: delivery logs disagree"
}

log "3 nodes in namespaces $NS{0,1,2}, 200 messages/s each"
start 0 bootstrap
sleep 0.3
start 1; start 2
wait_views "$ALL" 3 20 || fail "group of 3 did not form"
sleep 2
L=$(leader "$ALL") || fail "no common leader"
M=$(others "$L" | awk '{print $1}'); K=$(others "$L" | awk '{print $2}')
log "n$L orders; members n$M, n$K"

# the reference: a member killed
t0=$(now_ms)
kill -9 "${PIDS[$M]}"; wait "${PIDS[$M]}" 2>/dev/null; PIDS[$M]=""
sleep "$FAULT_S"
record "member n$M killed (reference)" "$t0" "$(now_ms)"
start "$M"
recover "kill"

t0=$(now_ms); drop "$M" "$L"
sleep "$FAULT_S"; record "one-way loss n$M -> n$L (orderer)" "$t0" "$(now_ms)"; recover "one-way loss"
L=$(leader "$ALL") || fail "no common leader"; M=$(others "$L" | awk '{print $1}'); K=$(others "$L" | awk '{print $2}')

t0=$(now_ms); drop "$M" "$K"; drop "$K" "$M"
sleep "$FAULT_S"; record "partial partition n$M | n$K, both reach n$L" "$t0" "$(now_ms)"; recover "partial partition"
L=$(leader "$ALL") || fail "no common leader"; M=$(others "$L" | awk '{print $1}')

t0=$(now_ms)
for k in $(seq 1 $((FAULT_S * 2))); do
    if [ $((k % 2)) = 1 ]; then drop "$M" "$L"; drop "$L" "$M"; else heal; fi
    sleep 0.$((3 + RANDOM % 5))
done
record "flapping link n$M - n$L (cut and restored every 0.3-0.8 s)" "$t0" "$(now_ms)"; recover "flapping link"

t0=$(now_ms); for i in $ALL; do lossy "$i" 5; done
sleep "$FAULT_S"; record "5 % random loss on every link" "$t0" "$(now_ms)"; recover "random loss"

NETEM=1
netns_netem delay 20ms 10ms reorder 25% 50% loss 1% || NETEM=0
if [ $NETEM = 1 ]; then
    t0=$(now_ms); sleep "$FAULT_S"
    record "netem delay 20±10 ms, 25 % reordered, 1 % loss on every link" "$t0" "$(now_ms)"
    recover "netem"
else
    heal
    FIGS="$FIGS
  netem delay/reordering: not run (this kernel has no sch_netem)"
    log "netem: this kernel has no sch_netem; delay and reordering not run"
fi

# no delivered message lost: within a history every node's seqnos follow each other, except right
# after a non-continuous view (which tells the application to catch up by state transfer)
for i in $ALL; do
    awk '$1 == "VIEW" { if ($6 == 0) skip = 1 }
         $1 == "MSG" { if (($2 in last) && $3 != last[$2] + 1 && !skip) { print "seqno " $3 " after " last[$2] " in " $2; bad = 1 }
                       last[$2] = $3; skip = 0 }
         END { exit bad }' "$WORK/$i.out" || fail "node $i skipped messages without a non-continuous view"
done
logs_agree || fail "delivery logs disagree"
log "figures:$FIGS"
log "PASS"
