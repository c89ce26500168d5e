# tests/scripts/lib-mariadb.sh: start, query and stop throwaway mariadbd nodes with any wsrep provider.
# Sourced by tests and the demo; nodes live in one root dir, on loopback ports, as user mysql if root.
#
# Usage:  source lib-mariadb.sh; mdb_init [DIR]; mdb_node_create n1 PROVIDER gcomm:// [PORT];
#         mdb_start n1; mdb_wait_ready n1 60; mdb_sql n1 "SELECT 1"; mdb_stop n1
# mdb_init without DIR makes a temp dir and installs an EXIT trap that stops the servers this
# shell started (by PID, never by name) and removes the dir; on a failing exit it prints each
# node's error log tail. Per-node state is kept in files (DIR/NAME/env) so another shell (demo
# stop) can find the nodes again.
# shellcheck shell=bash

MDB_ROOT=${MDB_ROOT:-}
MDB_OWNED_ROOT=0      # 1: we made MDB_ROOT and remove it on exit
MDB_STARTED_PIDS=""   # mariadbd PIDs this shell started; cleanup touches only these
MDB_CHILD_PIDS=""     # helpers (sysbench) run with mdb_bg; stopped first on cleanup
MDB_USED_PORTS=" "
MDB_CLIENT=$(command -v mariadb || command -v mysql || true)
MDB_SERVER=$(command -v mariadbd || command -v mysqld || echo /usr/sbin/mariadbd)
[ -x "$MDB_SERVER" ] || MDB_SERVER=/usr/sbin/mariadbd
MDB_INSTALL_DB=$(command -v mariadb-install-db || command -v mysql_install_db || true)

mdb_log() { printf '%s\n' "$*" >&2; }

# mdb_init [DIR]: without DIR, a fresh temp dir that is removed on exit.
mdb_init() {
  if [ -n "${1:-}" ]; then
    MDB_ROOT=$1
    mkdir -p "$MDB_ROOT"
  else
    MDB_ROOT=$(mktemp -d /tmp/trireme-mdb.XXXXXX)
    MDB_OWNED_ROOT=1
    trap 'mdb_cleanup $?' EXIT
    trap 'exit 130' INT TERM
  fi
  chmod 755 "$MDB_ROOT"
  if [ -z "$MDB_CLIENT" ] || [ -z "$MDB_INSTALL_DB" ]; then
    mdb_log "mariadb client or mariadb-install-db missing"
    return 1
  fi
}

# Root runs the server as mysql: MariaDB's SST scripts drop privileges and must write the datadir.
mdb_as_root() { [ "$(id -u)" -eq 0 ]; }
mdb_run_user() { if mdb_as_root; then echo mysql; else id -un; fi; }

mdb_port_free() { # PORT: nothing listens on it (TCP, any address)
  if command -v ss >/dev/null; then
    [ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
  else
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# mdb_pick_ports: echoes a base port P with P..P+3 free (mysqld, gcomm, IST, SST), below the
# kernel's ephemeral range so outgoing connections cannot take them meanwhile. Callers run it in
# a command substitution (a subshell), so blocks already handed out are recorded in a file under
# MDB_ROOT: nodes created before any of them listens must not get the same block.
mdb_pick_ports() {
  local base p ok used=" " f=${MDB_ROOT:+$MDB_ROOT/ports.used}
  [ -n "$f" ] && [ -f "$f" ] && used=" $(tr '\n' ' ' <"$f")"
  for _ in $(seq 1 200); do
    base=$(( 20000 + (RANDOM % 1200) * 10 ))
    ok=1
    for p in $base $((base + 1)) $((base + 2)) $((base + 3)); do
      case "$MDB_USED_PORTS$used" in *" $p "*) ok=0 ;; esac
      [ $ok = 1 ] && ! mdb_port_free "$p" && ok=0
      [ $ok = 0 ] && break
    done
    if [ $ok = 1 ]; then
      MDB_USED_PORTS="$MDB_USED_PORTS$base $((base + 1)) $((base + 2)) $((base + 3)) "
      [ -n "$f" ] && printf '%s\n' $base $((base + 1)) $((base + 2)) $((base + 3)) >>"$f"
      echo "$base"
      return 0
    fi
  done
  mdb_log "no free loopback port block found"
  return 1
}

mdb_dir() { echo "$MDB_ROOT/$1"; }
mdb_get() { # NAME KEY: a value recorded by mdb_node_create
  sed -n "s/^$2=//p" "$MDB_ROOT/$1/env" 2>/dev/null
}

# mdb_node_create NAME PROVIDER CLUSTER_ADDRESS [PORT [GCOMM IST SST]]: datadir, my.cnf, system
# tables. Ports default to a free block: PORT mysqld, PORT+1 gcomm, PORT+2 IST, PORT+3 SST.
# PROVIDER "none" = wsrep off. Extra [mariadbd] lines may be given in MDB_EXTRA_CNF, provider
# options in MDB_PROVIDER_OPTIONS ({GCOMM} and {IST} are replaced by the node's ports).
# Optional, per node (read when the node is created): MDB_NODE_HOST, the address the node binds and
# announces (default 127.0.0.1), and MDB_NODE_PREFIX, a command its server is started under (e.g.
# "ip netns exec NS", which execs, so the recorded PID stays the server's).
mdb_node_create() {
  local name=$1 provider=$2 address=$3 base=${4:-} d user host=${MDB_NODE_HOST:-127.0.0.1}
  [ -n "$base" ] || base=$(mdb_pick_ports) || return 1
  local gport=${5:-$((base + 1))} iport=${6:-$((base + 2))} sport=${7:-$((base + 3))}
  d=$(mdb_dir "$name")
  rm -rf "$d"
  mkdir -p "$d/data" "$d/tmp"
  user=$(mdb_run_user)
  # The server user must be able to dlopen the provider; copy it in if it cannot reach it.
  if [ "$provider" != none ] && mdb_as_root && ! runuser -u mysql -- test -r "$provider"; then
    cp "$provider" "$d/" && provider="$d/$(basename "$provider")"
  fi
  cat >"$d/env" <<EOF
port=$base
gcomm_port=$gport
ist_port=$iport
sst_port=$sport
provider=$provider
address=$address
host=$host
prefix=${MDB_NODE_PREFIX:-}
EOF
  local popts=${MDB_PROVIDER_OPTIONS:-"gmcast.listen_addr=tcp://$host:{GCOMM};ist.recv_addr=$host:{IST};gcache.size=32M"}
  popts=${popts//\{GCOMM\}/$gport}
  popts=${popts//\{IST\}/$iport}
  {
    echo "[mariadbd]"
    echo "datadir=$d/data"
    echo "tmpdir=$d/tmp"
    echo "socket=$d/mysqld.sock"
    echo "pid-file=$d/mysqld.pid"
    echo "log-error=$d/error.log"
    echo "port=$base"
    echo "bind-address=$host"
    mdb_as_root && echo "user=mysql"
    echo "performance_schema=OFF"
    echo "innodb_buffer_pool_size=64M"
    echo "innodb_log_file_size=48M"
    echo "max_connections=200"
    echo "binlog_format=ROW"
    echo "default_storage_engine=InnoDB"
    echo "innodb_autoinc_lock_mode=2"
    if [ "$provider" = none ]; then
      echo "wsrep_on=OFF"
    else
      echo "wsrep_on=ON"
      echo "wsrep_provider=$provider"
      echo "wsrep_cluster_address=$address"
      echo "wsrep_cluster_name=${MDB_CLUSTER_NAME:-trireme_test}"
      echo "wsrep_node_name=$name"
      echo "wsrep_node_address=$host"
      echo "wsrep_node_incoming_address=$host:$base"
      echo "wsrep_provider_options='$popts'"
      echo "wsrep_sst_method=rsync"
      echo "wsrep_sst_receive_address=$host:$sport"
    fi
    [ -n "${MDB_EXTRA_CNF:-}" ] && printf '%s\n' "$MDB_EXTRA_CNF"
  } >"$d/my.cnf"
  if mdb_as_root; then chown -R mysql: "$d"; fi
  # System tables without wsrep: bootstrap mode must not load the provider.
  if ! "$MDB_INSTALL_DB" --no-defaults --datadir="$d/data" --tmpdir="$d/tmp" --user="$user" \
      --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
      --innodb-log-file-size=48M >"$d/install.log" 2>&1; then
    mdb_log "mariadb-install-db failed for $name:"; tail -n 20 "$d/install.log" >&2
    return 1
  fi
}

# mdb_cluster PROVIDER FIRST OTHER...: a cluster on loopback: FIRST bootstraps (gcomm://), the
# others join it; each is started in turn and waited for (wsrep_ready=ON, MDB_READY_SECONDS or
# 90 s). Fails (with a log line) at the first node that does not make it.
mdb_cluster() {
  local provider=$1 first=$2 join n
  shift
  mdb_node_create "$first" "$provider" gcomm:// || { mdb_log "cannot create $first"; return 1; }
  join=gcomm://127.0.0.1:$(mdb_get "$first" gcomm_port)
  for n in "${@:2}"; do
    mdb_node_create "$n" "$provider" "$join" || { mdb_log "cannot create $n"; return 1; }
  done
  for n in "$@"; do
    mdb_start "$n"
    mdb_wait_ready "$n" "${MDB_READY_SECONDS:-90}" || return 1
  done
}

# mdb_set_address NAME ADDRESS: change wsrep_cluster_address before (re)starting.
mdb_set_address() {
  local d; d=$(mdb_dir "$1")
  sed -i "s|^wsrep_cluster_address=.*|wsrep_cluster_address=$2|" "$d/my.cnf"
  sed -i "s|^address=.*|address=$2|" "$d/env"
}

mdb_alive() { # PID: running (a zombie counts as gone)
  local st
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [ -n "$st" ] && [ "$st" != Z ]
}

mdb_pid() { cat "$(mdb_dir "$1")/started.pid" 2>/dev/null; }

# mdb_start NAME [mariadbd args...]: starts in the background (under the node's prefix, if it
# has one); the PID is recorded.
mdb_start() {
  local name=$1 d pid prefix; shift
  d=$(mdb_dir "$name")
  prefix=$(mdb_get "$name" prefix)
  # mariadbd --user drops to mysql itself, so $! is the server's own PID.
  # shellcheck disable=SC2086 # the prefix is a command and its words
  $prefix "$MDB_SERVER" --defaults-file="$d/my.cnf" "$@" >>"$d/stdout.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$d/started.pid"
  MDB_STARTED_PIDS="$MDB_STARTED_PIDS $pid"
}

# mdb_recover NAME: what systemd's galera_recovery does before a start after a crash: runs
# mariadbd --wsrep-recover and echoes the position it found in InnoDB (uuid:seqno), for
# `mdb_start NAME --wsrep-start-position=POS`. Fails when the log shows no position.
mdb_recover() {
  local d pos; d=$(mdb_dir "$1")
  rm -f "$d/recover.log"
  timeout -k 5 120 "$MDB_SERVER" --defaults-file="$d/my.cnf" --wsrep-recover \
    --log-error="$d/recover.log" >>"$d/stdout.log" 2>&1 </dev/null
  pos=$(sed -n 's/.*WSREP: Recovered position: *//p' "$d/recover.log" 2>/dev/null | tail -n 1)
  [ -n "$pos" ] || { mdb_log "$1: --wsrep-recover found no position (see $d/recover.log)"; return 1; }
  echo "$pos"
}

# mdb_wait_ready NAME [SECONDS]: until the server answers and wsrep_ready=ON (or, wsrep off,
# just answers). Fails early if the server exits. Polls every MDB_READY_POLL seconds (0.5).
mdb_wait_ready() {
  local name=$1 limit=${2:-90} pid start v
  pid=$(mdb_pid "$name")
  start=$SECONDS
  while [ $((SECONDS - start)) -lt "$limit" ]; do
    if ! mdb_alive "$pid"; then
      mdb_log "$name: mariadbd (pid $pid) exited during startup"
      return 1
    fi
    if [ "$(mdb_get "$name" provider)" = none ]; then
      mdb_sql "$name" "SELECT 1" >/dev/null 2>&1 && return 0
    else
      v=$(mdb_status "$name" wsrep_ready 2>/dev/null)
      [ "$v" = ON ] && return 0
    fi
    sleep "${MDB_READY_POLL:-0.5}"
  done
  mdb_log "$name: not ready (wsrep_ready=${v:-no answer}) after ${limit}s"
  return 1
}

# mdb_sql NAME SQL: runs SQL over the node's socket as root; tab-separated rows, no header.
# Bounded (MDB_SQL_TIMEOUT, default 60 s): a provider that hangs a commit must fail the test,
# not hang it until ctest kills the script and orphans the servers.
mdb_sql() {
  timeout -k 5 "${MDB_SQL_TIMEOUT:-60}" \
    "$MDB_CLIENT" --no-defaults --protocol=socket -S "$(mdb_dir "$1")/mysqld.sock" -uroot \
    --connect-timeout=10 -N -B -e "$2"
}
mdb_status() { mdb_sql "$1" "SHOW GLOBAL STATUS LIKE '$2'" | cut -f2; }
mdb_var() { mdb_sql "$1" "SELECT @@GLOBAL.$2"; }

# mdb_status_is VAR VALUE NODE...: the status variable is VALUE on every NODE given.
mdb_status_is() {
  local var=$1 want=$2 n; shift 2
  for n in "$@"; do [ "$(mdb_status "$n" "$var" 2>/dev/null)" = "$want" ] || return 1; done
}
# mdb_formed NODE...: all of them Synced in one primary component of that many.
mdb_formed() {
  mdb_status_is wsrep_cluster_size $# "$@" && mdb_status_is wsrep_cluster_status Primary "$@" &&
    mdb_status_is wsrep_local_state_comment Synced "$@"
}
mdb_per_node() { # VAR NODE...: "n1=v1 n2=v2 ..." for log lines
  local var=$1 n out=""; shift
  for n in "$@"; do out="$out $n=$(mdb_status "$n" "$var" 2>/dev/null)"; done
  echo "${out# }"
}

# mdb_stop NAME [SECONDS]: clean shutdown (SIGTERM, as mariadb-admin shutdown does); SIGKILL
# and failure if it does not exit in time. Only the PID recorded for NAME is signalled, and
# only while it is still a mariadbd (PIDs get reused).
mdb_stop() {
  local name=$1 limit=${2:-120} pid start
  pid=$(mdb_pid "$name")
  mdb_alive "$pid" || { rm -f "$(mdb_dir "$name")/started.pid"; return 0; }
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE 'mariadbd|mysqld' || return 0
  kill -TERM "$pid" 2>/dev/null
  start=$SECONDS
  while mdb_alive "$pid"; do
    if [ $((SECONDS - start)) -ge "$limit" ]; then
      mdb_log "$name: no clean shutdown after ${limit}s, killing pid $pid"
      kill -KILL "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
      return 1
    fi
    sleep 0.2
  done
  wait "$pid" 2>/dev/null # reap if it is our child
  rm -f "$(mdb_dir "$name")/started.pid"
  return 0
}

# mdb_bg CMD...: runs a helper in the background and waits for it, so a signal reaches the EXIT
# trap at once instead of after the helper ends; cleanup then stops the helper too.
mdb_bg() {
  local pid rc
  "$@" &
  pid=$!
  MDB_CHILD_PIDS="$MDB_CHILD_PIDS $pid"
  wait "$pid"
  rc=$?
  MDB_CHILD_PIDS=${MDB_CHILD_PIDS/ $pid/}
  return $rc
}

# mdb_kill NAME: SIGKILL, a crash.
mdb_kill() {
  local pid; pid=$(mdb_pid "$1")
  mdb_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -f "$(mdb_dir "$1")/started.pid"
}

mdb_log_tail() { # NAME [LINES]
  local f; f="$(mdb_dir "$1")/error.log"
  [ -f "$f" ] || return 0
  echo "----- $1: last ${2:-40} lines of $f -----" >&2
  tail -n "${2:-40}" "$f" >&2
}

mdb_nodes() { # names of the nodes under MDB_ROOT
  local e
  for e in "$MDB_ROOT"/*/env; do [ -f "$e" ] && basename "$(dirname "$e")"; done
}

# mdb_cleanup STATUS: the EXIT trap. Stops only the PIDs this shell started, then removes the
# root dir it created (MDB_KEEP=1 keeps it for a post-mortem); MDB_AFTER_CLEANUP, if set, is run
# once the servers are gone. Prints error log tails on a
# failing exit unless the caller already did (MDB_TAILS_SHOWN=1).
mdb_cleanup() {
  local rc=${1:-0} pid n
  trap - EXIT
  if [ "$rc" -ne 0 ] && [ -n "$MDB_ROOT" ] && [ "${MDB_TAILS_SHOWN:-0}" != 1 ]; then
    for n in $(mdb_nodes); do mdb_log_tail "$n" 40; done
  fi
  for pid in $MDB_CHILD_PIDS $MDB_STARTED_PIDS; do
    mdb_alive "$pid" || continue
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in $MDB_STARTED_PIDS; do
    for _ in $(seq 1 150); do mdb_alive "$pid" || break; sleep 0.2; done
    if mdb_alive "$pid"; then kill -KILL "$pid" 2>/dev/null; fi
    wait "$pid" 2>/dev/null
  done
  # a caller's own teardown that must follow the servers (e.g. deleting their network namespaces)
  [ -n "${MDB_AFTER_CLEANUP:-}" ] && $MDB_AFTER_CLEANUP
  if [ "$MDB_OWNED_ROOT" = 1 ] && [ -n "$MDB_ROOT" ] && [ "${MDB_KEEP:-0}" != 1 ]; then
    rm -rf "$MDB_ROOT"
  elif [ "$MDB_OWNED_ROOT" = 1 ]; then
    mdb_log "kept $MDB_ROOT"
  fi
  exit "$rc"
}

# grastate_field NAME KEY: a value from the node's grastate.dat (uuid, seqno, safe_to_bootstrap).
mdb_grastate() {
  awk -v k="$2:" '$1 == k { print $2 }' "$(mdb_dir "$1")/data/grastate.dat" 2>/dev/null
}
