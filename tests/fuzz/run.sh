#!/usr/bin/env bash
# tests/fuzz/run.sh: runs every fuzz_* executable in DIR for SECONDS each (libFuzzer).
# Usage: run.sh DIR SECONDS. Corpora persist under /tmp/trireme-fuzz/<name>; exit 1 on any crash.
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 DIR SECONDS" >&2
    exit 2
fi
dir=$1
secs=$2
case $secs in
    ''|*[!0-9]*) echo "SECONDS must be a whole number" >&2; exit 2 ;;
esac
if [ ! -d "$dir" ]; then
    echo "no such directory: $dir" >&2
    exit 2
fi

corpus_root=${FUZZ_CORPUS_ROOT:-/tmp/trireme-fuzz}
found=0
failed=0
summary=()

for f in "$dir"/fuzz_*; do
    [ -f "$f" ] && [ -x "$f" ] || continue
    found=$((found + 1))
    name=$(basename "$f")
    corpus=$corpus_root/$name
    artifacts=$corpus_root/$name-artifacts
    log=$corpus_root/$name.log
    mkdir -p "$corpus" "$artifacts"
    # -rss_limit/-timeout catch hangs and leaks too; a non-zero exit is a finding.
    "$f" "$corpus" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
    if [ $rc -eq 0 ]; then
        summary+=("PASS $name: ${runs:-?} runs, cov ${cov:-?}, corpus $(ls "$corpus" | wc -l) inputs")
    else
        failed=$((failed + 1))
        crash=$(ls -t "$artifacts" 2>/dev/null | head -n1)
        summary+=("FAIL $name: exit $rc after ${runs:-?} runs; artifact ${crash:+$artifacts/$crash}; log $log")
        tail -n 30 "$log" >&2
    fi
done

if [ $found -eq 0 ]; then
    echo "no fuzz_* executables in $dir" >&2
    exit 2
fi
for line in "${summary[@]}"; do echo "$line"; done
echo "fuzz: $found fuzzer(s), $failed failed"
[ $failed -eq 0 ]
