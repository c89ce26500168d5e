# tests/process/group_lib.sh: what the TLS, flood and IPv6 process tests share (sourced after
# proc_lib.sh): starting trireme-gcomm-node i on HOST:BASE+i, and waiting for views and deliveries.
# The caller sets BIN, WORK, HOST (127.0.0.1 or ::1), BASE and the PIDS array.

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

wait_views() { # wait_views "nodes" members seconds: each node's last view is primary with that many
    local nodes=$1 want=$2 tenths=$(($3 * 10)) t=0 i ok
    while [ "$t" -lt "$tenths" ]; do
        ok=1
        for i in $nodes; do
            set -- $(last_view "$i")
            [ "${3:-}" = PRIM ] && [ "${4:-}" = "$want" ] || ok=0
        done
        [ $ok = 1 ] && return 0
        sleep 0.1
        t=$((t + 1))
    done
    return 1
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
