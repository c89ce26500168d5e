#!/usr/bin/env bash
# tests/mariadb/sst_tool.sh: wsrep_sst_trireme without MariaDB, on loopback: the argument set,
# "ready" and position lines, --bypass over IPv4 and IPv6, TLS (and a plaintext donor refused by a
# TLS joiner), the joiner's bounded wait, bad options failing start-up, and the datadir journal.
# Usage: sst_tool.sh WSREP_SST_TRIREME. The last line is "N passed, M failed".
set -u
TOOL=$(realpath -m "${1:?usage: sst_tool.sh WSREP_SST_TRIREME}")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DEADLINE=${DEADLINE:-120}
MDB_ROOT=""
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-check.sh
source "$HERE/../scripts/lib-check.sh"
mdb_nodes() { :; } # lib-check's finish() asks for MariaDB nodes: there are none
[ -x "$TOOL" ] || abort "$TOOL not built"
command -v my_print_defaults >/dev/null || abort "my_print_defaults missing (mariadb-server)"
T=$(mktemp -d /tmp/trireme-sst-tool.XXXXXX)
PIDS=""
cleanup() {
  local p
  for p in $PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
GTID=6f0f4a2c-1a2b-11ee-8000-00000000002a:42

free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((30000 + RANDOM % 5000))
    [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return; }
  done
  echo 0
}
# pair NAME HOST JOINER_CNF DONOR_CNF: a joiner, then a --bypass donor at its "ready" address;
# leaves NAME.j.out/.j.err/.j.rc and NAME.d.out/.d.err/.d.rc in $T
pair() {
  local name=$1 host=$2 jcnf=$3 dcnf=$4 port addr
  port=$(free_port)
  mkdir -p "$T/$name.jd" "$T/$name.dd"
  "$TOOL" --role joiner --address "$host:$port" --datadir "$T/$name.jd" --defaults-file "$jcnf" \
    --parent $$ --progress 0 >"$T/$name.j.out" 2>"$T/$name.j.err" &
  local jp=$!
  PIDS="$PIDS $jp"
  for _ in $(seq 1 50); do [ -s "$T/$name.j.out" ] && break; sleep 0.1; done
  addr=$(sed -n 's/^ready //p' "$T/$name.j.out")
  "$TOOL" --role donor --address "${addr:-$host:$port}" --local-port 3306 --socket /nonexistent \
    --progress 0 --datadir "$T/$name.dd" --defaults-file "$dcnf" --gtid "$GTID" \
    --gtid-domain-id 9 --bypass >"$T/$name.d.out" 2>"$T/$name.d.err"
  echo $? >"$T/$name.d.rc"
  wait "$jp"
  echo $? >"$T/$name.j.rc"
}
printf '[sst]\nsst-initial-timeout=10\n' >"$T/plain.cnf"

# ---- bypass over IPv4 and IPv6 ---------------------------------------------------------------
for host in 127.0.0.1 '[::1]'; do
  if [ "$host" = '[::1]' ] && ! ip -6 addr show lo 2>/dev/null | grep -q '::1'; then
    echo "(no IPv6 loopback: skipping [::1])"; continue
  fi
  pair v "$host" "$T/plain.cnf" "$T/plain.cnf"
  expect "$host: joiner's first line" "$(head -n 1 "$T/v.j.out" | sed 's/:[0-9]*$/:PORT/')" "ready $host:PORT"
  expect "$host: joiner reports the donor's position and domain" "$(tail -n 1 "$T/v.j.out")" "$GTID 9"
  expect "$host: donor says done" "$(cat "$T/v.d.out")" "done $GTID"
  expect "$host: exit codes joiner, donor" "$(cat "$T/v.j.rc") $(cat "$T/v.d.rc")" "0 0"
  grep -q '^WSREP_SST: \[INFO\] .* ([0-9]\{8\} [0-9:.]*)$' "$T/v.j.err" &&
    pass "$host: log lines in MariaDB's WSREP_SST form" || fail "$host: log lines: $(head -n 2 "$T/v.j.err")"
done

# ---- TLS: certificates from [sst] tcert/tkey/tca; a plaintext donor is refused -----------------
if bash "$HERE/../scripts/make-pki.sh" "$T/pki" joiner donor >/dev/null 2>&1; then
  for r in joiner donor; do
    printf '[sst]\nsst-initial-timeout=10\ntcert=%s\ntkey=%s\ntca=%s\n' \
      "$T/pki/$r.pem" "$T/pki/$r.key" "$T/pki/ca.pem" >"$T/$r-tls.cnf"
  done
  pair tls 127.0.0.1 "$T/joiner-tls.cnf" "$T/donor-tls.cnf"
  expect "TLS: joiner and donor succeed" "$(cat "$T/tls.j.rc") $(cat "$T/tls.d.rc") $(tail -n 1 "$T/tls.j.out")" "0 0 $GTID 9"
  grep -q 'TLS with' "$T/tls.j.err" && pass "TLS: the joiner logs the TLS session" || fail "TLS: no session in the joiner's log"
  pair mixed 127.0.0.1 "$T/joiner-tls.cnf" "$T/plain.cnf"
  [ "$(cat "$T/mixed.j.rc")" != 0 ] && [ "$(cat "$T/mixed.d.rc")" != 0 ] &&
    pass "TLS joiner, plaintext donor: both fail ($(grep -o 'TLS handshake.*' "$T/mixed.j.err" | head -n 1 | cut -c1-90))" ||
    fail "TLS joiner took a plaintext donor: rc $(cat "$T/mixed.j.rc") $(cat "$T/mixed.d.rc")"
  printf '[sst]\ntcert=%s\ntkey=%s\n' "$T/pki/joiner.pem" "$T/nonexistent.key" >"$T/badkey.cnf"
  "$TOOL" --role joiner --address 127.0.0.1:1 --datadir "$T" --defaults-file "$T/badkey.cnf" >"$T/o" 2>"$T/e"
  rc=$?
  [ $rc -ne 0 ] && [ ! -s "$T/o" ] && pass "an unreadable tkey fails closed before 'ready' (exit $rc)" ||
    fail "unreadable tkey: exit $rc, stdout '$(cat "$T/o")'"
else
  fail "make-pki.sh failed"
fi

# ---- bad options and configurations fail start-up, naming them --------------------------------
bad() { # DESC WANT_IN_STDERR ARGS...
  local desc=$1 want=$2; shift 2
  "$TOOL" "$@" >"$T/o" 2>"$T/e"
  local rc=$?
  if [ $rc -ne 0 ] && grep -q -- "$want" "$T/e" && [ ! -s "$T/o" ]; then pass "$desc: exit $rc"
  else fail "$desc: exit $rc, stderr $(head -c 300 "$T/e")"; fi
}
bad "no role" "usage" --datadir "$T"
bad "bad address" "--address" --role joiner --address 'a b:1' --datadir "$T" --defaults-file "$T/plain.cnf"
bad "donor without --gtid" "--gtid" --role donor --address 127.0.0.1:1 --datadir "$T" --defaults-file "$T/plain.cnf"
printf '[sst]\nzstd-level=99\n' >"$T/lvl.cnf"
bad "[sst] zstd-level=99" "zstd-level" --role joiner --address 127.0.0.1:1 --datadir "$T" --defaults-file "$T/lvl.cnf"
printf '[sst]\nencrypt=4\n' >"$T/enc.cnf"
bad "[sst] encrypt=4 without certificates" "encryption" --role joiner --address 127.0.0.1:1 --datadir "$T" --defaults-file "$T/enc.cnf"
bad "innodb files outside the datadir" "outside the datadir" --role joiner --address 127.0.0.1:1 \
  --datadir "$T" --defaults-file "$T/plain.cnf" --mysqld-args --innodb-log-group-home-dir=/var/tmp

# ---- the joiner's wait for a donor is bounded -------------------------------------------------
printf '[sst]\nsst-initial-timeout=2\n' >"$T/short.cnf"
mkdir -p "$T/w"
start=$SECONDS
"$TOOL" --role joiner --address "127.0.0.1:$(free_port)" --datadir "$T/w" --defaults-file "$T/short.cnf" >"$T/o" 2>"$T/e"
rc=$?
took=$((SECONDS - start))
[ $rc -ne 0 ] && [ $took -le 6 ] && grep -q 'sst-initial-timeout' "$T/e" &&
  pass "no donor: the joiner gives up after ${took} s (exit $rc)" || fail "no donor: exit $rc after ${took} s"

# ---- the datadir journal: an interrupted swap is undone or finished ---------------------------
D=$T/dd
mkdir -p "$D/.trireme-sst.old/mysql" "$D/.trireme-sst.new"
echo old >"$D/.trireme-sst.old/ibdata1"; echo keep >"$D/grastate.dat"
echo out >"$D/.trireme-sst.state"
"$TOOL" --role recover --datadir "$D" 2>"$T/e"
expect "journal 'out': old contents back, staging gone" \
  "$(cat "$D/ibdata1") $([ -d "$D/mysql" ] && echo dir) $(ls -A "$D" | grep -c trireme-sst)" "old dir 0"
mkdir -p "$D/.trireme-sst.old" "$D/.trireme-sst.new/db1"
mv "$D/ibdata1" "$D/mysql" "$D/.trireme-sst.old/"
echo new >"$D/.trireme-sst.new/ibdata1"; echo meta >"$D/.trireme-sst.new/xtrabackup_checkpoints"
echo in >"$D/.trireme-sst.state"
"$TOOL" --role recover --datadir "$D" 2>"$T/e"
expect "journal 'in': new contents in, no backup metadata, staging gone" \
  "$(cat "$D/ibdata1") $([ -d "$D/db1" ] && echo dir) $([ -e "$D/xtrabackup_checkpoints" ] && echo meta || echo nometa) $(ls -A "$D" | grep -c trireme-sst) $(cat "$D/grastate.dat")" \
  "new dir nometa 0 keep"
finish
