#!/usr/bin/env bash
# Builds the native addon with AddressSanitizer and UndefinedBehaviorSanitizer in a scratch copy
# and runs the suites that exercise it (native contract, engine, CLI) against that build.
# Any sanitizer report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/aw-sanitizers.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r binding.gyp native package.json "$work/"
ln -s "$root/node_modules" "$work/node_modules"
(cd "$work" && CXXFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -g" \
  LDFLAGS="-fsanitize=address,undefined" npx node-gyp rebuild >"$work/build.log" 2>&1) \
  || { cat "$work/build.log" >&2; echo "sanitizer build failed" >&2; exit 1; }
asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)
[ -f "$asan" ] && [ -f "$ubsan" ] || { echo "libasan/libubsan not found (install g++)" >&2; exit 1; }
# Node itself is not built with the sanitizers: leak checking would report V8's own allocations.
LD_PRELOAD="$asan:$ubsan" \
ASAN_OPTIONS="detect_leaks=0:abort_on_error=1" \
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
AW_ADDON_DIR="$work" \
  npx vitest run test/native test/host/listener.test.ts test/cli
