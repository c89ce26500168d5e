# tests/process/proc_lib.sh: what the process tests share (sourced): a range of free ports on
# 127.0.0.1, and ending the processes a test started (by PID, from its PIDS array).
port_free() { ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

# free_ports COUNT: prints a base port with COUNT free ports from it; fails if none was found.
free_ports() {
    local n=$1 try cand i ok
    for try in $(seq 1 50); do
        # below 32768: the ephemeral range's ports can become the local end of any connection
        cand=$((20000 + (RANDOM * 7 + $$ + try) % 12000))
        ok=1
        for i in $(seq 0 $((n - 1))); do port_free $((cand + i)) || ok=0; done
        if [ $ok = 1 ]; then echo "$cand"; return 0; fi
    done
    return 1
}

# stop_pids: every PID in PIDS is resumed (it may be stopped), killed and reaped.
stop_pids() {
    local p
    for p in "${PIDS[@]}"; do
        [ -n "$p" ] || continue
        kill -CONT "$p" 2>/dev/null
        kill -9 "$p" 2>/dev/null
    done
    wait 2>/dev/null
}
