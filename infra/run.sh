#!/usr/bin/env bash
# Runs the main job after its own set-up: `actors run` co-hosts a silo in this process and runs the job
# on it. Without arguments the job is infra/jobs/grpo-arithmetic.json (GRPO on multi-digit arithmetic);
# arguments go to `actors run` instead (see `infra/run.sh --help`).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash infra/setup.sh
dotnet build Client -c Release -nologo -v q -clp:ErrorsOnly
if [ $# -eq 0 ]; then set -- infra/jobs/grpo-arithmetic.json; fi
exec Client/bin/Release/net10.0/actors run "$@"
