#!/usr/bin/env bash
# System packages the build and the tests need (Debian/Ubuntu). Installs only what is missing.
set -euo pipefail
missing=()
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v python3 >/dev/null || missing+=(python3)
command -v ip >/dev/null || missing+=(iproute2)
command -v unshare >/dev/null || missing+=(util-linux)
command -v sysctl >/dev/null || missing+=(procps)
# The Windows backend's cross build and its tests under Wine (npm run test:windows).
{ command -v wine >/dev/null && [ -x /usr/lib/wine/wine64 ]; } || missing+=(wine64)
command -v x86_64-w64-mingw32-g++-posix >/dev/null || missing+=(mingw-w64)
# The browser end-to-end test (test/e2e) drives Debian's Chromium through playwright-core.
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing system packages: ${missing[*]} (install them, or run as root)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
