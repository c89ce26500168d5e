#!/usr/bin/env bash
# tests/mariadb/tls_cluster.sh (heavy: make test-tls): a 3-node MariaDB cluster with TLS on gcomm
# (socket.ssl_key/cert/ca from a throwaway CA with an intermediate): it forms, sysbench writes on
# all three, tables agree; a fourth node with another CA's certificate is refused, named in the
# log, and the cluster stays at 3; socket.ssl_reload at run time; a node stopped cleanly misses
# writes and rejoins by IST over TLS (its log says so; with tcpdump, none of the rows' text crosses
# its IST port in clear).
# Runs on Galera 4 too (same PKI, same options), where the trireme-specific log lines are not
# checked.
# Usage: tls_cluster.sh PROVIDER_SO. The last line is "N passed, M failed".
set -u
PROVIDER=${1:?usage: tls_cluster.sh PROVIDER_SO}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-check.sh
source "$HERE/../scripts/lib-check.sh"
SB_SECONDS=${SB_SECONDS:-30}
DEADLINE=${DEADLINE:-450}
export MDB_SQL_TIMEOUT=${MDB_SQL_TIMEOUT:-30}
NODES="n1 n2 n3"
TRIREME=1
case $PROVIDER in *galera*) TRIREME=0 ;; esac

per_node() { local n out=""; for n in $NODES; do out="$out $n=$(mdb_status "$n" "$1")"; done; echo "${out# }"; }
status_is() { # VAR VALUE NODE...
  local var=$1 want=$2 n; shift 2
  for n in "$@"; do [ "$(mdb_status "$n" "$var")" = "$want" ] || return 1; done
}
formed() { status_is wsrep_cluster_size 3 $NODES && status_is wsrep_local_state_comment Synced $NODES; }
log_has() { grep -q -- "$2" "$(mdb_dir "$1")/error.log"; }

echo "tls_cluster: provider $PROVIDER"
[ -r "$PROVIDER" ] || abort "provider library $PROVIDER not found"
command -v sysbench >/dev/null || abort "sysbench is not installed"
mdb_init || abort "test environment (mariadb client, mariadb-install-db)"
P=$MDB_ROOT/pki
bash "$HERE/../scripts/make-pki.sh" "$P" n1 n2 n3 >/dev/null || abort "the test PKI (openssl)"
chmod 755 "$P"
mdb_as_root && chown -R mysql: "$P" # the server reads its key as mysql
tls_opts() { # NODE CERT: provider options with that node's certificate and the cluster's CA
  echo "gmcast.listen_addr=tcp://127.0.0.1:{GCOMM};ist.recv_addr=127.0.0.1:{IST};gcache.size=32M;socket.ssl_cert=$P/$2.pem;socket.ssl_key=$P/$2.key;socket.ssl_ca=$P/ca.pem"
}

export MDB_EXTRA_CNF="wsrep_slave_threads=4"
MDB_PROVIDER_OPTIONS=$(tls_opts n1 n1) mdb_node_create n1 "$PROVIDER" gcomm:// || abort "create n1"
JOIN=gcomm://127.0.0.1:$(mdb_get n1 gcomm_port)
for n in n2 n3; do
  MDB_PROVIDER_OPTIONS=$(tls_opts "$n" "$n") mdb_node_create "$n" "$PROVIDER" "$JOIN" || abort "create $n"
done
for n in $NODES; do
  t0=$SECONDS
  mdb_start "$n"
  mdb_wait_ready "$n" 90 || abort "$n: wsrep_ready=ON within 90 s"
  pass "$n: wsrep_ready=ON after $((SECONDS - t0)) s (cluster size $(mdb_status "$n" wsrep_cluster_size))"
done
if wait_for 60 formed; then pass "all three Synced, wsrep_cluster_size=3, over TLS"; else
  fail "not formed within 60 s: $(per_node wsrep_cluster_size) $(per_node wsrep_local_state_comment)"; fi
if [ $TRIREME = 1 ]; then
  log_has n1 "TLS on every link" && pass "n1 says TLS is on ($(grep -o "certificate 'CN=n1[^']*'" "$(mdb_dir n1)/error.log" | head -1))" ||
    fail "n1's log does not say that TLS is on"
fi

echo "--- sysbench oltp_write_only on all three, ${SB_SECONDS}s"
sb() { # NODE ARGS...
  local n=$1; shift
  timeout -k 5 $((SB_SECONDS + 60)) sysbench oltp_write_only --db-driver=mysql \
    --mysql-socket="$(mdb_dir "$n")/mysqld.sock" --mysql-user=root --mysql-db=sbtest --tables=4 \
    --table-size=1000 --rand-type=uniform --mysql-ignore-errors=1213 "$@"
}
mdb_sql n1 "CREATE DATABASE sbtest" || fail "n1: CREATE DATABASE sbtest"
mdb_bg sb n1 --threads=2 prepare >"$MDB_ROOT/sb-prepare.log" 2>&1 || fail "sysbench prepare"
pids=""
for n in $NODES; do
  sb "$n" --threads=2 --time="$SB_SECONDS" run >"$MDB_ROOT/sb-$n.log" 2>&1 &
  pids="$pids $!"
  MDB_CHILD_PIDS="$MDB_CHILD_PIDS $!"
done
# shellcheck disable=SC2086
set -- $pids
for n in $NODES; do
  wait "$1"
  rc=$?
  MDB_CHILD_PIDS=${MDB_CHILD_PIDS/ $1/}
  shift
  trx=$(awk '/transactions:/ { print $2 " (" $3; exit }' "$MDB_ROOT/sb-$n.log")
  if [ "$rc" = 0 ]; then pass "sysbench on $n over TLS: ${trx:-?} tps)"; else
    fail "sysbench on $n: exit $rc: $(grep -m2 -i 'error\|fatal' "$MDB_ROOT/sb-$n.log" | tr '\n' ' ')"; fi
done
for t in sbtest1 sbtest2 sbtest3 sbtest4; do
  sums=$(for n in $NODES; do mdb_sql "$n" "SET SESSION wsrep_sync_wait=15; CHECKSUM TABLE sbtest.$t" | cut -f2; done | sort -u)
  if [ "$(echo "$sums" | wc -l)" = 1 ]; then pass "CHECKSUM TABLE sbtest.$t identical on all three"; else
    fail "CHECKSUM TABLE sbtest.$t differs: $(echo "$sums" | tr '\n' ' ')"; fi
done

echo "--- a fourth node with a certificate from another CA"
views_before=$(mdb_status n1 wsrep_cluster_conf_id)
MDB_PROVIDER_OPTIONS="$(tls_opts n4 intruder);pc.wait_prim_timeout=PT15S" mdb_node_create n4 "$PROVIDER" "$JOIN" ||
  abort "create n4"
mdb_start n4
if mdb_wait_ready n4 20 2>/dev/null; then fail "n4 with a foreign certificate joined"; else pass "n4 not ready after 20 s"; fi
if [ $TRIREME = 1 ]; then
  if log_has n1 "refused the certificate of 127.0.0.1:[0-9]* ('CN=intruder,O=trireme test')" ||
     log_has n2 "refused the certificate of 127.0.0.1:[0-9]* ('CN=intruder,O=trireme test')" ||
     log_has n3 "refused the certificate of 127.0.0.1:[0-9]* ('CN=intruder,O=trireme test')"; then
    pass "refused and named: $(grep -ho "refused the certificate of [^)]*): [a-z ]*" "$(mdb_dir n1)/error.log" \
      "$(mdb_dir n2)/error.log" "$(mdb_dir n3)/error.log" | head -1)"
  else
    fail "no node logged the refused certificate"
  fi
  log_has n4 "refused our certificate" && pass "n4 says why: $(grep -o "127.0.0.1:[0-9]* refused our certificate ([^)]*)" "$(mdb_dir n4)/error.log" | head -1)" ||
    fail "n4's log does not say that it was refused"
fi
mdb_kill n4
expect "cluster size stays 3" "$(per_node wsrep_cluster_size)" "n1=3 n2=3 n3=3"
expect "no view change on n1" "$(mdb_status n1 wsrep_cluster_conf_id)" "$views_before"

echo "--- socket.ssl_reload at run time"
if out=$(mdb_sql n2 "SET GLOBAL wsrep_provider_options='socket.ssl_reload=1'" 2>&1); then
  pass "n2: SET GLOBAL wsrep_provider_options='socket.ssl_reload=1'"
else
  fail "n2: socket.ssl_reload: $out"
fi
if [ $TRIREME = 1 ]; then # the group reads the files again, for the links made from now on
  if wait_for 10 log_has n2 "TLS files reloaded"; then pass "n2 reloaded its TLS files"; else
    fail "n2's log does not say that it reloaded its TLS files"; fi
fi
mdb_kill n3
mdb_start n3
if mdb_wait_ready n3 120 && wait_for 60 formed; then pass "n3 restarted and rejoined over TLS after n2's reload"; else
  fail "n3 did not rejoin: $(per_node wsrep_cluster_size)"; fi
if out=$(mdb_sql n3 "CREATE TABLE sbtest.after (id INT PRIMARY KEY); INSERT INTO sbtest.after VALUES (1)" 2>&1); then
  expect "a write on n3 reaches n1" "$(mdb_sql n1 "SET SESSION wsrep_sync_wait=15; SELECT COUNT(*) FROM sbtest.after" 2>&1)" 1
else
  fail "n3: write after the rejoin: $out"
fi
echo "--- n2 stops cleanly, misses 200 write-sets, and rejoins by IST over TLS"
mdb_stop n2 120 && pass "n2: clean shutdown" || fail "n2: clean shutdown"
log2="$(mdb_dir n2)/error.log"
seen=$(wc -l <"$log2")
mdb_sql n1 "CREATE TABLE sbtest.ist (id INT PRIMARY KEY, v VARCHAR(64))" || fail "n1: CREATE TABLE sbtest.ist"
ins=$(for i in $(seq 1 200); do printf "INSERT INTO sbtest.ist VALUES (%d, 'ist-over-tls-%d');" "$i" "$i"; done)
mdb_sql n1 "$ins" || fail "n1: 200 INSERTs while n2 is down"
cap="" # with tcpdump (and root): what crosses n2's IST port, to look for the rows' text in clear
if command -v tcpdump >/dev/null && [ "$(id -u)" = 0 ]; then
  cap=$MDB_ROOT/ist.pcap
  tcpdump -i lo -U -w "$cap" "tcp port $(mdb_get n2 ist_port)" 2>"$MDB_ROOT/tcpdump.log" &
  tpid=$!
  MDB_CHILD_PIDS="$MDB_CHILD_PIDS $tpid"
  wait_for 10 grep -qs "listening on" "$MDB_ROOT/tcpdump.log" || fail "tcpdump did not start"
fi
mdb_start n2
if mdb_wait_ready n2 120 && wait_for 60 formed; then pass "n2 restarted and rejoined"; else
  fail "n2 did not rejoin: $(per_node wsrep_cluster_size) $(per_node wsrep_local_state_comment)"; fi
if [ -n "$cap" ]; then
  sleep 1
  kill -INT "$tpid" 2>/dev/null
  wait "$tpid" 2>/dev/null
  MDB_CHILD_PIDS=${MDB_CHILD_PIDS/ $tpid/}
  size=$(stat -c %s "$cap" 2>/dev/null || echo 0)
  if [ "$size" -lt 12000 ]; then fail "tcpdump caught only $size bytes on the IST port (200 rows are more)"
  elif grep -aq "ist-over-tls-" "$cap"; then fail "the rows' text crossed the IST port in clear ($cap)"
  else pass "the IST port carried $size bytes (tcpdump), none of the rows' text in clear"; fi
else
  echo "SKIP: no tcpdump (or not root): the IST port's bytes are not looked at"
fi
expect "n2 holds the 200 rows it missed" "$(mdb_sql n2 "SET SESSION wsrep_sync_wait=15; SELECT COUNT(*) FROM sbtest.ist" 2>&1)" 200
rejoin=$(tail -n +"$((seen + 1))" "$log2")
if [ $TRIREME = 1 ]; then
  got=$(grep -o "IST received: [0-9]* actions ([0-9.]*), [0-9.]* MB in [0-9.]* s over TLS" <<<"$rejoin" | head -1)
  [ -n "$got" ] && pass "n2 rejoined by IST: $got" || fail "n2's log has no 'IST received: ... over TLS' after its restart"
  from=$(grep -o "IST: the stream comes from [^ ]* over TLS ('[^']*', TLSv1.[23] [A-Z0-9_-]*)" <<<"$rejoin" | head -1)
  [ -n "$from" ] && pass "n2: $from" || fail "n2's log does not say the IST stream came over TLS"
  if grep -q "IST sent to ssl://127.0.0.1:$(mdb_get n2 ist_port): [0-9.]* over TLS" "$(mdb_dir n1)/error.log" \
     "$(mdb_dir n3)/error.log"; then pass "the donor sent it over TLS to ssl://127.0.0.1:$(mdb_get n2 ist_port)"; else
    fail "no donor logged 'IST sent to ssl://127.0.0.1:$(mdb_get n2 ist_port): ... over TLS'"; fi
else # Galera 4: "IST received: uuid:seqno", and its receiver says ssl://
  grep -q "IST received" <<<"$rejoin" && pass "n2 rejoined by IST (Galera)" || fail "n2's log has no 'IST received'"
  grep -q "IST receiver addr using ssl://" <<<"$rejoin" && pass "n2's IST receiver used ssl:// (Galera)" ||
    fail "n2's IST receiver did not say ssl://"
fi

for n in n3 n2 n1; do mdb_stop "$n" 120 && pass "$n: clean shutdown" || fail "$n: clean shutdown"; done
finish
