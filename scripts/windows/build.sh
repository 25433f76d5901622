#!/usr/bin/env bash
# Cross-builds the native addon for Windows x64 on a Linux host with MinGW-w64:
#   prebuilds/win32-x64/node.napi.node   (node-gyp-build's name for a Node-API build that any
#                                          runtime - node.exe, electron.exe - may load)
# Node-API functions come from an import library made from node-api-headers' def/node_api.def,
# delay-loaded from "node.exe" and resolved by native/src/win/delay_load_hook.cc to the running
# program, so the same binary loads in node.exe and in electron.exe.
# On Windows itself, `node-gyp rebuild` with MSVC builds the same sources from binding.gyp.
#
# Environment:
#   AW_NODE_API_HEADERS  a node-api-headers package directory (default: node_modules/node-api-headers,
#                        else the pinned version fetched into the cache)
#   AW_CACHE             cache directory outside the repo (default: ~/.cache/accept-workbench)
#   AW_WIN_BUILD_DIR     intermediate files (default: build/win32-x64)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

NODE_API_HEADERS_VERSION=1.9.0
cache=${AW_CACHE:-$HOME/.cache/accept-workbench}
out_dir="$root/prebuilds/win32-x64"
out="$out_dir/node.napi.node"
work=${AW_WIN_BUILD_DIR:-$root/build/win32-x64}

CXX=x86_64-w64-mingw32-g++-posix
DLLTOOL=x86_64-w64-mingw32-dlltool
for tool in "$CXX" "$DLLTOOL"; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool not found (apt-get install mingw-w64)" >&2; exit 1; }
done

# node-api-headers: the lead adds it as a devDependency; until then (or outside the repo's
# install) fetch the pinned version into the cache with npm.
headers=${AW_NODE_API_HEADERS:-}
if [ -z "$headers" ] && [ -f "$root/node_modules/node-api-headers/def/node_api.def" ]; then
  headers="$root/node_modules/node-api-headers"
fi
if [ -z "$headers" ]; then
  headers="$cache/node-api-headers-$NODE_API_HEADERS_VERSION"
  if [ ! -f "$headers/def/node_api.def" ]; then
    mkdir -p "$cache"
    tgz=$(cd "$cache" && npm pack --silent "node-api-headers@$NODE_API_HEADERS_VERSION" | tail -1)
    rm -rf "$headers.tmp" && mkdir -p "$headers.tmp"
    tar xzf "$cache/$tgz" -C "$headers.tmp" --strip-components=1
    rm -f "$cache/$tgz"
    mv "$headers.tmp" "$headers"
  fi
fi
[ -f "$headers/def/node_api.def" ] && [ -f "$headers/include/node_api.h" ] \
  || { echo "build.sh: no node-api-headers at $headers" >&2; exit 1; }
addon_api="$root/node_modules/node-addon-api"
[ -f "$addon_api/napi.h" ] || { echo "build.sh: node_modules/node-addon-api missing (npm ci)" >&2; exit 1; }

mkdir -p "$work" "$out_dir"
# Import library for node.exe's Node-API exports, delay-loaded (-y).
"$DLLTOOL" -d "$headers/def/node_api.def" -y "$work/libnode_delay.a" -D node.exe

CXXFLAGS=(-std=c++17 -O2 -Wall -Wextra -Wno-unused-parameter -Wno-cast-function-type
  -DNAPI_VERSION=8 -DNODE_ADDON_API_DISABLE_DEPRECATED -D_WIN32_WINNT=0x0A00 -DWIN32_LEAN_AND_MEAN -DNOMINMAX
  -I"$headers/include" -I"$addon_api")
objs=()
for src in native/src/addon.cc native/src/fast_open_client.cc native/src/win/win_acceptor.cc native/src/win/delay_load_hook.cc; do
  obj="$work/$(basename "${src%.cc}").o"
  "$CXX" "${CXXFLAGS[@]}" -c "$src" -o "$obj" &
  objs+=("$obj")
done
wait_all() { local rc=0; for job in $(jobs -p); do wait "$job" || rc=1; done; return $rc; }
wait_all || { echo "build.sh: compile failed" >&2; exit 1; }

# Everything but system DLLs linked statically: no libstdc++/libgcc/winpthread DLLs beside the addon.
"$CXX" -shared -s -o "$out.tmp" "${objs[@]}" "$work/libnode_delay.a" \
  -static -static-libgcc -static-libstdc++ -lws2_32
mv "$out.tmp" "$out"

# The addon may import only from Windows itself and (delay-loaded) from node.exe.
imports=$(x86_64-w64-mingw32-objdump -p "$out" | sed -n 's/^\s*DLL Name: //p' | tr 'A-Z' 'a-z' | sort -u)
for dll in $imports; do
  case "$dll" in
    kernel32.dll|ws2_32.dll|msvcrt.dll|user32.dll|advapi32.dll|node.exe|api-ms-win-*) ;;
    *) echo "build.sh: unexpected DLL dependency $dll" >&2; exit 1 ;;
  esac
done
echo "built $out ($(stat -c %s "$out") bytes; imports: $(echo $imports | tr '\n' ' '))"
