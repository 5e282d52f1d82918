#!/usr/bin/env bash
# A GRPO job whose responses call the calculator (infra/jobs/grpo-arithmetic-calc.json), on a silo hosted in
# the client: its warm start is taught demonstrations of calls (`actors dataset arithmetic --demonstrate calc`),
# then every response may call "[calc ...]" mid-generation. Each iteration's line shows the tool figures
# (calls per sample, share of samples that called, failures, mean seconds a call, tokens masked). JOB: another job
# file (infra/jobs/grpo-arithmetic-calc-turns.json: the same with a turn-level reward of -0.5 a failed call).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash infra/setup.sh
dotnet build Client -c Release -nologo -v q -clp:ErrorsOnly
mkdir -p runs/tools-arithmetic
dotnet Client/bin/Release/net10.0/actors.dll dataset arithmetic --count 20000 --seed 1 --demonstrate calc --output runs/tools-arithmetic/demonstrations.jsonl
exec dotnet Client/bin/Release/net10.0/actors.dll run "${JOB:-infra/jobs/grpo-arithmetic-calc.json}" "$@"
