#!/usr/bin/env bash
# tests/process/gcomm_ipv6.sh: a 3-node trireme-gcomm-node group on ::1 (one node listening on
# [::] with base_host ::1, one told where to listen by gmcast.listen_addr in its gcomm:// address,
# one that knows a single seed and finds the others by gossip), then an IPv4 node joins through
# the dual-stack listener; all deliver the same. Skips (77) only without an IPv6 loopback.
# Usage: gcomm_ipv6.sh path/to/trireme-gcomm-node
set -u
BIN=${1:?path to trireme-gcomm-node}
HERE=$(dirname "$0")
HOST=::1
. "$HERE/proc_lib.sh"
. "$HERE/group_lib.sh"
if ! grep -qs '^0\{31\}1 ' /proc/net/if_inet6; then
    echo "SKIP: this machine has no IPv6 loopback (::1 on lo)"
    exit 77
fi
group_init gcomm-ipv6

BASE=$(free_ports 4) || fail "no free port range"
OPTS=(--opt evs.suspect_timeout=PT3S --opt evs.inactive_timeout=PT6S --rate 50 --size 300)
log "node 0 on [::1]:$BASE, node 1 on [::]:$((BASE + 1)) with base_host ::1"
start_node 0 gcomm:// "${OPTS[@]}"
sleep 0.3
mkdir -p "$WORK/d1"
"$BIN" --name n1 --listen "tcp://[::]:$((BASE + 1))" --opt base_host=::1 --address "gcomm://[::1]:$BASE" \
    --data-dir "$WORK/d1" "${OPTS[@]}" >"$WORK/1.out" 2>"$WORK/1.err" &
PIDS[1]=$!
log "node 2 with gcomm://[::1]:$((BASE + 1))?gmcast.listen_addr=tcp://[::1]:$((BASE + 2))&pc.wait_prim=no"
mkdir -p "$WORK/d2"
"$BIN" --name n2 --address "gcomm://[::1]:$((BASE + 1))?gmcast.listen_addr=tcp://[::1]:$((BASE + 2))&pc.wait_prim=no" \
    --data-dir "$WORK/d2" "${OPTS[@]}" >"$WORK/2.out" 2>"$WORK/2.err" &
PIDS[2]=$!
wait_views "0 1 2" 3 20 || fail "the IPv6 group did not form"
delivering "0 1 2" || fail "no delivery over IPv6"
grep -q "listening on \[::1\]:$((BASE + 1))$" "$WORK/1.err" || fail "node 1 does not advertise [::1] (base_host)"
grep -q "listening on \[::1\]:$((BASE + 2))$" "$WORK/2.err" || fail "gmcast.listen_addr from the address was not applied"
log "formed (node 2 was given node 1 only: node 0's address came by gossip)"

"$BIN" --name bad --address "gcomm://[::1]:$BASE?no.such.option=1" >"$WORK/bad.out" 2>&1
[ $? = 2 ] && grep -q "bad option no.such.option=1" "$WORK/bad.out" || fail "an unknown option in the address was not refused"
"$BIN" --name bad --address "gcomm://[::1:$BASE" >"$WORK/bad.out" 2>&1
[ $? = 2 ] || fail "an address with an open bracket was not refused"

log "an IPv4 node joins through node 1's dual-stack listener"
mkdir -p "$WORK/d3"
"$BIN" --name n3 --listen "tcp://127.0.0.1:$((BASE + 3))" --address "gcomm://127.0.0.1:$((BASE + 1))" \
    --data-dir "$WORK/d3" "${OPTS[@]}" >"$WORK/3.out" 2>"$WORK/3.err" &
PIDS[3]=$!
wait_views "0 1 2 3" 4 20 || fail "the IPv4 node did not join the IPv6 group"
delivering "0 1 2 3" || fail "no delivery with the IPv4 node"
finish "0 1 2 3"
log "PASS"
