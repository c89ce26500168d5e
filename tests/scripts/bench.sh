#!/usr/bin/env bash
# tests/scripts/bench.sh: the benchmarks behind docs/benchmarks.md, each provider right after the
# other so that only ratios from one sitting are compared. Long; not part of make test.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TRIREME=$ROOT/build/lib/libtrireme.so
GALERA=${GALERA:-/usr/lib/galera/libgalera_smm.so}
ROUNDS=${BENCH_ROUNDS:-2}
SECONDS_RUN=${BENCH_SECONDS:-30}
CB=${CLUSTER_BENCH:-$ROOT/../shared/bin/cluster-bench}
# BENCH_PARTS: which parts run (default all): kv1 (trireme-kv, one node), one (sysbench, one
# node), three (sysbench, three nodes), kv3 (trireme-kv, three processes).
PARTS=" ${BENCH_PARTS:-kv1 one three kv3} "
part() { [[ "$PARTS" == *" $1 "* ]]; }

# mariadbd runs as the mysql user: give it a copy it can read.
lib=$(mktemp -d /tmp/trireme-bench.XXXXXX)
chmod 755 "$lib"
cp "$TRIREME" "$lib/libtrireme.so"
# BENCH_BEFORE=/path/to/an/older/libtrireme.so adds it to every round (before/after rows)
others=()
if [ -n "${BENCH_BEFORE:-}" ]; then
  cp "$BENCH_BEFORE" "$lib/libtrireme-before.so"
  others=("$lib/libtrireme-before.so")
fi
trap 'rm -rf "$lib"' EXIT
run=0

# One cluster-bench run: its result line, then the mariadbd processes' CPU time (user + system,
# all nodes) per transaction during the sysbench run, the figure that separates providers on 2 cores.
cb() {
  run=$((run + 1))
  local out="$lib/out.$run" line
  line=$("$CB" --outdir "$out" "$@" 2>&1 | tail -1)
  local cpu_ms
  cpu_ms=$(python3 -c 'import json,sys
r=json.load(open(sys.argv[1])); c=r["cpu_during_run"]
t=float(r.get("transactions") or 0)
print("%.3f" % (1000*c["mariadbd_cpu_s"]/t) if t else "n/a")' "$out/result.json" 2>/dev/null || echo n/a)
  echo "$line cpu_ms_per_trx=$cpu_ms"
  rm -rf "$out"
}

if part kv1; then
  echo "== trireme-kv, one node ($ROUNDS rounds)"
  bash "$ROOT/tests/kv/bench.sh" "$ROOT/build/bin/trireme-kv" "$ROUNDS" "$lib/libtrireme.so" "$GALERA"
fi

if [ -x "$CB" ]; then
  part one && for test in oltp_write_only oltp_update_index; do
    echo "== sysbench $test, one node, ${SECONDS_RUN}s, 4 threads, 4 tables x 10k rows ($ROUNDS rounds)"
    for r in $(seq 1 "$ROUNDS"); do
      for p in none "$GALERA" "${others[@]}" "$lib/libtrireme.so"; do
        out=$(cb --provider "$p" --nodes 1 --write-to one --test "$test" --threads 4 \
              --time "$SECONDS_RUN" --tables 4 --table-size 10000)
        echo "round=$r provider=$(basename "$p") $out"
      done
    done
  done
  # Three nodes: Galera 4 and trireme, writing to one node and to all; joiners by rsync SST.
  part three && for test in oltp_write_only oltp_update_index; do
    for to in one all; do
      echo "== sysbench $test, 3 nodes, write to $to, ${SECONDS_RUN}s, 4 threads, 4 tables x 10k rows ($ROUNDS rounds)"
      for r in $(seq 1 "$ROUNDS"); do
        for p in "$GALERA" "${others[@]}" "$lib/libtrireme.so"; do
          out=$(cb --provider "$p" --nodes 3 --write-to "$to" --test "$test" --threads 4 \
                --time "$SECONDS_RUN" --tables 4 --table-size 10000 --join rsync --slave-threads 4)
          echo "round=$r provider=$(basename "$p") $out"
        done
      done
    done
  done
else
  echo "cluster-bench not found at $CB: sysbench rows skipped"
fi

part kv3 || exit 0
echo "== trireme-kv, three processes on one machine ($ROUNDS rounds)"
for r in $(seq 1 "$ROUNDS"); do
  for p in "$GALERA" "$lib/libtrireme.so"; do
    echo "round=$r provider=$(basename "$p")"
    KV_EXTRA="--keys 100000 --value-size 100 --threads 4 --toi 0" \
      bash "$ROOT/tests/kv/cluster.sh" "$ROOT/build/bin/trireme-kv" "$p" "${KV_CLUSTER_OPS:-20000}" kv exclusive 3 |
      grep '^ops=' | sed 's/^/  /'
  done
done
