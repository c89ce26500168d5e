#!/usr/bin/env bash
# tests/mariadb/sst_methods.sh: a node that already holds data of its own joins by a full SST, once
# per SST method (rsync, mariabackup, mysqldump, trireme), and ends up with exactly the donor's data.
#
# Usage: sst_methods.sh [PROVIDER_SO [WSREP_SST_TRIREME]]
#   PROVIDER_SO        default build/lib/libtrireme.so; /usr/lib/galera/libgalera_smm.so runs the
#                      same checks on Galera 4 for comparison
#   WSREP_SST_TRIREME  default build/bin/wsrep_sst_trireme (only method trireme needs it)
#   SST_METHODS="rsync ..." picks methods; ROWS sizes n1's main table. About a minute in all
#   (mariabackup's donor script alone sleeps 10 s). Last line: "N passed, M failed".
#   `make test-sst-methods` runs it on trireme, then on Galera 4, under the heavy-test lock.
#
# n1 bootstraps with InnoDB rows in two tables of two schemas, a view over both and a stored
# procedure. For each method a fresh n2 first runs a cluster of its own with other rows (some
# under the same keys, a table and a schema n1 does not have), stops, and joins n1: its saved
# state names another history, so it must get a full SST (the donor's script without --bypass),
# not IST. Then: n2 Synced, CHECKSUM TABLE equal for every table of n1's schemas, none of n2's
# old rows, tables or schemas left (mysqldump excepted for a schema only n2 had: the dump drops
# only the donor's databases), and a write on each node read on the other. Each method's time
# from n2's mariadbd start to Synced is printed ("time to Synced").
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROVIDER=$(realpath -m "${1:-$HERE/../../build/lib/libtrireme.so}")
TOOL=$(realpath -m "${2:-$HERE/../../build/bin/wsrep_sst_trireme}")
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
SST_METHODS=${SST_METHODS:-"rsync mariabackup mysqldump trireme"}
DEADLINE=${DEADLINE:-600}
ROWS=${ROWS:-3000}
export MDB_SQL_TIMEOUT=${MDB_SQL_TIMEOUT:-30}
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-check.sh
source "$HERE/../scripts/lib-check.sh"

echo "sst_methods: provider $PROVIDER, methods: $SST_METHODS"
[ -r "$PROVIDER" ] || abort "provider library $PROVIDER not found (build it first)"
mdb_init || abort "test environment (mariadb client, mariadb-install-db)"
case " $SST_METHODS " in
  *" trireme "*)
    [ -n "$TOOL" ] && [ -x "$TOOL" ] || abort "method trireme needs WSREP_SST_TRIREME (the built tool)"
    # MariaDB runs wsrep_sst_<method> from PATH; a copy the server's user can run.
    mkdir -p "$MDB_ROOT/bin"
    cp "$TOOL" "$MDB_ROOT/bin/wsrep_sst_trireme"
    chmod 755 "$MDB_ROOT/bin" "$MDB_ROOT/bin/wsrep_sst_trireme"
    export PATH="$MDB_ROOT/bin:$PATH" ;;
esac
case " $SST_METHODS " in
  *" mariabackup "* | *" trireme "*)
    command -v mariadb-backup >/dev/null || command -v mariabackup >/dev/null ||
      abort "mariadb-backup is not installed (cmake/install-deps.sh installs it)" ;;
esac

# The SST user: mariabackup and trireme read the donor through its socket with it; mysqldump's
# donor script also connects to the joiner's server over TCP as it, so it must exist on n2 before
# n2 joins (n2 makes it in its own cluster, below) and may do anything there (DROP DATABASE,
# SET GLOBAL wsrep_on, the dump of the mysql schema). 127.0.0.1 is named besides localhost: the
# server may not resolve the loopback address back to a name.
SST_PASS=sst-pw-1
SST_USER_SQL="CREATE USER sst@localhost IDENTIFIED BY '$SST_PASS';
  CREATE USER sst@'127.0.0.1' IDENTIFIED BY '$SST_PASS';
  GRANT ALL ON *.* TO sst@localhost WITH GRANT OPTION;
  GRANT ALL ON *.* TO sst@'127.0.0.1' WITH GRANT OPTION"
export MDB_EXTRA_CNF="wsrep_sst_auth=sst:$SST_PASS
[sst]
sst-idle-timeout=60"

sw() { mdb_sql "$1" "SET SESSION wsrep_sync_wait=15; $2"; }
log_of() { cat "$(mdb_dir "$1")/error.log" 2>/dev/null; }
state() { mdb_status "$1" wsrep_local_state_comment 2>/dev/null; }
synced() { [ "$(state "$1")" = Synced ]; }
formed2() { mdb_formed n1 n2; }
# n1's user tables (schema.table), the ones every copy must carry
user_tables() {
  mdb_sql n1 "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM information_schema.TABLES
    WHERE TABLE_TYPE = 'BASE TABLE'
      AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
    ORDER BY 1" | paste -sd, -
}
sums() { # NODE TABLES: "table checksum ..." for each table
  sw "$1" "CHECKSUM TABLE $2" 2>&1 | tr '\t\n' '  '
}
# what n1 and every good copy hold beyond the tables: the view's rows, the procedure
extras() {
  sw "$1" "SELECT COUNT(*), SUM(n) FROM sst.v;
    SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'sst2' AND ROUTINE_NAME = 'total'" 2>&1 |
    tr '\t\n' '  '
}

# ---- n1: the donor, with data ----------------------------------------------------------------
mdb_node_create n1 "$PROVIDER" gcomm:// || abort "create n1"
JOIN=gcomm://127.0.0.1:$(mdb_get n1 gcomm_port)
mdb_start n1
mdb_wait_ready n1 60 || abort "n1: wsrep_ready=ON within 60 s"
mdb_sql n1 "$SST_USER_SQL;
  CREATE DATABASE sst;
  CREATE TABLE sst.t (id INT PRIMARY KEY, v VARCHAR(64), n BIGINT, KEY (n)) ENGINE=InnoDB;
  INSERT INTO sst.t SELECT seq, SHA1(seq), seq * 7919 FROM sst.seq_1_to_$ROWS;
  CREATE DATABASE sst2;
  CREATE TABLE sst2.u (id INT PRIMARY KEY, t_id INT, note TEXT) ENGINE=InnoDB;
  INSERT INTO sst2.u SELECT seq, seq % $ROWS + 1, REPEAT(MD5(seq), 4) FROM sst.seq_1_to_2000;
  CREATE VIEW sst.v AS SELECT u.id, t.n FROM sst2.u u JOIN sst.t t ON t.id = u.t_id WHERE u.id % 3 = 0;
  CREATE PROCEDURE sst2.total() SELECT SUM(n) FROM sst.v" || abort "n1: test data"
pass "n1: bootstrapped with $ROWS + 2000 InnoDB rows in sst.t and sst2.u, a view, a procedure"
TABLES=$(user_tables)
WANT_EXTRAS=$(extras n1)
echo "tables: $TABLES; view rows, view sum, procedures: $WANT_EXTRAS"

# ---- n2 with data of its own, in a cluster of its own ------------------------------------------
# Another history (its own cluster uuid) and rows n1 does not have, some under the same keys, a
# table and a whole schema n1 does not have. Stopped cleanly: its grastate.dat names that history.
seed_n2() {
  local method=$1
  mdb_node_create n2 "$PROVIDER" gcomm:// || return 1
  if [ "$method" = mysqldump ]; then
    # mysqldump's donor connects to the joiner's server: the SST address is that server's port.
    # Replaced in place: a line appended to my.cnf would land in MDB_EXTRA_CNF's [sst] group.
    sed -i "s/^wsrep_sst_receive_address=.*/wsrep_sst_receive_address=127.0.0.1:$(mdb_get n2 port)/" \
      "$(mdb_dir n2)/my.cnf"
  fi
  mdb_start n2
  mdb_wait_ready n2 60 || return 1
  mdb_sql n2 "$SST_USER_SQL;
    CREATE DATABASE sst;
    CREATE TABLE sst.t (id INT PRIMARY KEY, v VARCHAR(64), n BIGINT, KEY (n)) ENGINE=InnoDB;
    INSERT INTO sst.t SELECT seq, 'n2-own', -seq FROM sst.seq_1_to_500;
    INSERT INTO sst.t SELECT seq, 'n2-own', -seq FROM sst.seq_1000001_to_1000500;
    CREATE TABLE sst.only_n2 (id INT PRIMARY KEY) ENGINE=InnoDB;
    INSERT INTO sst.only_n2 SELECT seq FROM sst.seq_1_to_100;
    CREATE DATABASE n2own;
    CREATE TABLE n2own.x (id INT PRIMARY KEY) ENGINE=InnoDB;
    INSERT INTO n2own.x VALUES (1)" || return 1
  mdb_stop n2 60 || return 1
  mdb_set_address n2 "$JOIN"
}

# ---- one method --------------------------------------------------------------------------------
# Before the join: the donor's log line count, so its checks see this join's lines only.
run_method() {
  local m=$1 from1 t0 t_synced="" log1 log2 got
  echo "--- $m: n2 with rows of its own joins by SST"
  if ! seed_n2 "$m"; then
    fail "$m: n2 with its own data (own cluster, rows, stopped)"
    mdb_kill n2
    return
  fi
  sed -i "s/^wsrep_sst_method=.*/wsrep_sst_method=$m/" "$(mdb_dir n2)/my.cnf"
  pass "$m: n2 has $(mdb_grastate n2 uuid):$(mdb_grastate n2 seqno) and 1000 rows of its own"
  from1=$(log_of n1 | wc -l)
  local from2; from2=$(log_of n2 | wc -l)
  t0=$(date +%s%3N)
  mdb_start n2
  while :; do
    if synced n2; then t_synced=$(date +%s%3N); break; fi
    mdb_alive "$(mdb_pid n2)" || break
    [ $(($(date +%s%3N) - t0)) -gt 180000 ] && break
    in_time
    sleep 0.2
  done
  if [ -z "$t_synced" ]; then
    fail "$m: n2 not Synced within 180 s (state '$(state n2)')"
    for n in n1 n2; do mdb_log_tail "$n" 30 2>&1; done
    mdb_kill n2
    return
  fi
  local ms=$((t_synced - t0)) secs
  secs=$((ms / 1000)).$((ms % 1000 / 100))
  pass "$m: n2 Synced, time to Synced $secs s"
  RESULTS="$RESULTS $m=${secs}s"
  wait_for 30 formed2 || fail "$m: n1, n2 not one primary component of 2"
  log1=$(log_of n1 | tail -n "+$((from1 + 1))")
  log2=$(log_of n2 | tail -n "+$((from2 + 1))")
  # The joiner's side: MariaDB logs the joiner script it runs (its "Prepared SST request" line is
  # debug-only); mysqldump has no joiner script, the donor's client loads n2's running server.
  if [ "$m" != mysqldump ]; then
    got=$(grep "Running: 'wsrep_sst_$m" <<<"$log2" | grep -c -- "--role 'joiner'")
    expect "$m: n2 ran its $m joiner script once" "$got" 1
  fi
  # the donor's side: MariaDB logs the script it runs (mysqldump's only at debug level), and
  # MariaDB's scripts say "<method> SST|IST completed on donor"; IST would mean --bypass
  if [ "$m" = mysqldump ]; then
    got=$(grep -c "WSREP_SST: \[INFO\] mysqldump SST completed on donor" <<<"$log1")
    expect "$m: n1's donor script made a full dump (\"SST completed on donor\")" "$got" 1
    if grep -q "WSREP_SST: \[INFO\] Bypassing state dump" <<<"$log1"; then
      fail "$m: n1's donor script bypassed the dump (IST, not SST)"
    else
      pass "$m: a full dump, not bypassed"
    fi
  else
    got=$(grep "Running: 'wsrep_sst_$m" <<<"$log1" | grep -c -- "--role 'donor'")
    expect "$m: n1 ran its $m donor script once" "$got" 1
    if grep "Running: 'wsrep_sst_$m" <<<"$log1" | grep -q -- "--bypass"; then
      fail "$m: n1's donor script ran with --bypass (IST, not SST)"
    else
      pass "$m: a full copy, the donor script without --bypass"
    fi
  fi
  expect "$m: CHECKSUM TABLE of every table equal on n2 and n1" "$(sums n2 "$TABLES")" "$(sums n1 "$TABLES")"
  expect "$m: view and procedure on n2 as on n1" "$(extras n2)" "$WANT_EXTRAS"
  # n2's own rows: ids 1..500 (n1 has other values there) and 1000001..1000500 (n1 has none);
  # ids from 2000000 up are the writes of earlier methods' runs, in n1's data by now.
  expect "$m: none of n2's own rows left in sst.t" \
    "$(sw n2 "SELECT COUNT(*) FROM sst.t WHERE v = 'n2-own' OR id BETWEEN 1000001 AND 1000500")" 0
  expect "$m: n2's own table sst.only_n2 gone" \
    "$(sw n2 "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'sst' AND TABLE_NAME = 'only_n2'")" 0
  got=$(sw n2 "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'n2own'")
  if [ "$m" = mysqldump ]; then
    # the dump drops and makes again only the donor's databases: a schema only the joiner had stays
    echo "INFO: $m: n2's own schema n2own left in place: $got (the dump drops only the donor's databases)"
  else
    expect "$m: n2's own schema n2own gone" "$got" 0
  fi
  local k=$((2000000 + 10 * METHOD_NO))
  mdb_sql n2 "INSERT INTO sst.t VALUES ($k, 'from-n2-$m', 1)" || fail "$m: write on n2"
  mdb_sql n1 "INSERT INTO sst.t VALUES ($((k + 1)), 'from-n1-$m', 2)" || fail "$m: write on n1"
  expect "$m: n2's write read on n1" "$(sw n1 "SELECT v FROM sst.t WHERE id = $k")" "from-n2-$m"
  expect "$m: n1's write read on n2" "$(sw n2 "SELECT v FROM sst.t WHERE id = $((k + 1))")" "from-n1-$m"
  mdb_stop n2 60 || fail "$m: n2 clean shutdown"
  # the next method starts from a fresh n2 (the old one's files go with it)
  wait_for 30 mdb_status_is wsrep_cluster_size 1 n1 || fail "$m: n1 did not see n2 leave"
}

RESULTS=""
METHOD_NO=0
for m in $SST_METHODS; do
  METHOD_NO=$((METHOD_NO + 1))
  run_method "$m"
  in_time
done
echo "time to Synced ($(basename "$PROVIDER")):$RESULTS; whole run $SECONDS s"
finish
