#!/usr/bin/env bash
# tests/mariadb/status_cluster.sh: trireme-status and its health check against 3 MariaDB nodes.
# Usage: status_cluster.sh PROVIDER_SO TRIREME_STATUS. Runs on trireme and on Galera 4 alike (the
# tool reads only Galera's status names). The last line is "N passed, M failed".
#
# The table, the JSON and the exit codes on a healthy cluster; option files read as the mariadb
# client reads them; per-second figures under writes; then --check and --serve-check (HTTP) in
# each node state: Synced, desynced (with and without --donor-ok, also across a view change),
# read-only, isolated by gmcast.isolate (non-Primary), stopped by SIGSTOP (the tool must not
# hang), killed (down within the timeout), and the cluster down when two of three are gone.
set -u
PROVIDER=${1:?usage: status_cluster.sh PROVIDER_SO TRIREME_STATUS}
TS=${2:?usage: status_cluster.sh PROVIDER_SO TRIREME_STATUS}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
DEADLINE=${DEADLINE:-420}
export MDB_SQL_TIMEOUT=${MDB_SQL_TIMEOUT:-30}
NODES="n1 n2 n3"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-check.sh
source "$HERE/../scripts/lib-check.sh"

status_is() { # VAR VALUE NODE...
  local var=$1 want=$2 n; shift 2
  for n in "$@"; do [ "$(mdb_status "$n" "$var")" = "$want" ] || return 1; done
}
formed() {
  status_is wsrep_cluster_size 3 $NODES && status_is wsrep_local_state_comment Synced $NODES &&
    status_is wsrep_cluster_status Primary $NODES
}
port() { mdb_get "$1" port; }
# ts ARGS...: the tool, bounded (it must end by itself well before this), output in $OUT, exit
# status in $RC, elapsed seconds in $EL.
ts() {
  local t0 t1
  t0=$(date +%s.%N)
  OUT=$(timeout -k 2 60 "$TS" "$@" 2>&1)
  RC=$?
  t1=$(date +%s.%N)
  EL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
}
# as_monitor: the credentials come from ~/.my.cnf (HOME is set per call).
tsm() { HOME=$MDB_ROOT/home ts -h 127.0.0.1 "$@"; }
jqq() { printf '%s' "$OUT" | jq -r "$1" 2>&1; }
expect_rc() { # DESC WANT
  if [ "$RC" = "$2" ]; then pass "$1: exit $RC"; else fail "$1: exit $RC, want $2; output: $OUT"; fi
}
http() { # PORT: "CODE BODY"
  local body code
  body=$(mktemp "$MDB_ROOT/http.XXXXXX")
  code=$(curl -s -m 20 -o "$body" -w '%{http_code}' "http://127.0.0.1:$1/")
  echo "$code $(tr -d '\r\n' <"$body")"
  rm -f "$body"
}
expect_http() { # DESC PORT CODE BODY_PATTERN
  local got; got=$(http "$2")
  if [[ "$got" == "$3 "* ]] && [[ "${got#* }" =~ $4 ]]; then
    pass "$1: $got"
  else
    fail "$1: got '$got', want $3 and /$4/"
  fi
}
elapsed_below() { # DESC LIMIT
  if awk -v e="$EL" -v l="$2" 'BEGIN { exit !(e < l) }'; then
    pass "$1 in $EL s (limit $2 s)"
  else
    fail "$1 took $EL s (limit $2 s)"
  fi
}

echo "status_cluster: provider $PROVIDER, tool $TS"
[ -r "$PROVIDER" ] || abort "provider library $PROVIDER not found (build it first)"
[ -x "$TS" ] || abort "$TS not built"
command -v jq >/dev/null || abort "jq is not installed (cmake/install-deps.sh)"
command -v curl >/dev/null || abort "curl is not installed (cmake/install-deps.sh)"
mdb_init || abort "test environment (mariadb client, mariadb-install-db)"

# ---- a 3-node cluster -------------------------------------------------------------------------
mdb_node_create n1 "$PROVIDER" gcomm:// || abort "create n1"
JOIN=gcomm://127.0.0.1:$(mdb_get n1 gcomm_port)
for n in n2 n3; do mdb_node_create "$n" "$PROVIDER" "$JOIN" || abort "create $n"; done
for n in $NODES; do
  mdb_start "$n"
  mdb_wait_ready "$n" 90 || abort "$n: wsrep_ready=ON within 90 s"
done
wait_for 60 formed || abort "cluster of 3 not formed within 60 s"
pass "3 nodes Synced in a primary component (ports $(port n1) $(port n2) $(port n3))"
P1=$(port n1) P2=$(port n2) P3=$(port n3)

# A monitoring account with a password (no privilege needed), created once, replicated.
mdb_sql n1 "CREATE USER 'monitor'@'127.0.0.1' IDENTIFIED BY 'mon s3cret';
  CREATE USER 'monitor'@'localhost' IDENTIFIED BY 'mon s3cret'" || abort "CREATE USER monitor"
mkdir -p "$MDB_ROOT/home"
printf '[client]\nuser=monitor\npassword="mon s3cret"\n' >"$MDB_ROOT/home/.my.cnf"
printf '[client]\nuser=monitor\npassword="mon s3cret"\nhost=127.0.0.1\nport=%s\n' "$P2" >"$MDB_ROOT/good.cnf"
printf '[client]\nuser=monitor\npassword=wrong\n' >"$MDB_ROOT/wrong.cnf"
chmod 600 "$MDB_ROOT/home/.my.cnf" "$MDB_ROOT/good.cnf" "$MDB_ROOT/wrong.cnf"

# ---- 1. option files as the client reads them --------------------------------------------------
echo "--- 1. connection options and option files"
tsm -P "$P1" --check
expect_rc "credentials from ~/.my.cnf" 0
HOME=$MDB_ROOT/home ts --defaults-file="$MDB_ROOT/good.cnf" --check
expect_rc "--defaults-file alone (host, port, user, password from it)" 0
HOME=$MDB_ROOT/home ts --defaults-file="$MDB_ROOT/wrong.cnf" -h 127.0.0.1 -P "$P1" --check
expect_rc "--defaults-file is the only file read (~/.my.cnf not)" 1
HOME=$MDB_ROOT/home ts --defaults-extra-file="$MDB_ROOT/wrong.cnf" -h 127.0.0.1 -P "$P1" --check
expect_rc "--defaults-extra-file is read after ~/.my.cnf and wins" 1
ts --no-defaults -h 127.0.0.1 -P "$P1" -u monitor '-pmon s3cret' --check
expect_rc "-u and -pPASSWORD on the command line" 0
ts --no-defaults -h 127.0.0.1 -P "$P1" -u monitor --password='mon s3cret' --check
expect_rc "--password=PASSWORD" 0
HOME=$MDB_ROOT/home ts --defaults-file="$MDB_ROOT/wrong.cnf" -h 127.0.0.1 -P "$P1" '-pmon s3cret' --check
expect_rc "the command line wins over the option file" 0
HOME=$MDB_ROOT/home ts -S "$(mdb_dir n1)/mysqld.sock" -u monitor --check
expect_rc "-S socket" 0
ts --defaults-file="$MDB_ROOT/missing.cnf" --check
expect_rc "a missing --defaults-file fails at once" 3
ts --no-such-option
expect_rc "an unknown option" 3

# ---- 2. the table and the JSON of a healthy cluster ---------------------------------------------
echo "--- 2. healthy cluster"
tsm -P "$P1"
expect_rc "table, healthy" 0
echo "$OUT"
rows=$(printf '%s\n' "$OUT" | grep -cE '^n[123] +127\.0\.0\.1:[0-9]+ +Synced +Primary +3 ')
expect "table: a Synced Primary row of size 3 per node" "$rows" 3
expect "table: no warnings" "$(printf '%s\n' "$OUT" | grep -c '^no warnings$')" 1
tsm -P "$P2" --json
expect_rc "JSON, healthy" 0
expect "JSON: schema, status, exit_code" "$(jqq '[.schema, .status, .exit_code] | @tsv')" "$(printf '1\thealthy\t0')"
expect "JSON: nodes by address, all Synced Primary ready, size 3" \
  "$(jqq '[.nodes[] | "\(.name):\(.state):\(.cluster_status):\(.ready):\(.cluster_size):\(.reachable)"] | sort | join(" ")')" \
  "$(for n in $NODES; do printf '%s:Synced:Primary:true:3:true ' "$n"; done | sed 's/ $//')"
expect "JSON: node addresses from wsrep_incoming_addresses" "$(jqq '[.nodes[].address] | sort | join(",")')" \
  "$(printf '127.0.0.1:%s\n' "$P1" "$P2" "$P3" | sort | paste -sd,)"
expect "JSON: cluster size 3, no arbitrator, no warning" "$(jqq '[.cluster.size, .cluster.arbitrators, (.warnings | length)] | @tsv')" \
  "$(printf '3\t0\t0')"
expect "JSON: one uuid, equal positions, lag 0" \
  "$(jqq '[(.nodes | map(.cluster_state_uuid) | unique | length), (.nodes | map(.last_committed) | unique | length), (.nodes | map(.lag) | max)] | @tsv')" \
  "$(printf '1\t1\t0')"
expect "JSON: per-second figures present" \
  "$(jqq '[.nodes[] | (.commits_per_s | type), (.cert_failures_per_s | type), (.bf_aborts_per_s | type), (.flow_control_paused_share | type)] | unique | join(",")')" "number"

# Writes on n1 during the two samples: commits per second on n1, received on the others.
mdb_sql n1 "CREATE DATABASE st; CREATE TABLE st.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB" ||
  fail "CREATE TABLE st.t"
(for _ in $(seq 1 40); do mdb_sql n1 "INSERT INTO st.t (v) VALUES (1)"; sleep 0.05; done) &
writer=$!
MDB_CHILD_PIDS="$MDB_CHILD_PIDS $writer"
tsm -P "$P1" --json --interval 1.5
wait "$writer"
MDB_CHILD_PIDS=${MDB_CHILD_PIDS/ $writer/}
got=$(jqq '[(.nodes[] | select(.name == "n1") | .commits_per_s > 0), (.nodes[] | select(.name != "n1") | .received_per_s > 0)] | all')
expect "JSON: n1 commits/s > 0 and the others receive/s > 0 under writes" "$got" true

# ---- 3. desynced node: --check, --serve-check, the view ----------------------------------------
echo "--- 3. health check: Synced, desynced, read-only"
SP=$(mdb_pick_ports) || abort "ports for the HTTP checks"
H1=$SP H2=$((SP + 1)) H2D=$((SP + 2)) H3=$((SP + 3))
serve() { # HTTP_PORT NODE_PORT ARGS...
  local hp=$1 np=$2; shift 2
  HOME=$MDB_ROOT/home "$TS" -h 127.0.0.1 -P "$np" --serve-check "127.0.0.1:$hp" "$@" \
    >>"$MDB_ROOT/serve-$hp.log" 2>&1 &
  MDB_CHILD_PIDS="$MDB_CHILD_PIDS $!"
}
serve "$H1" "$P1" --read-only-not-ok
serve "$H2" "$P2"
serve "$H2D" "$P2" --donor-ok
serve "$H3" "$P3"
listening() { curl -s -m 5 -o /dev/null "http://127.0.0.1:$1/"; }
for h in "$H1" "$H2" "$H2D" "$H3"; do wait_for 10 listening "$h" || fail "--serve-check on $h not answering"; done
for h in "$H1" "$H2" "$H2D" "$H3"; do expect_http "Synced node, port $h" "$h" 200 "^Node is synced\.$"; done
# HAProxy's own check request (option httpchk): HTTP/1.0 OPTIONS, and clustercheck's answer shape.
raw=$(printf 'OPTIONS / HTTP/1.0\r\n\r\n' | timeout 10 socat -t 5 - "TCP:127.0.0.1:$H2" | tr -d '\r')
expect "HAProxy's OPTIONS request: status line and headers" "$(printf '%s\n' "$raw" | head -n 4 | paste -sd'|')" \
  "HTTP/1.1 200 OK|Content-Type: text/plain|Connection: close|Content-Length: 17"
expect "HEAD: no body" "$(curl -s -m 10 -I "http://127.0.0.1:$H2/" | tr -d '\r' | sed -n 1p)" "HTTP/1.1 200 OK"

mdb_sql n2 "SET GLOBAL wsrep_desync=ON" || fail "n2: SET GLOBAL wsrep_desync=ON"
wait_for 10 status_is wsrep_local_state_comment Donor/Desynced n2 || fail "n2 not Donor/Desynced"
tsm -P "$P2" --check
expect_rc "--check on a desynced node" 1
expect "--check's reason" "$OUT" "Node is not synced: Donor/Desynced (donors take traffic only with --donor-ok)."
tsm -P "$P2" --check --donor-ok
expect_rc "--check --donor-ok on a desynced node" 0
expect_http "desynced, HTTP" "$H2" 503 "^Node is not synced: Donor/Desynced"
expect_http "desynced, HTTP with --donor-ok" "$H2D" 200 "Donor/Desynced and donors take traffic"
tsm -P "$P1" --json
expect_rc "cluster view with a desynced node: degraded" 1
expect "JSON: n2 donor_or_desynced, the others not" \
  "$(jqq '[.nodes[] | "\(.name)=\(.donor_or_desynced)"] | sort | join(" ")')" "n1=false n2=true n3=false"
expect "JSON: a warning names n2 as Donor/Desynced" "$(jqq '[.warnings[] | select(test("^n2 is Donor/Desynced"))] | length')" 1
mdb_sql n2 "SET GLOBAL wsrep_desync=OFF" || fail "n2: SET GLOBAL wsrep_desync=OFF"
wait_for 20 status_is wsrep_local_state_comment Synced n2 || fail "n2 not Synced after wsrep_desync=OFF"
expect_http "resynced, HTTP" "$H2" 200 "^Node is synced\.$"

mdb_sql n1 "SET GLOBAL read_only=ON" || fail "n1: read_only=ON"
expect_http "read-only node with --read-only-not-ok" "$H1" 503 "^Node is read-only\.$"
tsm -P "$P1" --check
expect_rc "read-only node without --read-only-not-ok" 0
mdb_sql n1 "SET GLOBAL read_only=OFF" || fail "n1: read_only=OFF"
expect_http "read-write again" "$H1" 200 "^Node is synced\.$"

# ---- 4. isolated node (non-Primary); a desynced node keeps its state across the view change ----
echo "--- 4. gmcast.isolate"
mdb_sql n2 "SET GLOBAL wsrep_desync=ON" || fail "n2: wsrep_desync=ON"
wait_for 10 status_is wsrep_local_state_comment Donor/Desynced n2 || fail "n2 not Donor/Desynced"
mdb_sql n3 "SET GLOBAL wsrep_provider_options='gmcast.isolate=1'" || fail "n3: gmcast.isolate=1"
if wait_for 30 status_is wsrep_cluster_status non-Primary n3 && wait_for 30 status_is wsrep_cluster_size 2 n1 n2; then
  pass "n3 non-Primary, n1 and n2 a primary component of 2"
else
  fail "isolation: n3 $(mdb_status n3 wsrep_cluster_status), sizes $(mdb_status n1 wsrep_cluster_size) $(mdb_status n2 wsrep_cluster_size)"
fi
tsm -P "$P3" --check
expect_rc "--check on the isolated node" 1
expect "--check's reason" "$OUT" "Node is not synced: not in the primary component (wsrep_cluster_status=non-Primary)."
expect_http "isolated node, HTTP" "$H3" 503 "not in the primary component"
# A desynced node stays Donor/Desynced across a view change (Galera does).
expect "n2 after the view change" "$(mdb_status n2 wsrep_local_state_comment)" Donor/Desynced
expect_http "desynced node after a view change, HTTP with --donor-ok" "$H2D" 200 "Donor/Desynced and donors take traffic"
expect_http "desynced node after a view change, HTTP" "$H2" 503 "^Node is not synced"
tsm -P "$P1" --nodes "127.0.0.1:$P3" --json
expect_rc "cluster view with an isolated node: degraded" 1
expect "JSON: n3 non-Primary, size 1" "$(jqq '.nodes[] | select(.name == "n3") | "\(.cluster_status) \(.cluster_size)"')" "non-Primary 1"
expect "JSON: warnings name n3 out of the primary component and the size disagreement" \
  "$(jqq '[(.warnings[] | select(test("^n3 is not in the primary component"))), (.warnings[] | select(test("disagree on the cluster size")))] | length')" 2
mdb_sql n2 "SET GLOBAL wsrep_desync=OFF" || fail "n2: wsrep_desync=OFF"
mdb_sql n3 "SET GLOBAL wsrep_provider_options='gmcast.isolate=0'" || fail "n3: gmcast.isolate=0"
if wait_for 60 formed; then pass "n3 back, 3 Synced"; else fail "not re-formed within 60 s after the isolation"; fi
expect_http "n3 back, HTTP" "$H3" 200 "^Node is synced\.$"

# ---- 5. a stopped node (SIGSTOP): the tool answers within its timeout --------------------------
echo "--- 5. SIGSTOP"
pid3=$(mdb_pid n3)
kill -STOP "$pid3"
tsm -P "$P1" -t 1 --nodes "127.0.0.1:$P3" --json
elapsed_below "cluster view with a stopped node, timeout 1 s" 6
expect_rc "cluster view with a stopped node: degraded" 1
expect "JSON: the stopped node unreachable" "$(jqq ".nodes[] | select(.address == \"127.0.0.1:$P3\") | .reachable")" false
tsm -P "$P3" -t 1 --check
elapsed_below "--check on a stopped node, timeout 1 s" 4
expect_rc "--check on a stopped node" 1
kill -CONT "$pid3"
if wait_for 60 formed; then pass "n3 resumed, 3 Synced"; else fail "not re-formed within 60 s after SIGCONT"; fi

# ---- 6. a killed node, then two: degraded, then down -------------------------------------------
echo "--- 6. SIGKILL"
mdb_kill n3
tsm -P "$P1" --nodes "127.0.0.1:$P3"
elapsed_below "cluster view with a killed node (timeout 2 s)" 5
expect_rc "cluster view with a killed node: degraded" 1
echo "$OUT"
expect "table: the killed node shown DOWN" \
  "$(printf '%s\n' "$OUT" | grep -cE "^- +127\.0\.0\.1:$P3 +DOWN: ")" 1
tsm -P "$P3" --check
expect_rc "--check on a killed node" 1
expect_http "killed node, HTTP" "$H3" 503 "^Node is not synced: cannot read its status"
mdb_kill n2
if wait_for 30 status_is wsrep_cluster_status non-Primary n1; then pass "n1 alone: non-Primary"; else fail "n1 still $(mdb_status n1 wsrep_cluster_status)"; fi
tsm -P "$P1" --nodes "127.0.0.1:$P2,127.0.0.1:$P3" --json
expect_rc "cluster view with 2 of 3 killed: down" 2
expect "JSON: status down, one reachable node" "$(jqq '[.status, ([.nodes[] | select(.reachable)] | length)] | @tsv')" "$(printf 'down\t1')"
expect_http "the last node, non-Primary, HTTP" "$H1" 503 "not in the primary component"
ts --no-defaults -h 127.0.0.1 -P 1 -u monitor
expect_rc "nothing listening: down" 2

finish
