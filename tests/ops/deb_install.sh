#!/usr/bin/env bash
# tests/ops/deb_install.sh: the Debian package installed with apt as a DBA would, MariaDB loads
# the provider from the installed path, then the package is removed again (only if it was not
# installed before). Needs root. Usage: deb_install.sh BUILD_PKG_DIR (from `make package`).
set -u
PKGDIR=${1:?usage: deb_install.sh BUILD_PKG_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-mariadb.sh
source "$HERE/../scripts/lib-mariadb.sh"
DEADLINE=${DEADLINE:-400}
# shellcheck source-path=SCRIPTDIR source=../scripts/lib-check.sh
source "$HERE/../scripts/lib-check.sh"

[ "$(id -u)" -eq 0 ] || { echo "deb_install: needs root (apt)"; exit 1; }
deb=$(ls "$PKGDIR"/trireme_*_amd64.deb 2>/dev/null | tail -n 1)
[ -n "$deb" ] || { echo "deb_install: no $PKGDIR/trireme_*_amd64.deb (make package)"; exit 1; }
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
before=0
dpkg-query -W -f='${Status}' trireme 2>/dev/null | grep -q "ok installed" && before=1
remove_pkg() {
  if [ "$before" = 0 ] && dpkg-query -W -f='${Status}' trireme 2>/dev/null | grep -q "ok installed"; then
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq trireme >/dev/null 2>&1
  fi
}
mdb_init || abort "test environment"
trap 'rc=$?; remove_pkg; mdb_cleanup $rc' EXIT

echo "deb_install: $deb (installed before: $before)"
expect "package name and architecture" "$(dpkg-deb -f "$deb" Package Architecture | tr '\n' ' ')" \
  "Package: trireme Architecture: amd64 "
deps=$(dpkg-deb -f "$deb" Depends)
for d in libc6 libgcrypt20 libzstd1 libmariadb3; do
  case "$deps" in *"$d "*) pass "Depends has $d" ;; *) fail "Depends lacks $d: $deps" ;; esac
done
if out=$(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" 2>&1); then
  pass "apt-get install ./$(basename "$deb")"
else
  abort "apt-get install: $out"
fi
LIB=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)/trireme/libtrireme.so
expect "dpkg -L lists the provider" "$(dpkg -L trireme | grep -c "^$LIB$")" 1
expect "trireme-status on PATH" "$(command -v trireme-status)" /usr/bin/trireme-status

mdb_node_create n1 "$LIB" gcomm:// || abort "create n1"
mdb_start n1
mdb_wait_ready n1 90 || abort "MariaDB on $LIB: wsrep_ready=ON within 90 s"
pass "MariaDB with wsrep_provider=$LIB: wsrep_ready=ON"
expect "wsrep_provider_name" "$(mdb_status n1 wsrep_provider_name)" trireme
expect "trireme-status --check" "$(trireme-status --no-defaults -S "$(mdb_dir n1)/mysqld.sock" -u root --check 2>&1)" \
  "Node is synced."
mdb_stop n1 60 || fail "clean shutdown"
if [ "$before" = 0 ]; then
  remove_pkg
  if [ ! -e "$LIB" ] && ! dpkg-query -W -f='${Status}' trireme 2>/dev/null | grep -q "ok installed"; then
    pass "apt-get purge trireme leaves nothing behind"
  else
    fail "after purge: $(ls -l "$LIB" 2>&1)"
  fi
else
  echo "trireme was installed before this test: left installed"
fi
finish
