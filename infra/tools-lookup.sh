#!/usr/bin/env bash
# A GRPO job that has to look facts up (infra/jobs/grpo-lookup-search.json), on a silo hosted in the client:
# "item 4711+23=" asks for the code of item 4711 in a seeded catalog of 9,000 items plus 23. The catalog is only
# in the documents the search tool indexes (Lucene.NET), so a response must search, then add ("[search item
# 4711]<item 4711 lamp code 58>[calc 58+23]<81>81"). Of COUNT questions (default 4,000) the first DEMONSTRATED
# (default 2,000) carry that demonstration and the rest their bare answer (a guess): the warm start teaches both,
# so the policy starts calling on part of them. Held-out accuracy is measured with the tools, as samples use them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash infra/setup.sh
dotnet build Client -c Release -nologo -v q -clp:ErrorsOnly
mkdir -p runs/tools-lookup
dotnet Client/bin/Release/net10.0/actors.dll dataset lookup --count "${COUNT:-4000}" --seed 1 --demonstrate search --demonstrated "${DEMONSTRATED:-2000}" \
  --documents runs/tools-lookup/documents.jsonl --output runs/tools-lookup/questions.jsonl
exec dotnet Client/bin/Release/net10.0/actors.dll run infra/jobs/grpo-lookup-search.json "$@"
