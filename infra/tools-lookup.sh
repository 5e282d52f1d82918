#!/usr/bin/env bash
# A GRPO job that has to look facts up (infra/jobs/grpo-lookup-search.json), on a silo hosted in the client:
# "item 4711+23=" asks for the code of item 4711 in a seeded catalog of 9,000 items plus 23. The catalog is only
# in the documents the search tool indexes (Lucene.NET), so a response must search, then add ("[search item
# 4711]<item 4711 lamp code 58>[calc 58+23]<81>81"). The warm start is taught DEMONSTRATED of COUNT questions (default 2,000 of 4,000; the rest teach the bare answer, a guess) such
# demonstrations; GRPO goes on from there. Held-out accuracy is measured with the tools, as the samples use them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash infra/setup.sh
dotnet build Client -c Release -nologo -v q -clp:ErrorsOnly
mkdir -p runs/tools-lookup
dotnet Client/bin/Release/net10.0/actors.dll dataset lookup --count "${COUNT:-4000}" --seed 1 --demonstrate search --demonstrated "${DEMONSTRATED:-2000}" \
  --documents runs/tools-lookup/documents.jsonl --output runs/tools-lookup/questions.jsonl
exec dotnet Client/bin/Release/net10.0/actors.dll run infra/jobs/grpo-lookup-search.json "$@"
