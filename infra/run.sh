#!/usr/bin/env bash
# Runs the main job after its own set-up: `actors run` co-hosts a silo in this process and runs the job
# on it (today the smoke job). Arguments go to `actors run` (see `infra/run.sh --help`).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash infra/setup.sh
dotnet build Client -c Release -nologo -v q -clp:ErrorsOnly
exec Client/bin/Release/net10.0/actors run "$@"
