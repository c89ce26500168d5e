# tests/process/group_lib.sh: what the TLS, flood and IPv6 process tests share (sourced after
# proc_lib.sh): a work directory cleaned up on exit, starting trireme-gcomm-node i on
# HOST:BASE+i, and waiting for views and deliveries. The caller sets BIN, HOST (127.0.0.1 or ::1)
# and BASE, and calls group_init first.

group_init() { # group_init NAME: WORK, the PIDS array, and the cleanup when the script exits
    WORK=$(mktemp -d "/tmp/trireme-$1.XXXXXX")
    FAILED=0
    declare -ga PIDS
    trap group_cleanup EXIT
}

group_cleanup() { # every process the test started ends; logs are kept when it failed
    stop_pids
    if [ "$FAILED" = 0 ]; then rm -rf "$WORK"; else echo "logs kept in $WORK"; fi
}

fail() { # fail MESSAGE: what each node last saw, then exit 1
    local f
    echo "FAIL: $*"
    FAILED=1
    for f in "$WORK"/[0-9]*.err; do
        [ -f "$f" ] || continue
        echo "--- node $(basename "$f" .err)"
        grep VIEW "${f%.err}.out" | tail -3
        grep -v "primary=" "$f" | tail -8
    done
    cat "$WORK"/flood*.out 2>/dev/null
    exit 1
}

log() { echo "[$(date +%T)] $*"; }

hostport() { # hostport PORT: HOST:PORT, IPv6 in brackets
    case $HOST in *:*) echo "[$HOST]:$1" ;; *) echo "$HOST:$1" ;; esac
}

# start_node i "gcomm://..." [trireme-gcomm-node options...]: output in $WORK/i.out and i.err
start_node() {
    local i=$1 addr=$2
    shift 2
    mkdir -p "$WORK/d$i"
    "$BIN" --name "n$i" --listen "tcp://$(hostport $((BASE + i)))" --address "$addr" --data-dir "$WORK/d$i" \
        "$@" >>"$WORK/$i.out" 2>>"$WORK/$i.err" &
    PIDS[$i]=$!
}

stop_node() { # stop_node i: kill -9 and reap
    kill -9 "${PIDS[$1]}" 2>/dev/null
    wait "${PIDS[$1]}" 2>/dev/null
    PIDS[$1]=""
}

last_view() { grep VIEW "$WORK/$1.out" 2>/dev/null | tail -1; }
views() { grep -c VIEW "$WORK/$1.out" 2>/dev/null || echo 0; }
msgs() { grep -c '^MSG' "$WORK/$1.out" 2>/dev/null || echo 0; }

# wait_views "nodes" members seconds: each node's last view is primary with that many members,
# by the wall clock (a loaded machine slows the loop, not the deadline)
wait_views() {
    local nodes=$1 want=$2 until=$(($(date +%s%N) + $3 * 1000000000)) i ok
    while :; do
        ok=1
        for i in $nodes; do
            set -- $(last_view "$i")
            [ "${3:-}" = PRIM ] && [ "${4:-}" = "$want" ] || ok=0
        done
        [ $ok = 1 ] && return 0
        [ "$(date +%s%N)" -lt "$until" ] || return 1
        sleep 0.1
    done
}

delivering() { # delivering "nodes": every node delivers new messages within 3 s
    local i before t
    for i in $1; do
        before=$(msgs "$i")
        t=0
        while [ "$(msgs "$i")" -le "$before" ]; do
            sleep 0.1
            t=$((t + 1))
            [ $t -lt 30 ] || return 1
        done
    done
}

agree() { # agree: every (history, seqno) delivered is the same message on every node
    cat "$WORK"/[0-9]*.out | awk '$1=="MSG"{k=$2" "$3; if ((k in m) && m[k]!=$5) {print "order mismatch at", k; bad=1} m[k]=$5}
        END{printf "%d distinct seqnos agree\n", length(m); exit bad}'
}

finish() { # finish "nodes": SIGTERM (a graceful leave), each must exit 0; the delivery logs agree
    local i rc
    for i in $1; do kill -TERM "${PIDS[$i]}"; done
    for i in $1; do
        wait "${PIDS[$i]}"
        rc=$?
        PIDS[$i]=""
        [ "$rc" = 0 ] || fail "node $i exited with status $rc after SIGTERM"
    done
    agree || fail "delivery logs disagree"
}
