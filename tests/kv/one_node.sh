#!/usr/bin/env bash
# tests/kv/one_node.sh: one trireme-kv node on a provider (bootstrap, api-check, workload, TOI,
# checksum), then a restart from the saved position; checks the result lines, not just exit codes.
# usage: one_node.sh TRIREME_KV PROVIDER_SO [OPS]
set -u
KV=$1
PROVIDER=$2
OPS=${3:-3000}
TOI=5

# Under a TSan build, reports from inside Galera's uninstrumented library are not ours.
case $(basename "$PROVIDER") in
libgalera*)
    SUPP=$(dirname "$0")/galera.tsan.supp
    export TSAN_OPTIONS="${TSAN_OPTIONS:-} suppressions=$SUPP"
    ;;
esac

DIR=$(mktemp -d "${TMPDIR:-/tmp}/kv-one-node.XXXXXX")
trap 'rm -rf "$DIR"' EXIT

# A free loopback port: bind port 0 and read back what the kernel chose.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + RANDOM % 20000))
}

fail() { echo "FAIL: $*"; exit 1; }

field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" "$2" | tail -1; }

run() { # run NAME OPS EXTRA...: one node bootstrapping a single-member cluster in $DIR/data
    local name=$1 ops=$2; shift 2
    local port; port=$(free_port)
    local opts="base_port=$port;gmcast.listen_addr=tcp://127.0.0.1:$port;gcache.size=16M"
    opts="$opts;ist.recv_addr=127.0.0.1:$((port + 1));pc.wait_prim_timeout=PT10S"
    echo "+ trireme-kv --provider $PROVIDER --address 127.0.0.1:$port --ops $ops $*"
    timeout 300 "$KV" --provider "$PROVIDER" --cluster-address gcomm:// --name kv1 \
        --data-dir "$DIR/data" --address "127.0.0.1:$port" --options "$opts" \
        --ops "$ops" --threads 4 --keys 100000 --value-size 64 --sync-timeout 60 --quiet "$@" \
        >"$DIR/$name.out" 2>"$DIR/$name.err"
    local rc=$?
    grep -v -e '^options=' -e '^api\.' "$DIR/$name.out"
    grep -E 'FAIL|ERROR|FATAL' "$DIR/$name.err" | head -20
    [ $rc -eq 0 ] || { tail -40 "$DIR/$name.err"; fail "$name: exit code $rc"; }
    grep -q "^ops=" "$DIR/$name.out" || fail "$name: no result line"
    [ "$(field errors "$DIR/$name.out")" = 0 ] || fail "$name: errors"
    [ "$(field completed "$DIR/$name.out")" = 1 ] || fail "$name: not completed"
    [ "$(field ops "$DIR/$name.out")" = "$ops" ] || fail "$name: committed ops != $ops"
    [ "$(field cluster_size "$DIR/$name.out")" = 1 ] || fail "$name: cluster size != 1"
    # alone in the cluster nothing can conflict: Galera certifies local write-sets only
    # against other nodes' (and TOI), so any TRX_FAIL here is a provider bug
    [ "$(field conflicts "$DIR/$name.out")" = 0 ] ||
        fail "$name: $(field conflicts "$DIR/$name.out") certification failures on a one-node cluster"
    [ "$(field provider_cert_failures "$DIR/$name.out")" = 0 ] ||
        fail "$name: the provider counts $(field provider_cert_failures "$DIR/$name.out") certification failures"
    # every commit in seqno order: the workload's and the TOI actions', nothing else
    [ "$(field order_errors "$DIR/$name.out")" = 0 ] || fail "$name: commits out of seqno order"
    [ "$(field commits "$DIR/$name.out")" = $((ops + ${TOIS:-0})) ] ||
        fail "$name: $(field commits "$DIR/$name.out") commits, want $ops + ${TOIS:-0} TOI"
}

# 1. fresh node: everything once
TOIS=$TOI run first "$OPS" --api-check --toi "$TOI" --checksum --stats
grep -q '^api_check=ok' "$DIR/first.out" || fail "first: api-check failed"
grep -q '^checksum=' "$DIR/first.out" || fail "first: no checksum"
last1=$(field last_committed "$DIR/first.out")
# one seqno per commit and per TOI, plus at least the bootstrap view
[ "$last1" -ge $((OPS + TOI + 1)) ] || fail "first: last_committed $last1 < $((OPS + TOI + 1))"
[ -s "$DIR/data/trireme-kv.pos" ] || fail "first: no saved position"
pos1=$(cat "$DIR/data/trireme-kv.pos")
[ "${pos1##*:}" = "$last1" ] || fail "first: saved position $pos1 != last_committed $last1"

# 2. restart from the saved position, several appliers, causal reads, UPDATE keys
TOIS=2 run second 500 --appliers 3 --sync-wait --key-type update --toi 2 --checksum
last2=$(field last_committed "$DIR/second.out")
[ "$last2" -ge $((last1 + 500 + 2)) ] || fail "restart: last_committed $last2 did not continue from $last1"
pos2=$(cat "$DIR/data/trireme-kv.pos")
[ "${pos2%%:*}" = "${pos1%%:*}" ] || fail "restart: cluster uuid changed ${pos1%%:*} -> ${pos2%%:*}"
echo "PASS: last_committed $last1 then $last2"
