#!/usr/bin/env bash
# tests/mariadb/install_prefix.sh: `cmake --install` into a temporary DESTDIR, then MariaDB loads
# the provider from the installed path and the installed trireme-status checks the node.
# Usage: install_prefix.sh BUILD_DIR. The last line is "N passed, M failed".
set -u
BUILD=${1:?usage: install_prefix.sh BUILD_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
DEADLINE=${DEADLINE:-240}
export MDB_SQL_TIMEOUT=${MDB_SQL_TIMEOUT:-30}
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-check.sh
source "$HERE/../scripts/lib-check.sh"

echo "install_prefix: build tree $BUILD"
[ -r "$BUILD/lib/libtrireme.so" ] || abort "$BUILD/lib/libtrireme.so not built"
mdb_init || abort "test environment (mariadb client, mariadb-install-db)"

# Under MDB_ROOT (mode 755), so that the server's user reads the library where it was installed.
STAGE=$MDB_ROOT/stage
PREFIX=/opt/trireme-test
if out=$(DESTDIR=$STAGE cmake --install "$BUILD" --prefix "$PREFIX" 2>&1); then
  pass "cmake --install into DESTDIR $STAGE, prefix $PREFIX"
else
  abort "cmake --install: $out"
fi
chmod -R a+rX "$STAGE"
echo "$out" | sed 's/^/  /'
lib=$(find "$STAGE$PREFIX" -name libtrireme.so -path '*/trireme/*' | head -n 1)
tool=$STAGE$PREFIX/bin/trireme-status
[ -n "$lib" ] || abort "no libtrireme.so under $STAGE$PREFIX/<libdir>/trireme/"
pass "provider installed at ${lib#"$STAGE"}"
[ -x "$tool" ] && pass "trireme-status installed in bin/" || fail "no $tool"
if readelf -d "$lib" "$tool" | grep -E 'RPATH|RUNPATH' | grep -q "$BUILD"; then
  fail "an installed binary still points into the build tree: $(readelf -d "$lib" "$tool" | grep -E 'RPATH|RUNPATH')"
else
  pass "no RPATH into the build tree"
fi
expect "the installed trireme-status runs" "$("$tool" --version | cut -d' ' -f1)" trireme-status

mdb_node_create n1 "$lib" gcomm:// || abort "create n1"
expect "the node's wsrep_provider is the installed path" "$(mdb_get n1 provider)" "$lib"
mdb_start n1
mdb_wait_ready n1 90 || abort "n1 on the installed provider: wsrep_ready=ON within 90 s"
pass "MariaDB on the installed provider: wsrep_ready=ON"
expect "wsrep_provider_name" "$(mdb_status n1 wsrep_provider_name)" trireme
expect "the server loaded the installed file" "$(mdb_var n1 wsrep_provider)" "$lib"
out=$("$tool" --no-defaults -S "$(mdb_dir n1)/mysqld.sock" -u root --check 2>&1)
rc=$?
expect "installed trireme-status --check" "$rc: $out" "0: Node is synced."
mdb_sql n1 "CREATE DATABASE inst; CREATE TABLE inst.t (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO inst.t VALUES (1)" &&
  pass "DDL and a commit on the installed provider" || fail "writes on the installed provider"
finish
