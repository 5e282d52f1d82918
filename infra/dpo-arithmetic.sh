#!/usr/bin/env bash
# DPO on pairs made from the arithmetic task, end to end on a local silo process: a GRPO job
# (infra/jobs/grpo-arithmetic-pairs.json) samples groups from the warm-started model; `actors dataset pairs`
# makes each group's best response (by the verifier) over its worst into runs/dpo-arithmetic/pairs.jsonl;
# the DPO job (infra/jobs/dpo-arithmetic.json: the same seed, so the same warm start) trains on them; more
# DPO jobs given are trained on the same pairs one after the other (infra/jobs/dpo-arithmetic-pipelined.json:
# the same job on a two-stage pipeline). Every job's metrics go to runs/<job>/metrics.jsonl. The README's DPO
# tables come from this script.
#
# usage: [PAIRS_OPTIONS=--every] infra/dpo-arithmetic.sh [dpo-job.json ...]
#   PAIRS_OPTIONS: more options of `actors dataset pairs` (--every: every better response over every worse one)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=("${@:-infra/jobs/dpo-arithmetic.json}")
bash infra/setup.sh
dotnet build Silo -c Release -nologo -v q -clp:ErrorsOnly
dotnet build Client -c Release -nologo -v q -clp:ErrorsOnly
actors() { dotnet Client/bin/Release/net10.0/actors.dll "$@"; }

# A fresh store each time: a job file changed since the last run is a new job, not a resume.
rm -rf runs/dpo-arithmetic && mkdir -p runs/dpo-arithmetic
# One silo with every role and four CPU devices; localhost clustering on its own ports, unencrypted.
dotnet Silo/bin/Release/net10.0/Silo.dll --Silo:Devices cpu:0-3 --Tls:Mode Off --Checkpoints:Directory runs/dpo-arithmetic/checkpoints \
  --Clustering:SiloPort 11411 --Clustering:PrimarySiloPort 11411 --Clustering:GatewayPort 30411 > runs/dpo-arithmetic/silo.log 2>&1 &
silo=$!
trap 'kill $silo 2>/dev/null || true; wait $silo 2>/dev/null || true' EXIT INT TERM
cluster=(--gateway-port 30411 --tls Off)

start=$(date +%s)
actors submit infra/jobs/grpo-arithmetic-pairs.json "${cluster[@]}"
actors watch grpo-arithmetic-pairs --metrics runs/grpo-arithmetic-pairs/metrics.jsonl "${cluster[@]}"
actors dataset pairs --job grpo-arithmetic-pairs --count 100000 --output runs/dpo-arithmetic/pairs.jsonl ${PAIRS_OPTIONS:-} "${cluster[@]}"
sampled=$(date +%s)
echo "pairs: $(wc -l < runs/dpo-arithmetic/pairs.jsonl); sampling job and pairs: $((sampled - start)) s"
for dpo in "${jobs[@]}"; do
  began=$(date +%s)
  actors submit "$dpo" "${cluster[@]}"
  name=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' "$dpo")
  actors watch "$name" --metrics "runs/$name/metrics.jsonl" "${cluster[@]}"
  echo "DPO job $name: $(($(date +%s) - began)) s"
done
