#!/usr/bin/env bash
# tests/bench/ist_tls_bench.sh: IST transfer rate with and without TLS, trireme-kv processes on
# loopback (no MariaDB): the time the joiner's receiver takes for the stream, from its own
# "IST received: N actions (a..b), X MB in Y s" line. Not a test: ctest never runs it.
# Usage: ist_tls_bench.sh TRIREME_KV PROVIDER_SO [GAP [VALUE_SIZE [MODES]]]
#   (defaults 100000 write-sets of one 1000-byte row each; MODES "plain tls").
# A bootstraps; B joins, stops cleanly with its table; C joins and writes GAP rows B misses; B
# starts again and gets them by IST from A or C. One line per mode:
#   ist_tls_bench MODE GAP ACTIONS MB SECONDS MB/s
set -u
KV=${1:?usage: ist_tls_bench.sh TRIREME_KV PROVIDER_SO [GAP [VALUE_SIZE [MODES]]]}
PROVIDER=${2:?usage: ist_tls_bench.sh TRIREME_KV PROVIDER_SO [GAP [VALUE_SIZE [MODES]]]}
GAP=${3:-100000}
VSIZE=${4:-1000}
MODES=${5:-plain tls}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../kv/kv_lib.sh
. "$HERE/../kv/kv_lib.sh" ist-tls-bench
bash "$HERE/../scripts/make-pki.sh" "$DIR/pki" A B C >/dev/null || fail "the PKI (openssl)"

RUN=0
run_mode() { # MODE
    local mode=$1 base tls="" line dir
    RUN=$((RUN + 1))
    dir=$DIR/$RUN-$mode
    base=$(free_ports 6) || fail "no free ports"
    local PA=$base PB=$((base + 2)) PC=$((base + 4))
    opts() { # PORT NAME
        [ "$mode" = tls ] && tls=";socket.ssl_cert=$DIR/pki/$2.pem;socket.ssl_key=$DIR/pki/$2.key;socket.ssl_ca=$DIR/pki/ca.pem"
        echo "base_port=$1;gmcast.listen_addr=tcp://127.0.0.1:$1;ist.recv_addr=127.0.0.1:$(($1 + 1));gcache.size=512M;pc.wait_prim_timeout=PT10S$tls"
    }
    run() { # NAME PORT URL OUT ARGS...
        local name=$1 port=$2 url=$3 out=$4
        shift 4
        "$KV" --provider "$PROVIDER" --threads 2 --keys "$GAP" --value-size "$VSIZE" --appliers 2 \
            --sync-timeout 600 --sst-method kv --name "$name" --cluster-address "$url" \
            --data-dir "$dir/$name" --address "127.0.0.1:$port" --options "$(opts "$port" "$name")" "$@" \
            >"$dir/$out.out" 2>"$dir/$out.err" &
        PIDS+=($!)
    }
    wait_line() { # OUT TEXT SECONDS
        local _
        for _ in $(seq 1 $(($3 * 5))); do grep -q "$2" "$dir/$1.err" 2>/dev/null && return 0; sleep 0.2; done
        fail "$mode-$1: no '$2' within $3 s"
    }
    mkdir -p "$dir"
    PIDS=()
    run A "$PA" gcomm:// A --ops 10 --hold 600
    wait_line A 'holding for' 60
    run B "$PB" "gcomm://127.0.0.1:$PA" B1 --ops 10 --keep-table
    wait "${PIDS[1]}" || fail "$mode: B's first run exited with $?"
    run C "$PC" "gcomm://127.0.0.1:$PA" C --ops "$GAP" --hold 600
    wait_line C 'holding for' 600
    run B "$PB" "gcomm://127.0.0.1:$PA" B2 --ops 0 --keep-table
    wait "${PIDS[3]}" || fail "$mode: B's second run exited with $?"
    line=$(grep -o 'IST received: [0-9]* actions ([0-9.]*), [0-9.]* MB in [0-9.]* s' "$dir/B2.err" | tail -1)
    [ -n "$line" ] || fail "$mode: B2 logged no 'IST received' line"
    if [ "$mode" = tls ]; then
        grep -q 'IST: the stream comes from 127.0.0.1 over TLS' "$dir/B2.err" || fail "tls: the stream was not TLS"
    fi
    echo "$line" | awk -v m="$mode" -v g="$GAP" '{ n = $3; mb = $6; s = $9;
        printf "ist_tls_bench %s %d %d %.1f %.3f %.1f\n", m, g, n, mb, s, (s > 0 ? mb / s : 0) }'
    stop_pids
}

for m in $MODES; do run_mode "$m"; done
# shellcheck disable=SC2034 # read by kv_lib.sh's EXIT trap: the work directory goes
OK=1
