#!/usr/bin/env bash
# tests/process/gcomm_tls.sh: 3 trireme-gcomm-node processes with TLS (socket.ssl*) form a group
# and deliver; a node with another CA's certificate and a plaintext node are refused with a log
# line naming them, and the group does not change; socket.ssl_reload (SIGHUP) puts a new
# certificate in use for new links while the old ones go on, and a bad file keeps the old one.
# Usage: gcomm_tls.sh path/to/trireme-gcomm-node. Ends only the processes it started.
set -u
BIN=${1:?path to trireme-gcomm-node}
HERE=$(dirname "$0")
HOST=127.0.0.1
. "$HERE/proc_lib.sh"
. "$HERE/group_lib.sh"
group_init gcomm-tls

P=$WORK/pki
bash "$HERE/../scripts/make-pki.sh" "$P" n0 n1 n2 n0new@ca2 || fail "could not make the test PKI"
cp "$P/n0.pem" "$P/n0-live.pem" && cp "$P/n0.key" "$P/n0-live.key" # what n0 reloads from
tls() { # tls CERT KEY CA: the socket.ssl options of a node
    echo --opt "socket.ssl_cert=$P/$1" --opt "socket.ssl_key=$P/$2" --opt "socket.ssl_ca=$P/$3"
}
BASE=$(free_ports 5) || fail "no free port range"
SEED="gcomm://127.0.0.1:$BASE"
OPTS=(--opt evs.suspect_timeout=PT3S --opt evs.inactive_timeout=PT6S --rate 50 --size 300)

log "3 TLS nodes on ports $BASE.. (every node trusts both roots of ca-bundle.pem)"
start_node 0 gcomm:// $(tls n0-live.pem n0-live.key ca-bundle.pem) "${OPTS[@]}"
sleep 0.3
start_node 1 "$SEED" $(tls n1.pem n1.key ca-bundle.pem) "${OPTS[@]}"
start_node 2 "$SEED" $(tls n2.pem n2.key ca-bundle.pem) "${OPTS[@]}"
wait_views "0 1 2" 3 20 || fail "the TLS group did not form"
delivering "0 1 2" || fail "no delivery over TLS"
grep -q "TLS on every link" "$WORK/0.err" || fail "n0 does not say that TLS is on"
log "group formed over TLS, all deliver"

before="$(views 0) $(views 1) $(views 2)"
log "a node with a certificate from another CA dials n0"
start_node 3 "$SEED" $(tls intruder.pem intruder.key ca.pem)
log "a plaintext node dials n1"
start_node 4 "gcomm://127.0.0.1:$((BASE + 1))"
sleep 3
grep -q "refused the certificate of 127.0.0.1:[0-9]* ('CN=intruder,O=trireme test'): unable to get local issuer certificate" \
    "$WORK/0.err" || fail "n0 did not log the foreign certificate with its subject and reason"
grep -q "127.0.0.1:$BASE refused our certificate (TLS alert: tlsv1 alert unknown ca)" "$WORK/3.err" ||
    fail "the foreign node did not log why it was refused"
grep -q "refused 127.0.0.1:[0-9]*: it does not speak TLS" "$WORK/1.err" || fail "n1 did not log the plaintext peer"
for i in 3 4; do
    grep -q "PRIM [2-9]" "$WORK/$i.out" && fail "node $i joined the group"
done
stop_node 3
stop_node 4
after="$(views 0) $(views 1) $(views 2)"
[ "$before" = "$after" ] || fail "the group changed views while refusing outsiders ($before -> $after)"
wait_views "0 1 2" 3 1 || fail "group disturbed by the outsiders"
delivering "0 1 2" || fail "no delivery after the outsiders"
log "both refused, named in the logs; views unchanged ($after)"

log "socket.ssl_reload: n0's files replaced by a certificate of the second root, then SIGHUP"
cp "$P/n0new.pem" "$P/n0-live.pem" && cp "$P/n0new.key" "$P/n0-live.key"
kill -HUP "${PIDS[0]}"
for _ in $(seq 1 30); do grep -q "^RELOAD" "$WORK/0.out" && break; sleep 0.1; done
grep -q "^RELOAD 1 " "$WORK/0.out" || fail "n0 did not reload: $(grep RELOAD "$WORK/0.out")"
sleep 1
[ "$(views 0) $(views 1) $(views 2)" = "$after" ] || fail "the reload disturbed the links that were up"
delivering "0 1 2" || fail "no delivery after the reload"
log "reloaded; links up before it go on. n1 restarts and links to n0 anew"
stop_node 1
wait_views "0 2" 2 15 || fail "no 2-member view after n1 was killed"
start_node 1 "$SEED" $(tls n1.pem n1.key ca-bundle.pem) "${OPTS[@]}" --debug
wait_views "0 1 2" 3 20 || fail "n1 did not rejoin after n0's reload"
grep -q "gcomm tls: link [a-z]* 127.0.0.1:[0-9]*: 'CN=n0new,O=trireme test'" "$WORK/1.err" ||
    fail "n1's new link to n0 does not show n0's new certificate"
delivering "0 1 2" || fail "no delivery after n1 rejoined"
log "n1 sees CN=n0new on its new links"

log "a reload from a broken file fails, names it, and keeps the certificate in use"
echo "not a certificate" >"$P/n0-live.pem"
kill -HUP "${PIDS[0]}"
for _ in $(seq 1 30); do [ "$(grep -c '^RELOAD' "$WORK/0.out")" = 2 ] && break; sleep 0.1; done
grep "^RELOAD" "$WORK/0.out" | tail -1 | grep -q "^RELOAD 0 .*socket.ssl_cert '$P/n0-live.pem': no usable certificate" ||
    fail "a broken reload was not refused: $(grep RELOAD "$WORK/0.out" | tail -1)"
stop_node 2
wait_views "0 1" 2 15 || fail "no 2-member view after n2 was killed"
start_node 2 "$SEED" $(tls n2.pem n2.key ca-bundle.pem) "${OPTS[@]}"
wait_views "0 1 2" 3 20 || fail "n2 did not rejoin after the failed reload"
delivering "0 1 2" || fail "no delivery at the end"

finish "0 1 2"
log "PASS"
