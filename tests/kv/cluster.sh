#!/usr/bin/env bash
# tests/kv/cluster.sh: N trireme-kv processes (2 by default) form a cluster on loopback, the first
# bootstrapping and the others joining it by state transfer, write the same keys concurrently,
# meet at a TOI barrier and must end with equal checksums and last_committed there, and the same
# commit chain (a hash of every commit's seqno and write-set in commit order, carried over by the
# state transfer): the same commits in the same order, not only the same end state. Each node
# checks that its commit seqnos only grow.
# usage: cluster.sh TRIREME_KV PROVIDER_SO [OPS_PER_NODE [SST_METHOD [KEY_TYPE [NODES]]]]
# KV_VALUE_SIZE: bytes per value (32): past a group message (64 KiB) write-sets go in pieces.
# KEY_TYPE exclusive (default): conflicts end in certification failures; with 200 keys written
# from every node at once the provider must count some (wsrep_local_cert_failures). shared: rows
# never conflict in certification, so it must count none, and the appliers' BF aborts end in
# replay_trx() instead. Either way it never counts more than its clients saw (TRX_FAIL from
# certify or replay_trx; a BF abort before replication is one too, not counted by the provider).
# SST_METHOD kv (default) ships the table to the joiner; skip requests "trivial", which Galera 4
# answers without the cert-index preload its joiner then waits for (the joiner never syncs).
set -u
KV=$1
PROVIDER=$2
OPS=${3:-2000}
SST=${4:-kv}
KEYTYPE=${5:-exclusive}
NODES=${6:-2}

# Under a TSan build, reports from inside Galera's uninstrumented library are not ours.
case $(basename "$PROVIDER") in
libgalera*)
    SUPP=$(dirname "$0")/galera.tsan.supp
    export TSAN_OPTIONS="${TSAN_OPTIONS:-} suppressions=$SUPP"
    ;;
esac

DIR=$(mktemp -d "${TMPDIR:-/tmp}/kv-cluster.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT

# A port pair (base, base + 1 for IST) below the ephemeral range (32768 up on Linux), so that no
# outgoing connection takes either meanwhile, and apart from the pairs already handed out.
USED_PORTS=" "
free_port() {
    local p try
    for try in $(seq 1 200); do
        p=$((20000 + (RANDOM * 7 + $$ + try) % 12000))
        case "$USED_PORTS" in *" $p "* | *" $((p + 1)) "* | *" $((p - 1)) "*) continue ;; esac
        if ! (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/$((p + 1))) 2>/dev/null; then
            USED_PORTS="$USED_PORTS$p $((p + 1)) "
            FREE_PORT=$p
            return
        fi
    done
    FREE_PORT=0
}
fail() { echo "FAIL: $*"; for f in "$DIR"/*.err; do echo "--- $f"; grep -v 'P:INFO' "$f" | tail -25; done; exit 1; }
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" "$2" | tail -1; }

opts() { echo "base_port=$1;gmcast.listen_addr=tcp://127.0.0.1:$1;ist.recv_addr=127.0.0.1:$(($1 + 1));gcache.size=16M;pc.wait_prim_timeout=PT10S"; }
common=(--provider "$PROVIDER" --ops "$OPS" --threads 2 --keys 200 --value-size "${KV_VALUE_SIZE:-32}" --appliers 2
        --members "$NODES" --toi 3 --bf-abort --key-type "$KEYTYPE" --checksum --sync-timeout 60 --sst-method "$SST" --quiet)
# KV_EXTRA: more trireme-kv flags (later ones win), e.g. a benchmark's larger key space
# shellcheck disable=SC2206
common+=(${KV_EXTRA:-})

NAMES=""
P0=""
for i in $(seq 1 "$NODES"); do
    n=$(printf "\\x$(printf %x $((64 + i)))") # A, B, C, ...
    NAMES="$NAMES $n"
    free_port # not in a subshell: it notes the pair it hands out
    port=$FREE_PORT
    if [ -z "$P0" ]; then
        P0=$port
        url=gcomm://
    else
        url=gcomm://127.0.0.1:$P0
    fi
    timeout 300 "$KV" "${common[@]}" --name "$n" --cluster-address "$url" --data-dir "$DIR/$n" \
        --address "127.0.0.1:$port" --options "$(opts "$port")" >"$DIR/$n.out" 2>"$DIR/$n.err" &
    PIDS+=($!)
    sleep 1
done

rc=0
for p in "${PIDS[@]}"; do wait "$p" || rc=$?; done
PIDS=()
for n in $NAMES; do cat "$DIR/$n.out"; done
[ $rc -eq 0 ] || fail "a node exited with $rc"
for n in $NAMES; do
    [ "$(field errors "$DIR/$n.out")" = 0 ] || fail "$n: errors"
    [ "$(field ops "$DIR/$n.out")" = "$OPS" ] || fail "$n: committed ops != $OPS"
    [ "$(field max_cluster_size "$DIR/$n.out")" = "$NODES" ] || fail "$n: never saw a $NODES-member view"
    # the peers' first commits may reach a joiner inside the state transfer, not apply_cb
    [ "$(field applied "$DIR/$n.out")" -gt 0 ] || fail "$n: applied no remote write-set"
    [ "$(field order_errors "$DIR/$n.out")" = 0 ] || fail "$n: commits out of seqno order"
done
# The barrier checksum is taken inside the TOI that completes the barrier: the same seqno on
# every node, whatever each does afterwards (e.g. see the others leave).
ca=$(field barrier_checksum "$DIR/A.out"); la=$(field barrier_seqno "$DIR/A.out")
[ -n "$ca" ] || fail "A: no barrier checksum"
ka=$(field barrier_chain "$DIR/A.out")
[ -n "$ka" ] || fail "A: no commit chain at the barrier"
conf="" repl=0 cf=0 pcf=0 cfs=""
for n in $NAMES; do
    c=$(field barrier_checksum "$DIR/$n.out"); l=$(field barrier_seqno "$DIR/$n.out")
    [ "$c" = "$ca" ] || fail "checksums differ: A=$ca $n=$c"
    [ "$l" = "$la" ] || fail "barrier seqno differs: A=$la $n=$l"
    k=$(field barrier_chain "$DIR/$n.out")
    [ "$k" = "$ka" ] || fail "commit order differs (commit chain at the barrier): A=$ka $n=$k"
    conf="$conf $n=$(field conflicts "$DIR/$n.out")"
    repl=$((repl + $(field replays "$DIR/$n.out")))
    c=$(field cert_failures "$DIR/$n.out"); p=$(field provider_cert_failures "$DIR/$n.out")
    [ "$p" -ge 0 ] && [ "$p" -le "$c" ] ||
        fail "$n: the provider counts $p certification failures, its clients saw $c TRX_FAIL"
    cf=$((cf + c)) pcf=$((pcf + p)) cfs="$cfs $n=$p/$c"
done
if [ "$KEYTYPE" = shared ]; then
    [ "$repl" -gt 0 ] || fail "shared keys with BF aborts but no replay_trx() happened"
    [ "$pcf" = 0 ] || fail "$pcf certification failures with shared keys, which never conflict"
elif [ -z "${KV_EXTRA:-}" ]; then # the workload above, not a caller's larger key space
    [ "$pcf" -gt 0 ] || fail "no certification failure: $NODES nodes writing 200 keys at once must conflict"
    [ "$cf" -lt $((OPS * NODES)) ] || fail "$cf TRX_FAIL for $((OPS * NODES)) commits"
fi
echo "PASS: $NODES nodes, checksum $ca seqno $la commit chain $ka conflicts$conf" \
    "cert_failures (provider/clients)$cfs replays $repl"
