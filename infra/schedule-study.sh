#!/usr/bin/env bash
# The fused planner on the 12 configurations of the published study, one markdown row each:
#   bash infra/schedule-study.sh [SECONDS]      (60 s each by default, as in the README's table)
# Beside each row, FlexFusion's published plan for the same configuration (the traces in its repository's
# results/, github.com/FlexFusion/FlexFusion): its makespan and its peak memory, the lower of its plan's
# and of the plan its memory optimizer made from it where it published one.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
dotnet build "$root/Client" -c Release -nologo -v q -clp:ErrorsOnly >/dev/null
actors="$root/Client/bin/Release/net10.0/actors"
echo "| pp0 | pp1 | m0 | m1 | makespan | lower bound | gap | bubble rate | peak memory (max device) | FlexFusion's makespan | FlexFusion's peak | sequential 1F1B | speed-up | seconds |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
# pp0 pp1 m0 m1 f0 f1 mem0 mem1 flexfusion-makespan flexfusion-peak
while read -r pp0 pp1 m0 m1 f0 f1 mem0 mem1 published_makespan published_peak; do
  "$actors" schedule --pp0 "$pp0" --pp1 "$pp1" --m0 "$m0" --m1 "$m1" --f0 "$f0" --f1 "$f1" --mem0 "$mem0" --mem1 "$mem1" \
      --seconds "$seconds" --json |
    python3 -c '
import json, sys
r = json.load(sys.stdin)
pp0, pp1, m0, m1, published_makespan, published_peak = sys.argv[1:7]
makespan, bound, sequential = r["makespan"], r["lowerBound"], r["sequentialMakespan"]
bubble, peak, seconds = r["bubbleRate"], max(r["peakMemory"]), r["seconds"]
print(f"| {pp0} | {pp1} | {m0} | {m1} | {makespan:g} | {bound:g} | {makespan / bound - 1:.2%} | {bubble:.1%} | "
      f"{peak:.2f} | {published_makespan} | {published_peak} | {sequential:g} | {sequential / makespan:.3f}x | {seconds:.0f} |")
' "$pp0" "$pp1" "$m0" "$m1" "$published_makespan" "$published_peak"
done <<'ROWS'
8 4 8 4 5 4 1.95 2 225 15.60
8 4 16 8 5 4 1.95 2 372 15.75
8 4 32 16 5 4 1.95 2 708 19.70
8 8 8 8 5 2 1.95 1 225 15.60
8 8 16 16 5 2 1.95 1 366 18.55
8 8 32 32 5 2 1.95 1 702 20.50
16 8 16 8 2 2 1.64 2 186 26.24
16 8 32 16 2 2 1.64 2 330 29.88
16 8 64 32 2 2 1.64 2 618 39.72
16 16 16 16 2 1 1.64 1 186 26.24
16 16 32 32 2 1 1.64 1 318 32.16
16 16 64 64 2 1 1.64 1 613 38.72
ROWS
