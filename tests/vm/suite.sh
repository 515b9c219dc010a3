#!/bin/bash
# The VM test suite, run by `make vm-test` inside one VM boot (tests/vm/run.sh): the smoke
# test of the VM itself, then each GoogleTest binary given as an argument (the cgroups library
# against a real cgroup v2 kernel, ...). Every part runs even if an earlier one failed; the
# exit status is 0 only if all passed, and a binary that skipped a test or ran none failed.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
if [ "${BERTH_IN_VM:-}" != 1 ]; then
  exec "$here/run.sh" --timeout "${BERTH_VM_TIMEOUT:-900}" -- "$here/suite.sh" "$@"
fi

# A GoogleTest binary passes only if it exits 0 and its XML report shows tests that ran and
# none skipped or disabled: in the VM every test must run (tests/vm/fail_on_skip.cpp makes a
# skip a failure too; this also catches a binary, a filter or a fixture that ran nothing).
check_report() {  # check_report XML
  local xml=$1 ran skipped disabled
  [ -s "$xml" ] || { echo "no test report $xml"; return 1; }
  ran=$(grep -c '<testcase .*status="run" result="completed"' "$xml")
  skipped=$(grep -c '<testcase .*result="skipped"' "$xml")
  disabled=$(sed -n 's/^<testsuites .* disabled="\([0-9]*\)".*/\1/p' "$xml")
  echo "report: $ran ran, $skipped skipped, ${disabled:-?} disabled"
  [ "$ran" -gt 0 ] && [ "$skipped" -eq 0 ] && [ "${disabled:-1}" -eq 0 ]
}

# run_bounded SECS COMMAND...: COMMAND's exit status; one still running after SECS gets its
# diagnostics printed (tests/vm/diagnose.sh) and is killed with its process group, status 124,
# so one hung part fails by name and the parts after it still run.
run_bounded() {
  local secs=$1 pid ticks=0; shift
  setsid "$@" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$ticks" -ge $((secs * 5)) ]; then
      echo "vm suite: $1 still runs after ${secs}s"
      "$here/diagnose.sh" "$pid"
      kill -KILL -- "-$pid" 2>/dev/null
      return 124
    fi
    sleep 0.2
    ticks=$((ticks + 1))
  done
  wait "$pid"
}

reports=$(mktemp -d /tmp/berth-vm-suite.XXXXXX)
failed=()
echo "== tests/vm/smoke.sh"
run_bounded 240 "$here/smoke.sh" || failed+=("smoke.sh")
for t in "$@"; do
  echo "== $t"
  if [ ! -x "$t" ]; then echo "missing test binary $t"; failed+=("$t"); continue; fi
  xml="$reports/$(basename "$t").xml"
  if run_bounded 480 "$t" --gtest_brief=1 --gtest_output="xml:$xml"; then
    check_report "$xml" || failed+=("$t (ran nothing, or skipped)")
  else
    check_report "$xml"
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "vm suite: FAILED: ${failed[*]}"
  exit 1
fi
echo "vm suite: all passed"
