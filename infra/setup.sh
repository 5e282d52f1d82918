#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian 12 machine with the .NET 10 SDK and Node 20.
# Idempotent and quick when everything is already there. Run by infra/run.sh and infra/test.sh.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

command -v dotnet >/dev/null || { echo "setup: the .NET 10 SDK (dotnet) is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup: Node.js with npm is required (for Azurite)" >&2; exit 1; }

apt_install() {
  [ "$(id -u)" = 0 ] || { echo "setup: $* missing; install it with apt-get (needs root)" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "$@" >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq "$@" >/dev/null; }
}

# patchelf prepares TorchSharp's native library during the build (infra/native/prepare-torchsharp.sh).
command -v patchelf >/dev/null || apt_install patchelf
command -v g++ >/dev/null || apt_install g++
# Redis: the second real membership provider, started by its tests on a free loopback port.
command -v redis-server >/dev/null || apt_install redis-server
# espeak-ng: the speech task's spoken prompts are synthesized with it (Kernels/Audio).
command -v espeak-ng >/dev/null || apt_install espeak-ng
# Chromium, headless: the test that opens `actors report`'s page as a browser does.
command -v chromium >/dev/null || apt_install chromium

# Azurite, the Azure Storage emulator the storage tests start, pinned by infra/package-lock.json.
stamp="$root/infra/node_modules/.package-lock.json"
if [ ! -x "$root/infra/node_modules/.bin/azurite" ] || [ "$root/infra/package-lock.json" -nt "$stamp" ]; then
  (cd "$root/infra" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
