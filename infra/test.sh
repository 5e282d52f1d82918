#!/usr/bin/env bash
# Runs every test of the solution, after its own set-up, and ends with one line "N passed, N failed"
# (", N skipped" when some were), computed from the test results. Exits non-zero on any failure.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash infra/setup.sh || exit 1
dotnet build Actors.sln -c Release -nologo -v q -clp:ErrorsOnly || exit 1

results="$root/artifacts/test-results"
rm -rf "$results"
status=0
# One project at a time, each into its own folder, so no two result files can collide.
for project in tests/*/*.Tests.csproj; do
  name=$(basename "$project" .csproj)
  dotnet test "$project" -c Release --no-build -nologo --logger trx --results-directory "$results/$name" "$@" || status=$?
done

python3 - "$results" "$status" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
passed = failed = skipped = 0
for trx in glob.glob(f"{sys.argv[1]}/*/*.trx"):
    c = ET.parse(trx).getroot().find("t:ResultSummary/t:Counters", ns).attrib
    passed += int(c["passed"])
    failed += sum(int(c.get(k, 0)) for k in ("failed", "error", "timeout", "aborted"))
    skipped += int(c["total"]) - int(c["executed"])
if int(sys.argv[2]) != 0 and failed == 0:
    print(f"the test run failed outside any single test (exit code {sys.argv[2]})")
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
exit $status
