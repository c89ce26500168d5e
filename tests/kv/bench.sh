#!/usr/bin/env bash
# tests/kv/bench.sh: provider-level benchmark: the same trireme-kv workload on one bootstrapped
# node, alternating providers round by round so machine noise hits both alike. Not a ctest.
# usage: bench.sh TRIREME_KV ROUNDS PROVIDER_SO... (extra workload flags via KV_BENCH_FLAGS)
set -u
KV=$1
ROUNDS=$2
shift 2
FLAGS=${KV_BENCH_FLAGS:---ops 20000 --threads 4 --keys 100000 --value-size 100}
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
for r in $(seq 1 "$ROUNDS"); do
    for p in "$@"; do
        dir=$(mktemp -d "${TMPDIR:-/tmp}/kv-bench.XXXXXX")
        port=$(free_port)
        # shellcheck disable=SC2086
        line=$(timeout 600 "$KV" --provider "$p" --cluster-address gcomm:// --data-dir "$dir" \
            --address "127.0.0.1:$port" --quiet \
            --options "base_port=$port;gmcast.listen_addr=tcp://127.0.0.1:$port;gcache.size=256M" \
            $FLAGS 2>"$dir/err" | grep '^ops=')
        echo "round=$r provider=$(basename "$p") $line"
        rm -rf "$dir"
    done
done
