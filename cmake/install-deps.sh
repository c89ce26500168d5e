#!/usr/bin/env bash
# cmake/install-deps.sh: installs the Debian 12 packages trireme builds, tests and benchmarks with,
# only those that are missing. Needs root (or sudo) the first time; a no-op once all are present.
set -eu
PKGS="cmake make gcc clang pkg-config libmariadb-dev libgcrypt20-dev libzstd-dev libssl-dev openssl check
      mariadb-server mariadb-client mariadb-backup galera-4 sysbench rsync socat lsof procps iproute2 nftables valgrind
      jq curl
      libclang-rt-14-dev dpkg-dev file"
[ "${1:-}" = "--with-mtr" ] && PKGS="$PKGS mariadb-test"
[ "${1:-}" = "--with-haproxy" ] && PKGS="$PKGS haproxy"
# make test-tls: MariaDB's SSL tests, and tcpdump to show the IST port carries no plaintext rows
[ "${1:-}" = "--with-tls" ] && PKGS="$PKGS mariadb-test tcpdump"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d keeps Debian from starting the stock mariadb service on install: tests run their own servers.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends $missing
