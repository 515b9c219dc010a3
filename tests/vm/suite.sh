#!/bin/bash
# The VM test suite, run by `make vm-test` inside one VM boot (tests/vm/run.sh): the smoke
# test of the VM itself, then each GoogleTest binary given as an argument (the cgroups library
# against a real cgroup v2 kernel, ...). Every part runs even if an earlier one failed; the
# exit status is 0 only if all passed.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
if [ "${BERTH_IN_VM:-}" != 1 ]; then
  exec "$here/run.sh" --timeout "${BERTH_VM_TIMEOUT:-900}" -- "$here/suite.sh" "$@"
fi

failed=()
echo "== tests/vm/smoke.sh"
"$here/smoke.sh" || failed+=("smoke.sh")
for t in "$@"; do
  echo "== $t"
  if [ ! -x "$t" ]; then echo "missing test binary $t"; failed+=("$t"); continue; fi
  "$t" --gtest_brief=1 || failed+=("$t")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "vm suite: FAILED: ${failed[*]}"
  exit 1
fi
echo "vm suite: all passed"
