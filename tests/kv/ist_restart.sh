#!/usr/bin/env bash
# tests/kv/ist_restart.sh: a restarted node joins by IST with its snapshot bypassed
# (replication.md §6). A bootstraps and writes; B joins by a kv table transfer, writes and
# stops cleanly, saving its table with its position (--keep-table); C joins and writes rows B
# misses; B starts again: its kv request carries its position, the donor's host is asked to
# bypass its table copy (sst_donate bypass 1), the gap comes by IST, and B ends with the same
# table as A and C.
# usage: ist_restart.sh TRIREME_KV PROVIDER_SO
set -u
KV=$1
PROVIDER=$2
. "$(dirname "$0")/kv_lib.sh" kv-ist-restart
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" "$2" | tail -1; }

BASE=$(free_ports 6) || fail "no free ports"
PA=$BASE PB=$((BASE + 2)) PC=$((BASE + 4))
opts() { echo "base_port=$1;gmcast.listen_addr=tcp://127.0.0.1:$1;ist.recv_addr=127.0.0.1:$(($1 + 1));gcache.size=16M;pc.wait_prim_timeout=PT10S"; }
common=(--provider "$PROVIDER" --threads 2 --keys 300 --value-size 32 --appliers 2 --checksum
        --sync-timeout 60 --sst-method kv)
# run NAME PORT ADDRESS OUT ARGS...: a node in the background, its PID in PIDS
run() {
    local name=$1 port=$2 url=$3 out=$4
    shift 4
    timeout 200 "$KV" "${common[@]}" --name "$name" --cluster-address "$url" --data-dir "$DIR/$name" \
        --address "127.0.0.1:$port" --options "$(opts "$port")" "$@" >"$DIR/$out.out" 2>"$DIR/$out.err" &
    PIDS+=($!)
}
# done_with OUT SECONDS: OUT's workload is over (it holds its connection now)
done_with() {
    local i
    for i in $(seq 1 $(($2 * 5))); do
        grep -q 'holding for' "$DIR/$1.err" 2>/dev/null && return 0
        sleep 0.2
    done
    fail "$1: its workload did not end within $2 s"
}

run A "$PA" gcomm:// A --ops 300 --hold 60
done_with A 60
run B "$PB" "gcomm://127.0.0.1:$PA" B1 --ops 200 --keep-table
wait "${PIDS[1]}" || fail "B's first run exited with $?"
[ "$(field errors "$DIR/B1.out")" = 0 ] || fail "B1: errors"
grep -q 'sst: received table' "$DIR/B1.err" || fail "B's first join was not a table transfer"
[ -s "$DIR/B/trireme-kv.table" ] || fail "B saved no table"
echo "ok B stopped cleanly at $(cat "$DIR/B/trireme-kv.pos") with its table saved"

run C "$PC" "gcomm://127.0.0.1:$PA" C --ops 300 --hold 30
done_with C 60
echo "ok C wrote rows B missed"

run B "$PB" "gcomm://127.0.0.1:$PA" B2 --ops 0 --keep-table
wait "${PIDS[3]}" || fail "B's second run exited with $?"
[ "$(field errors "$DIR/B2.out")" = 0 ] || fail "B2: errors"
grep -q 'loaded the table' "$DIR/B2.err" || fail "B2 did not load its table"
grep -q 'requested state transfer (SST with IST)' "$DIR/B2.err" || fail "B2's request had no IST part"
grep -q 'sst: received bypass (IST follows)' "$DIR/B2.err" || fail "B2 received no bypassed transfer"
grep -q 'the donor bypassed the snapshot' "$DIR/B2.err" || fail "B2: sst_received was not at its own position"
ist=$(grep -o 'Receiving IST: [0-9]* write-sets, seqnos [0-9-]*' "$DIR/B2.err" | head -n 1)
[ -n "$ist" ] || fail "B2: no 'Receiving IST' line"
grep -q 'sst_donate: .* bypass 1' "$DIR/A.err" "$DIR/C.err" || fail "no donor was asked to bypass"
echo "ok B rejoined by IST with the snapshot bypassed: $ist"
# A and C print their checksums when their holds end; nobody writes after C's workload
wait "${PIDS[0]}" || fail "A exited with $?"
wait "${PIDS[2]}" || fail "C exited with $?"
cb=$(field checksum "$DIR/B2.out") cc=$(field checksum "$DIR/C.out")
rb=$(field rows "$DIR/B2.out") rc=$(field rows "$DIR/C.out")
ca=$(field checksum "$DIR/A.out")
[ -n "$cb" ] && [ "$cb" = "$cc" ] && [ "$cb" = "$ca" ] && [ "$rb" = "$rc" ] ||
    fail "B after IST: checksum $cb rows $rb; C: checksum $cc rows $rc; A: checksum $ca"
echo "ok B's table equals A's and C's: checksum $cb, $rb rows"
OK=1
