#!/usr/bin/env bash
# tests/process/gcomm_flood.sh: an outsider holds 200 idle connections to node 0 from 127.0.0.2
# (opening each again when it is closed), then trickles a byte a second on each; meanwhile a real
# node joins through node 0 within 5 s, the group keeps delivering, and node 0 says whom it
# refused and whose handshake ran out of time. MODE plain or tls (idle TLS handshakes).
# Usage: gcomm_flood.sh MODE path/to/trireme-gcomm-node path/to/tcp_flood
set -u
MODE=${1:?plain or tls}
BIN=${2:?path to trireme-gcomm-node}
FLOOD=${3:?path to tcp_flood}
HERE=$(dirname "$0")
HOST=127.0.0.1
. "$HERE/proc_lib.sh"
. "$HERE/group_lib.sh"
group_init gcomm-flood

"$FLOOD" 127.0.0.1 1 127.0.0.2 1 0 >/dev/null 2>&1 || fail "cannot run tcp_flood"
if [ "$MODE" = tls ]; then
    bash "$HERE/../scripts/make-pki.sh" "$WORK/pki" n0 n1 n2 || fail "could not make the test PKI"
fi
tls() { [ "$MODE" = tls ] && echo --opt "socket.ssl_cert=$WORK/pki/$1.pem" --opt "socket.ssl_key=$WORK/pki/$1.key" \
    --opt "socket.ssl_ca=$WORK/pki/ca.pem"; }
BASE=$(free_ports 3) || fail "no free port range"
SEED="gcomm://127.0.0.1:$BASE"
OPTS=(--opt evs.suspect_timeout=PT3S --opt evs.inactive_timeout=PT6S --opt gmcast.peer_timeout=PT1S --rate 100 --size 200)

log "$MODE: nodes 0 and 1 on ports $BASE.."
start_node 0 gcomm:// $(tls n0) "${OPTS[@]}"
sleep 0.3
start_node 1 "$SEED" $(tls n1) "${OPTS[@]}"
wait_views "0 1" 2 20 || fail "the group of 2 did not form"
delivering "0 1" || fail "no delivery"

log "200 idle connections to node 0 from 127.0.0.2 for 12 s"
"$FLOOD" 127.0.0.1 "$BASE" 127.0.0.2 200 12 >"$WORK/flood1.out" 2>&1 &
FP=$!
PIDS[5]=$FP
sleep 1
log "node 2 joins through node 0"
t0=$(date +%s%N)
start_node 2 "$SEED" $(tls n2) "${OPTS[@]}"
wait_views "0 1 2" 3 5 || fail "node 2 could not join within 5 s while 200 idle connections were held"
log "node 2 joined after $((($(date +%s%N) - t0) / 1000000)) ms"
delivering "0 1 2" || fail "no delivery under the flood"
wait "$FP"
PIDS[5]=""
cat "$WORK/flood1.out"
grep -q "refused a connection from 127.0.0.2: [0-9]* handshakes in progress from that address" "$WORK/0.err" ||
    fail "node 0 did not say that it refused the surplus"
grep -q "127.0.0.2:[0-9]* .*within gmcast.peer_timeout" "$WORK/0.err" ||
    fail "node 0 did not say whose handshake ran out of time"

log "200 connections trickling a byte a second (never a whole frame) for 8 s; node 2 rejoins"
stop_node 2
wait_views "0 1" 2 15 || fail "no 2-member view after node 2 was killed"
"$FLOOD" 127.0.0.1 "$BASE" 127.0.0.2 200 8 trickle >"$WORK/flood2.out" 2>&1 &
FP=$!
PIDS[5]=$FP
sleep 2
start_node 2 "$SEED" $(tls n2) "${OPTS[@]}"
wait_views "0 1 2" 3 5 || fail "node 2 could not rejoin within 5 s under the trickle"
delivering "0 1 2" || fail "no delivery under the trickle"
wait "$FP"
PIDS[5]=""
cat "$WORK/flood2.out"
wait_views "0 1 2" 3 1 || fail "the group changed under the flood"
finish "0 1 2"
log "PASS ($MODE)"
