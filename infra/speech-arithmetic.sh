#!/usr/bin/env bash
# Spoken arithmetic end to end: `actors codebooks` speaks 2,000 arithmetic questions with espeak-ng (six voices),
# learns the two audio codebooks on 300 of them, measures their round trip on 40 held-out utterances, and writes
# runs/speech/model (the demo shape with text and audio tokens, the codebooks beside it) and runs/speech/data
# (a WAV per question, spoken-arithmetic.jsonl); then the GRPO job (infra/jobs/grpo-spoken-arithmetic.json, or the
# job file given) warm-starts on the spoken questions' answers and trains on them, on one in-process silo.
# The README's speech figures come from this script.
#
# usage: [EXAMPLES=2000] [DIGITS=2] [SPOKEN_ANSWERS=1] infra/speech-arithmetic.sh [job.json]
#   EXAMPLES: spoken questions in the dataset; DIGITS: digits of their operands (1: "what is three plus four");
#   SPOKEN_ANSWERS=1: each answer spoken too, for a job with rl.spokenAnswers (infra/jobs/grpo-spoken-answers.json).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
job=${1:-infra/jobs/grpo-spoken-arithmetic.json}
bash infra/setup.sh
dotnet build Client -c Release -nologo -v q -clp:ErrorsOnly
actors() { dotnet Client/bin/Release/net10.0/actors.dll "$@"; }

rm -rf runs/speech
actors codebooks --examples "${EXAMPLES:-2000}" --digits "${DIGITS:-2}" ${SPOKEN_ANSWERS:+--spoken-answers} --utterances 300 --held-out 40 --out runs/speech
name=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' "$job")
actors run "$job" --metrics "runs/$name/metrics.jsonl"
