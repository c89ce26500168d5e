#!/usr/bin/env bash
# tests/kv/counters.sh: the status variables move when they should (docs/operations.md, "Status
# variables"). Two trireme-kv nodes, pc.weight 2 and 3; B applies slowly (--apply-delay-ms), so
# its queue passes gcs.fc_limit and it stops A; both write the same keys, so certification fails
# somewhere; a small gcache.size makes the cached window slide. Each node prints its variables
# before the workload (start.), after it, and after stats_reset (reset.). Only directions and
# bounds are checked, never rates: the same outcome on a loaded machine, only slower.
# usage: counters.sh TRIREME_KV PROVIDER_SO
set -u
KV=$1
PROVIDER=$2
. "$(dirname "$0")/kv_lib.sh" kv-counters
# v NODE NAME: the last value of NAME in NODE's output (prefix start. or reset. for the others)
v() { sed -n "s/^$2=\(.*\)$/\1/p" "$DIR/$1.out" | tail -1; }
num() { awk -v a="$1" 'BEGIN { exit !(a ~ /^-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?$/) }'; }
# check NODE L OP R: value L against value R (a name, or a number), e.g. replicated ">" start.replicated
check() {
    local node=$1 l=$2 op=$3 r=$4 lv rv
    lv=$(v "$node" "$l")
    if num "$r"; then rv=$r; else rv=$(v "$node" "$r"); fi
    num "$lv" && num "$rv" || fail "$node: $l ($lv) or $r ($rv) missing or not a number"
    awk -v a="$lv" -v b="$rv" -v op="$op" 'BEGIN {
        ok = op == ">" ? a > b : op == ">=" ? a >= b : op == "==" ? a == b : op == "<=" ? a <= b : 0
        exit !ok }' || fail "$node: expected $l $op $r, got $lv $op $rv"
    echo "ok $node: $l ($lv) $op $r ($rv)"
}

BASE=$(free_ports 4) || fail "no free ports"
PA=$BASE PB=$((BASE + 2))
opts() { # opts PORT WEIGHT
    echo "base_port=$1;gmcast.listen_addr=tcp://127.0.0.1:$1;ist.recv_addr=127.0.0.1:$(($1 + 1));gcache.size=128K;gcs.fc_limit=2;pc.weight=$2;pc.wait_prim_timeout=PT10S"
}
common=(--provider "$PROVIDER" --ops 800 --threads 2 --keys 200 --value-size 256 --appliers 2
        --members 2 --toi 1 --key-type exclusive --checksum --sync-timeout 50 --sst-method kv
        --quiet --stats-start --stats --stats-reset)
timeout 120 "$KV" "${common[@]}" --name A --cluster-address gcomm:// --data-dir "$DIR/A" \
    --address 127.0.0.1:$PA --options "$(opts $PA 2)" >"$DIR/A.out" 2>"$DIR/A.err" &
PIDS+=($!)
sleep 1
timeout 120 "$KV" "${common[@]}" --name B --cluster-address gcomm://127.0.0.1:$PA --data-dir "$DIR/B" \
    --address 127.0.0.1:$PB --options "$(opts $PB 3)" --apply-delay-ms 4 >"$DIR/B.out" 2>"$DIR/B.err" &
PIDS+=($!)
rc=0
for p in "${PIDS[@]}"; do wait "$p" || rc=$?; done
PIDS=()
[ $rc -eq 0 ] || fail "a node exited with $rc"

for n in A B; do
    [ "$(v $n start.evs_state)" = OPERATIONAL ] || fail "$n: evs_state $(v $n start.evs_state) in a primary view"
    # write-sets of its own, and the others', with their bytes
    for s in replicated replicated_bytes repl_keys repl_keys_bytes repl_data_bytes repl_other_bytes \
        local_commits received received_bytes last_committed; do
        check $n $s ">" start.$s
    done
    # the sum of pc.weight over the primary view: 2 + 3 (at the end the other may have left)
    check $n start.cluster_weight == 5
    # the cached window slid up (128K holds a few hundred of these write-sets) and stays below
    # what is committed
    check $n local_cached_downto ">" start.local_cached_downto
    check $n local_cached_downto ">" 0
    check $n local_cached_downto "<=" last_committed
    # FLUSH STATUS: counters since start stay, the windowed figures start over
    check $n reset.replicated == replicated
    check $n reset.flow_control_paused_ns ">=" flow_control_paused_ns
    check $n reset.flow_control_sent == 0
    check $n reset.flow_control_recv == 0
    check $n reset.local_send_queue_max == reset.local_send_queue
    check $n reset.local_recv_queue_avg == 0
done
# both wrote the same 200 keys at once: some local transaction lost certification
cf=$(($(v A local_cert_failures) - $(v A start.local_cert_failures) + $(v B local_cert_failures) - $(v B start.local_cert_failures)))
[ "$cf" -gt 0 ] || fail "no certification failure counted"
echo "ok local_cert_failures rose by $cf"
# B, the slow applier, stopped the group; its own stops count among those it received
check B local_recv_queue_max ">" 2
check B flow_control_sent ">" start.flow_control_sent
check B flow_control_recv ">=" flow_control_sent
# A received those stops and its sending was held: time paused, write-sets queued meanwhile
check A flow_control_recv ">" start.flow_control_recv
check A flow_control_paused_ns ">" start.flow_control_paused_ns
check A flow_control_paused ">" 0
check A local_send_queue_max ">" 0
OK=1
echo "PASS: counters move (certification failures $cf, B sent $(v B flow_control_sent) stops," \
    "A paused $(v A flow_control_paused_ns) ns)"
