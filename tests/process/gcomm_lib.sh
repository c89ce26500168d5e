# tests/process/gcomm_lib.sh: what the tests of trireme-gcomm-node groups share (sourced after
# proc_lib.sh, with BIN, N and a work directory name set): starting nodes, reading their VIEW and
# MSG lines, leaders and delivery gaps. Cleans up on exit (only the processes it started).
WORK=$(mktemp -d "/tmp/trireme-${WORK_NAME:-gcomm}.XXXXXX")
FAILED=0
declare -a PIDS UUIDS
declare -a NODE_EXTRA    # per node: more trireme-gcomm-node options
NODE_LOAD=(--rate 200 --size 300)
NODE_HOST=${NODE_HOST:-127.0.0.1}

gcomm_cleanup() {
    stop_pids
    [ -n "$(type -t test_cleanup)" ] && test_cleanup
    if [ "$FAILED" = 0 ]; then rm -rf "$WORK"; else echo "logs kept in $WORK"; fi
}
trap gcomm_cleanup EXIT
fail() { echo "FAIL: $*"; FAILED=1; exit 1; }
log() { echo "[$(date +%T)] $*"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

node_addr() { echo "${NODE_ADDRS[$1]:-$NODE_HOST}:$((BASE + $1))"; } # where node i listens

start() { # start i [bootstrap]: NODE_LOAD plus NODE_EXTRA[i]; NODE_CMD[i] may prefix the command
    local i=$1 addr s="" j
    for j in $(seq 0 $((N - 1))); do [ "$j" = "$i" ] || s="$s${s:+,}$(node_addr "$j")"; done
    if [ "${2:-}" = bootstrap ]; then addr="gcomm://"; else addr="gcomm://$s"; fi
    mkdir -p "$WORK/d$i"
    : >"$WORK/$i.err"
    ${NODE_CMD[$i]:-} "$BIN" --name "n$i" --listen "tcp://$(node_addr "$i")" --address "$addr" \
        --data-dir "$WORK/d$i" "${NODE_LOAD[@]}" ${NODE_EXTRA[$i]:-} >>"$WORK/$i.out" 2>>"$WORK/$i.err" &
    PIDS[$i]=$!
    local t=0
    until grep -q " uuid " "$WORK/$i.err"; do
        sleep 0.05; t=$((t + 1)); [ $t -lt 100 ] || fail "node $i did not start"
    done
    UUIDS[$i]=$(sed -n 's/.* uuid \([0-9a-f-]*\) .*/\1/p' "$WORK/$i.err" | tail -1)
}

prim_of() { # prim_of i members: node i's last view is primary with that many members
    grep '^VIEW' "$WORK/$1.out" 2>/dev/null | tail -1 | awk -v m="$2" '{ok = $3 == "PRIM" && $4 == m} END {exit !ok}'
}
wait_views() { # wait_views "nodes" members seconds
    local t=0 i ok
    while [ $t -lt $(($3 * 10)) ]; do
        ok=1
        for i in $1; do prim_of "$i" "$2" || ok=0; done
        [ $ok = 1 ] && return 0
        sleep 0.1; t=$((t + 1))
    done
    return 1
}
view_counts() { local i c=""; for i in $(seq 0 $((N - 1))); do c="$c $(grep -c '^VIEW' "$WORK/$i.out")"; done; echo "$c"; }

leader() { # the member that orders, as the last views of "nodes" name it (not always the lowest
    # uuid: a leader that re-forms its view to take a restarted node back keeps the role)
    local i l="" v
    for i in $1; do
        v=$(grep '^VIEW' "$WORK/$i.out" | tail -1 | awk '{print $8}')
        [ -z "$l" ] || [ "$v" = "$l" ] || return 1
        l=$v
    done
    for i in $1; do [ "${UUIDS[$i]: -8}" = "$l" ] && echo "$i" && return 0; done
    return 1
}

longest_gap() { # longest_gap i from_ms to_ms: longest time without a delivery at node i
    awk -v a="$2" -v b="$3" '$1 == "MSG" && $6 >= a && $6 <= b {
        if (p) { d = $6 - p; if (d > g) g = d } p = $6 } END { printf "%.0f\n", g }' "$WORK/$1.out"
}

logs_agree() { # every (history, seqno) is the same message at every node, none delivered twice
    local i dups
    cat "$WORK"/[0-9]*.out | awk '$1=="MSG"{k=$2" "$3; if ((k in m) && m[k]!=$5) {print "order mismatch at", k; bad=1} m[k]=$5}
        END{printf "%d distinct seqnos agree\n", length(m); exit bad}' || return 1
    for i in $(seq 0 $((N - 1))); do
        dups=$(awk '$1=="MSG"{print $2, $3}' "$WORK/$i.out" | sort | uniq -d | head -1)
        [ -z "$dups" ] || { echo "node $i delivered $dups twice"; return 1; }
    done
}

finish_checked() { # finish_checked "nodes": SIGTERM (a graceful leave), each exits 0, no sanitizer report, logs agree
    local i rc
    for i in $1; do kill -TERM "${PIDS[$i]}"; done
    for i in $1; do
        wait "${PIDS[$i]}"; rc=$?; PIDS[$i]=""
        [ "$rc" = 0 ] || fail "node $i exited with status $rc after SIGTERM"
    done
    grep -l "ERROR: .*Sanitizer\|WARNING: ThreadSanitizer" "$WORK"/*.err && fail "sanitizer report"
    logs_agree || fail "the nodes' logs disagree"
}
