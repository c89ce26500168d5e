#!/usr/bin/env bash
# tests/bench/tls_bench.sh: three MariaDB nodes with TLS on the cluster port and without, trireme
# and Galera 4 in one sitting (issue 18's performance rows). Not part of make test.
# Usage: tls_bench.sh [ROUNDS] [TRIREME_SO] [GALERA_SO]. Each run: ../shared/bin/cluster-bench, 3
# nodes, oltp_write_only, writing to all, 4 threads, BENCH_SECONDS (30) s, 4 tables x 10k rows;
# prints TPS and the mariadbd processes' CPU time per transaction. The certificates come from
# tests/scripts/make-pki.sh (a root CA, an intermediate, one leaf per node), the same files for
# both providers: socket.ssl_cert, socket.ssl_key and socket.ssl_ca in wsrep_provider_options.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ROUNDS=${1:-2}
TRIREME=${2:-$ROOT/build/lib/libtrireme.so}
GALERA=${3:-/usr/lib/galera/libgalera_smm.so}
SECONDS_RUN=${BENCH_SECONDS:-30}
CB=${CLUSTER_BENCH:-$ROOT/../shared/bin/cluster-bench}
[ -x "$CB" ] || { echo "tls_bench: $CB not found" >&2; exit 2; }

# mariadbd runs as the mysql user: a copy of the library and the keys it can read.
work=$(mktemp -d /tmp/trireme-tlsbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cp "$TRIREME" "$work/libtrireme.so"
bash "$ROOT/tests/scripts/make-pki.sh" "$work/pki" n1 n2 n3 >/dev/null || { echo "tls_bench: make-pki failed" >&2; exit 1; }
chmod 755 "$work/pki"
if [ "$(id -u)" = 0 ]; then chown -R mysql: "$work/pki"; fi
# cluster-bench numbers nodes from 1 ({NODE}); make-pki.sh named the leaves n1..n3
base='gmcast.listen_addr=tcp://127.0.0.1:{GCOMM};ist.recv_addr=127.0.0.1:{IST};gcache.size=128M'
tls="$base;socket.ssl_cert=$work/pki/n{NODE}.pem;socket.ssl_key=$work/pki/n{NODE}.key;socket.ssl_ca=$work/pki/ca.pem"

run=0
cb() { # OPTIONS PROVIDER: one run's result line and CPU per transaction
  run=$((run + 1))
  local out="$work/out.$run" line cpu
  line=$("$CB" --outdir "$out" --provider "$2" --provider-options "$1" --nodes 3 --write-to all \
    --test oltp_write_only --threads 4 --time "$SECONDS_RUN" --tables 4 --table-size 10000 \
    --join rsync 2>&1 | tail -1)
  cpu=$(python3 -c 'import json,sys
r=json.load(open(sys.argv[1])); c=r["cpu_during_run"]
t=float(r.get("transactions") or 0)
print("%.3f" % (1000*c["mariadbd_cpu_s"]/t) if t else "n/a")' "$out/result.json" 2>/dev/null || echo n/a)
  echo "$line cpu_ms_per_trx=$cpu"
  rm -rf "$out"
}

echo "== 3 nodes, oltp_write_only, write to all, ${SECONDS_RUN}s, 4 threads ($ROUNDS rounds; load $(cut -d' ' -f1-3 /proc/loadavg))"
for r in $(seq 1 "$ROUNDS"); do
  for p in "$GALERA" "$work/libtrireme.so"; do
    for mode in off on; do
      opts=$base
      [ "$mode" = on ] && opts=$tls
      echo "round=$r provider=$(basename "$p") tls=$mode $(cb "$opts" "$p")"
    done
  done
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
