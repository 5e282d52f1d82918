#!/usr/bin/env bash
# Makes TorchSharp's native library load on Debian 12 (run by the build for every output folder).
#
# Why: TorchSharp 0.107.0's libLibTorchSharp.so was built with GCC 13, which emits a call to
# std::ios_base_library_init() (versioned GLIBCXX_3.4.32) in every file that includes <iostream>.
# Debian 12's libstdc++ is GCC 12's (up to GLIBCXX_3.4.30), so the library fails to load and the first
# torch call throws a misleading TypeInitializationException. Debian 13's libstdc++ needs a newer glibc.
# What works: define that one function in a tiny library of our own (ios_base_library_init.cpp), make
# libLibTorchSharp.so need it (its RUNPATH is $ORIGIN, so it is found beside it), clear the symbol's
# version so the loader binds it to our definition, and mark the GLIBCXX_3.4.32 requirement weak so the
# loader does not reject the old libstdc++.
#
# usage: prepare-torchsharp.sh OUTPUT_DIR   (idempotent; does nothing where libstdc++ is new enough)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: prepare-torchsharp.sh OUTPUT_DIR}
symbol=_ZSt21ios_base_library_initv
version=GLIBCXX_3.4.32
shim=libios_base_library_init.so

[ "$(uname -s)" = Linux ] || exit 0
libstdcxx=$(/sbin/ldconfig -p | awk '/libstdc\+\+\.so\.6 .*x86-64/ { print $NF; exit }')
if [ -n "$libstdcxx" ] && grep -q "$version" "$libstdcxx"; then
  exit 0
fi

mapfile -t libs < <(find "$out" -maxdepth 4 -name libLibTorchSharp.so)
[ ${#libs[@]} -gt 0 ] || exit 0

if ! command -v patchelf >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    (apt-get install -y -qq patchelf || { apt-get update -qq && apt-get install -y -qq patchelf; }) >/dev/null 2>&1
  else
    echo "prepare-torchsharp: patchelf is missing; install it (apt-get install patchelf)" >&2
    exit 1
  fi
fi

for lib in "${libs[@]}"; do
  dir=$(dirname "$lib")
  if [ ! -f "$dir/$shim" ] || [ "$here/ios_base_library_init.cpp" -nt "$dir/$shim" ]; then
    g++ -shared -fPIC -O2 -o "$dir/$shim.tmp" "$here/ios_base_library_init.cpp"
    mv -f "$dir/$shim.tmp" "$dir/$shim"
  fi
  if readelf -d "$lib" | grep -q "\[$shim\]"; then
    continue
  fi
  # Patch a private copy, then rename it over the original: never writes through a hard link into
  # the NuGet cache, and a reader never sees a half-patched file.
  tmp="$lib.patching"
  cp -f "$lib" "$tmp"
  patchelf --add-needed "$shim" "$tmp"
  patchelf --clear-symbol-version "$symbol" "$tmp"
  python3 "$here/weaken_version_need.py" "$tmp" "$version"
  mv -f "$tmp" "$lib"
done
