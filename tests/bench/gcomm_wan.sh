#!/usr/bin/env bash
# tests/bench/gcomm_wan.sh: heartbeat echoes and leases of 3 trireme-gcomm-node processes in
# network namespaces joined by tests/bench/wan_link (WAN_DELAY_MS one way, default 50: 100 ms
# round trip) while n0 sends 64 KB messages at WAN_RATE per second (default 60, about 4 MB/s: a
# bulk load) from its start, so that its links begin in slow start. Reports per node the longest
# echo of a heartbeat in each 5 s period (gc_stats.echo_max_ns; the 500 ms lease lapses when
# echoes stay above 375 ms, and the node gives its view up when no echo comes back within 1.5 s
# while the members are heard: design/gcomm.md section 7), the lapses, the lease losses ("lost
# contact": the view left) and the view changes after the group of 3 formed. Exits 1 if a node
# lost its lease, 77 (skipped) without root or TUN. Not in make test: it needs root, 30 s and a
# quiet machine (docs/benchmarks.md, WAN).
# WAN_OPTS="evs.keepalive_period=PT3S ..." passes provider options to every node.
# Usage: gcomm_wan.sh path/to/trireme-gcomm-node path/to/wan_link
set -u
BIN=${1:?path to trireme-gcomm-node}
WAN=${2:?path to wan_link}
DELAY=${WAN_DELAY_MS:-50}
RATE=${WAN_RATE:-60}
SECS=${WAN_SECONDS:-20}
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces and TUN devices"
command -v ip >/dev/null || skip "needs ip"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
[ -x "$WAN" ] || { echo "FAIL: $WAN not built"; exit 1; }
N=3
WORK_NAME=gcomm-wan
NS=trw$$ # namespaces trw<pid>0..2

. "$(dirname "$0")/../process/proc_lib.sh"
. "$(dirname "$0")/../process/gcomm_lib.sh"
# shellcheck source=../scripts/lib-netns.sh
. "$(dirname "$0")/../scripts/lib-netns.sh"

test_cleanup() { netns_delete; }
trap 'netns_delete; gcomm_cleanup' EXIT # wan_link first: stop_pids waits for every child

NETNS_PREFIX=$NS NETNS_NET=10.76.0 NETNS_BASE=1
NETNS_WAN_BIN=$WAN NETNS_WAN_LOG=$WORK/wan_link.log NETNS_WAN_DELAY_MS=$DELAY
netns_wan 0 1 2
case $? in 0) ;; 77) skip "cannot create network namespaces here" ;; *) fail "wan_link did not come up" ;; esac
# wan_link stands for the network: real time, so that busy nodes do not stretch its delay
command -v chrt >/dev/null && chrt -f -p 10 "$NETNS_WAN_PID" >/dev/null
for i in 0 1 2; do
    NODE_CMD[$i]="ip netns exec $NS$i"
    NODE_ADDRS[$i]="$(netns_addr "$i")"
done
BASE=4567
NODE_LOAD=()
NODE_EXTRA[0]="--rate $RATE --size 65536"
# WAN_OPTS="k=v ...": provider options for every node (as a WAN deployment tunes them)
for i in 0 1 2; do for o in ${WAN_OPTS:-}; do NODE_EXTRA[$i]="${NODE_EXTRA[$i]:-} --opt $o"; done; done

log "one-way delay $DELAY ms; n0 sends 64 KB messages at $RATE/s; congestion control $(ip netns exec "${NS}0" sysctl -n net.ipv4.tcp_congestion_control)"
start 0 bootstrap
wait_views 0 1 10 || fail "n0 did not bootstrap"
start 1
start 2
wait_views "0 1 2" 3 30 || fail "no 3-member primary view within 30 s"
views0=$(view_counts)
sleep "$SECS"
views1=$(view_counts)
finish_checked "0 1 2"

lost=0
for i in 0 1 2; do
    e=$(grep -o 'echo_max=[0-9]*' "$WORK/$i.err" | cut -d= -f2 | tr '\n' ' ')
    l=$(grep -c 'lost contact' "$WORK/$i.err")
    lp=$(grep -o 'lease_lapses=[0-9]*' "$WORK/$i.err" | tail -1 | cut -d= -f2)
    lost=$((lost + l))
    log "n$i: longest echo per 5 s: ${e:-none} ms; lease lapsed ${lp:-0} times with the view kept, lost (view left) $l times"
    grep -E 'lost contact|echoes late|leaving view' "$WORK/$i.err" | sed "s/^/    n$i: /"
done
log "$(awk '$1 == "MSG"' "$WORK/1.out" | wc -l) messages delivered at n1; views per node when the group of 3 formed:$views0, at the end:$views1"
[ "$lost" = 0 ] || fail "a lease was lost $lost times"
echo "PASS"
