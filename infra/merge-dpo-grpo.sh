#!/usr/bin/env bash
# Merging the DPO model and the GRPO model of the arithmetic task 50/50 (issue 18's merge table): runs
# infra/dpo-arithmetic.sh (a GRPO job, pairs from its samples, a DPO job; both from the same warm start), merges
# the two jobs' last weights with `actors merge --weights 0.5,0.5`, then measures the GRPO model, the DPO model and
# the merge the same way: a one-step DPO job per model that starts from it (rl.initialWeights) against the warm
# start as its reference (dpo.reference); its iteration 0 is the model as it came: held-out greedy accuracy on
# the task (500 questions) and held-out preference accuracy on the DPO job's 64 held-out pairs.
#
# usage: [PAIRS_OPTIONS=--every] infra/merge-dpo-grpo.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash infra/dpo-arithmetic.sh
actors() { dotnet Client/bin/Release/net10.0/actors.dll "$@"; }

dotnet Silo/bin/Release/net10.0/Silo.dll --Silo:Devices cpu:0-3 --Tls:Mode Off --Checkpoints:Directory runs/dpo-arithmetic/checkpoints \
  --Clustering:SiloPort 11412 --Clustering:PrimarySiloPort 11412 --Clustering:GatewayPort 30412 > runs/dpo-arithmetic/merge-silo.log 2>&1 &
silo=$!
trap 'kill $silo 2>/dev/null || true; wait $silo 2>/dev/null || true' EXIT INT TERM
cluster=(--gateway-port 30412 --tls Off)

grpo=jobs/grpo-arithmetic-pairs/weights/actor-000030.safetensors
dpo=jobs/dpo-arithmetic/weights/actor-000080.safetensors
actors merge "$grpo" "$dpo" --weights 0.5,0.5 --out models/merged-dpo-grpo.safetensors "${cluster[@]}"
for model in grpo:$grpo dpo:$dpo merged:models/merged-dpo-grpo.safetensors; do
  name=eval-${model%%:*}
  python3 - "$name" "${model#*:}" > "runs/dpo-arithmetic/$name.json" <<'PY'
import json, sys
job = json.load(open("infra/jobs/dpo-arithmetic.json"))
job["name"], job["iterations"] = sys.argv[1], 1
job["rl"].update(sftSteps=0, initialWeights=sys.argv[2], evalEvery=1, checkpointEvery=0)
job["dpo"]["reference"] = "jobs/dpo-arithmetic/weights/reference.safetensors"
print(json.dumps(job, indent=2))
PY
  actors submit "runs/dpo-arithmetic/$name.json" "${cluster[@]}"
  actors watch "$name" --metrics "runs/$name/metrics.jsonl" "${cluster[@]}"
done
python3 - <<'PY'
import json
rows = {}
for model in ("grpo", "dpo", "merged"):
    first = json.loads(open(f"runs/eval-{model}/metrics.jsonl").readline())
    rows[model] = (first["heldOutAccuracy"], first["preference"]["heldOutAccuracy"])
print("| model | held-out greedy accuracy (500 questions) | held-out pairs ranked right (64) |")
print("|---|---|---|")
for model, (greedy, pairs) in rows.items():
    print(f"| {model} | {greedy:.1%} | {pairs:.1%} |")
best_greedy, best_pairs = max(r[0] for r in rows.values()), max(r[1] for r in rows.values())
print(f"merged keeps {rows['merged'][0] / best_greedy:.0%} of the better greedy accuracy and {rows['merged'][1] / best_pairs:.0%} of the better preference accuracy")
PY
