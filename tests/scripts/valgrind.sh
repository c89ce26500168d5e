#!/usr/bin/env bash
# tests/scripts/valgrind.sh: every Check unit test under valgrind memcheck, in-process (CK_FORK=no)
# so leaks and invalid accesses in the code under test are seen. Usage: valgrind.sh BUILD_DIR
set -u
build=${1:-build}
export TRIREME_PROVIDER="$(cd "$build" && pwd)/lib/libtrireme.so" CK_FORK=no
pass=0 fail=0
for t in "$build"/tests/check_*; do
  [ -x "$t" ] || continue
  log=$(mktemp)
  if valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
       --show-leak-kinds=definite,indirect "$t" >"$log" 2>&1; then
    pass=$((pass + 1)); echo "PASS $(basename "$t")"
  else
    fail=$((fail + 1)); echo "FAIL $(basename "$t")"; grep -v '^\[' "$log" | tail -40
  fi
  rm -f "$log"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
