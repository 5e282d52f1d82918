#!/usr/bin/env bash
# Starts a local multi-process cluster on loopback: Azurite (membership, blobs, queues) and three silos,
# one per role, with Azure Table membership, Azure Blob checkpoints and mutual TLS with a self-signed
# cluster certificate (made once, in the work directory, by `actors tls create`).
# Prints the client options to reach it; Ctrl-C stops everything.
#
# usage: infra/cluster/local-cluster.sh [work-dir]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=${1:-$(mktemp -d -t actors-cluster-XXXX)}
mkdir -p "$work"
bash "$root/infra/setup.sh"
dotnet build "$root/Silo" -c Release -nologo -v q -clp:ErrorsOnly
dotnet build "$root/Client" -c Release -nologo -v q -clp:ErrorsOnly

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT INT TERM

ports=(10100 10101 10102)
"$root/infra/node_modules/.bin/azurite" --skipApiVersionCheck --location "$work/azurite" \
  --blobHost 127.0.0.1 --blobPort "${ports[0]}" --queueHost 127.0.0.1 --queuePort "${ports[1]}" \
  --tableHost 127.0.0.1 --tablePort "${ports[2]}" > "$work/azurite.log" 2>&1 &
pids+=($!)
account=devstoreaccount1
key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
connection="DefaultEndpointsProtocol=http;AccountName=$account;AccountKey=$key;BlobEndpoint=http://127.0.0.1:${ports[0]}/$account;QueueEndpoint=http://127.0.0.1:${ports[1]}/$account;TableEndpoint=http://127.0.0.1:${ports[2]}/$account;"
sleep 3
certificate="$work/cluster.pfx"
dotnet "$root/Client/bin/Release/net10.0/actors.dll" tls create "$certificate" --keep

silo() { # name role devices silo-port gateway-port
  # glibc's allocator held to two arenas (as `actors chaos` starts its silos; see Client/Chaos/LocalCluster.cs).
  MALLOC_ARENA_MAX=2 dotnet "$root/Silo/bin/Release/net10.0/Silo.dll" \
    --Clustering:Provider AzureTable --Clustering:ConnectionString "$connection" \
    --Clustering:SiloPort "$4" --Clustering:GatewayPort "$5" \
    --Silo:Name "$1" --Silo:Roles "$2" --Silo:Devices "$3" \
    --Checkpoints:Provider AzureBlob --Checkpoints:ConnectionString "$connection" \
    --Tls:Certificate "$certificate" > "$work/$1.log" 2>&1 &
  pids+=($!)
}
silo gen-1 generation gpu:0-1 11111 30000
silo train-1 training gpu:0-1 11112 30001
silo infer-1 inference cpu 11113 30002

cat <<TXT
cluster starting (logs in $work). Reach it with:
  Client/bin/Release/net10.0/actors cluster --clustering AzureTable --connection '$connection' --certificate '$certificate'
Ctrl-C stops it.
TXT
wait
