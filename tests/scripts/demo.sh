#!/usr/bin/env bash
# tests/scripts/demo.sh: `make demo` / `make demo-stop`, a local MariaDB cluster on trireme.
# start: node 1 bootstraps, the others join it, a short workload runs, status is printed; stop: stops them.
#
# Settings (environment):
#   DEMO_NODES=3          nodes (node 1 bootstraps with gcomm://, node i>1 joins gcomm://127.0.0.1:14567)
#   DEMO_PROVIDER=PATH    wsrep provider (default build/lib/libtrireme.so;
#                         DEMO_PROVIDER=/usr/lib/galera/libgalera_smm.so to compare with Galera)
#   DEMO_DIR=/tmp/trireme-demo   state: one dir per node (datadir, my.cnf, error.log, pid)
#   DEMO_SECONDS=10       sysbench oltp_write_only run time (0: a few SQL statements only)
#   DEMO_JOIN_TIMEOUT=300 seconds a joining node may take to reach Synced (state transfer included)
# Fixed loopback ports, node i = 1..N:
#   mysqld 13305+i (13306, 13307, ...)  gcomm 14566+i (14567, ...)
#   IST    14666+i (14667, ...)         SST   14766+i (14767, ...)
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib-mariadb.sh
source "$HERE/lib-mariadb.sh"

DEMO_NODES=${DEMO_NODES:-3}
DEMO_PROVIDER=${DEMO_PROVIDER:-$ROOT/build/lib/libtrireme.so}
DEMO_DIR=${DEMO_DIR:-/tmp/trireme-demo}
DEMO_SECONDS=${DEMO_SECONDS:-10}
MYSQL_PORT0=13305 GCOMM_PORT0=14566 IST_PORT0=14666 SST_PORT0=14766
MDB_ROOT=$DEMO_DIR # the lib's node dirs live here

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

node_ports() { # i -> "mysqld gcomm ist sst"
  echo "$((MYSQL_PORT0 + $1)) $((GCOMM_PORT0 + $1)) $((IST_PORT0 + $1)) $((SST_PORT0 + $1))"
}

running_nodes() { # names of nodes under DEMO_DIR whose recorded mariadbd is alive
  local n
  [ -d "$DEMO_DIR" ] || return 0
  for n in $(mdb_nodes); do mdb_alive "$(mdb_pid "$n")" && echo "$n"; done
}

status() {
  local n
  printf '\n%-6s %-6s %-12s %-14s %-8s %-14s %s\n' node port cluster_size cluster_status state \
    last_committed provider
  for n in $(running_nodes); do
    printf '%-6s %-6s %-12s %-14s %-8s %-14s %s %s\n' "$n" "$(mdb_get "$n" port)" \
      "$(mdb_status "$n" wsrep_cluster_size)" "$(mdb_status "$n" wsrep_cluster_status)" \
      "$(mdb_status "$n" wsrep_local_state_comment)" "$(mdb_status "$n" wsrep_last_committed)" \
      "$(mdb_status "$n" wsrep_provider_name)" "$(mdb_status "$n" wsrep_provider_version)"
  done
  echo
}

# Stops nodes last-to-first, so node 1 leaves last and is the one safe to bootstrap from.
stop_all() {
  local n rc=0
  for n in $(running_nodes | sort -r); do
    say "stopping $n (pid $(mdb_pid "$n"))"
    mdb_stop "$n" 120 || rc=1
  done
  return $rc
}

start_failed() {
  local n
  trap - EXIT
  echo >&2
  for n in $(mdb_nodes); do mdb_log_tail "$n" 30; done
  say "start failed; stopping what was started" >&2
  stop_all
  exit 1
}

workload() {
  local n1=node1 sock
  sock="$(mdb_dir node1)/mysqld.sock"
  mdb_sql $n1 "CREATE DATABASE IF NOT EXISTS demo;
    CREATE TABLE demo.hello (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(64), at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
    INSERT INTO demo.hello (msg) VALUES ('hello from trireme'), ('synchronous'), ('multi-master');
    UPDATE demo.hello SET msg = CONCAT(msg, '!') WHERE id = (SELECT MIN(id) FROM demo.hello);" ||
    return 1
  say "demo.hello has $(mdb_sql $n1 "SELECT COUNT(*) FROM demo.hello") rows"
  [ "$DEMO_SECONDS" -gt 0 ] || return 0
  if ! command -v sysbench >/dev/null; then
    say "sysbench not installed: skipping the load"
    return 0
  fi
  local sb=(sysbench oltp_write_only --db-driver=mysql --mysql-socket="$sock" --mysql-user=root
            --mysql-db=sbtest --tables=2 --table-size=1000 --threads=4)
  mdb_sql $n1 "CREATE DATABASE IF NOT EXISTS sbtest" || return 1
  say "sysbench oltp_write_only: 2 tables x 1000 rows, 4 threads, ${DEMO_SECONDS}s on node1"
  if ! "${sb[@]}" prepare >"$DEMO_DIR/sysbench.log" 2>&1 ||
     ! "${sb[@]}" --time="$DEMO_SECONDS" run >>"$DEMO_DIR/sysbench.log" 2>&1; then
    say "sysbench failed:"
    tail -n 5 "$DEMO_DIR/sysbench.log"
    return 1
  fi
  say "sysbench: $(awk '/transactions:/ { gsub(/\(/, "", $3); print $2 " transactions (" $3 "/s)"; exit }' \
    "$DEMO_DIR/sysbench.log")," \
    "$(awk '/ignored errors:/ { print $3; exit }' "$DEMO_DIR/sysbench.log") deadlocks retried"
}

start() {
  local i n ports p address running
  [[ "$DEMO_NODES" =~ ^[1-9]$ ]] || die "DEMO_NODES must be 1..9"
  running=$(running_nodes)
  if [ -n "$running" ]; then
    say "already running in $DEMO_DIR: ${running//$'\n'/ }; 'make demo-stop' first"
    status
    exit 0
  fi
  [ -r "$DEMO_PROVIDER" ] || die "provider $DEMO_PROVIDER not found: run 'make build' first"
  for i in $(seq 1 "$DEMO_NODES"); do
    for p in $(node_ports "$i"); do
      mdb_port_free "$p" || die "port $p is taken (node $i); free it or stop what uses it"
    done
  done

  # Wipe only a previous demo's dir, never whatever else DEMO_DIR might point at.
  if [ -d "$DEMO_DIR" ] && [ -n "$(ls -A "$DEMO_DIR")" ] && [ -z "$(mdb_nodes)" ]; then
    die "$DEMO_DIR exists and is not a demo dir; choose another DEMO_DIR"
  fi
  rm -rf "$DEMO_DIR"
  mdb_init "$DEMO_DIR" || die "cannot set up $DEMO_DIR"
  trap start_failed EXIT
  say "provider $DEMO_PROVIDER, $DEMO_NODES node(s), state in $DEMO_DIR"
  for i in $(seq 1 "$DEMO_NODES"); do
    n=node$i
    read -r -a ports <<<"$(node_ports "$i")"
    if [ "$i" -eq 1 ]; then address=gcomm://; else address=gcomm://127.0.0.1:$((GCOMM_PORT0 + 1)); fi
    MDB_CLUSTER_NAME=trireme_demo mdb_node_create "$n" "$DEMO_PROVIDER" "$address" "${ports[@]}" ||
      exit 1
    say "starting $n: mysqld 127.0.0.1:${ports[0]}, gcomm ${ports[1]}, $address"
    mdb_start "$n"
    # A joiner first receives a full state transfer (rsync), which takes longer.
    mdb_wait_ready "$n" $(( i == 1 ? 90 : ${DEMO_JOIN_TIMEOUT:-300} )) || exit 1
    if [ "$i" -eq 1 ]; then
      # Plain `mariadb -h127.0.0.1 -uroot` works: root from loopback, no password (demo only).
      mdb_sql "$n" "CREATE USER IF NOT EXISTS root@'127.0.0.1';
        GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION" || exit 1
    fi
    say "$n ready ($(mdb_status "$n" wsrep_local_state_comment), cluster size $(mdb_status "$n" wsrep_cluster_size))"
  done
  workload || exit 1
  trap - EXIT
  status
  cat <<EOF
Connect:  mariadb -h127.0.0.1 -P$((MYSQL_PORT0 + 1)) -uroot      (node i: port $((MYSQL_PORT0))+i)
          mariadb -S $DEMO_DIR/node1/mysqld.sock -uroot
Try:      SELECT * FROM demo.hello;  SHOW STATUS LIKE 'wsrep%';
Logs:     $DEMO_DIR/node*/error.log
Stop:     make demo-stop      (or: bash tests/scripts/demo.sh stop)
EOF
}

case "${1:-}" in
  start) start ;;
  stop)
    if [ -z "$(running_nodes)" ]; then say "nothing running in $DEMO_DIR"; exit 0; fi
    stop_all || die "some node did not stop cleanly (see $DEMO_DIR/node*/error.log)"
    [ -f "$DEMO_DIR/node1/data/grastate.dat" ] && { say "node1 grastate.dat:"; cat "$DEMO_DIR/node1/data/grastate.dat"; }
    say "stopped; data kept in $DEMO_DIR (the next start wipes it)"
    ;;
  status) status ;;
  *) echo "usage: demo.sh start|stop|status   (see the top of this file for settings)" >&2; exit 2 ;;
esac
