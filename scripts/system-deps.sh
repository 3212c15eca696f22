#!/usr/bin/env bash
# System packages the tests need beyond Python: Debian's Chromium (browser tests) and the
# PostgreSQL server binaries (the sandbox's AppView and the coalition store on PostgreSQL).
# Installed with apt-get when running as root; otherwise say what is missing and go on (the
# tests that need a missing piece skip with the reason, except in CI where they must run).
set -uo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing system packages: ${missing[*]} (apt-get, once)..."
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    echo "Could not install ${missing[*]} with apt-get; the tests that need them will fail in CI or skip locally." >&2
    [ -n "${CI:-}" ] && exit 1
  fi
else
  echo "Missing system packages: ${missing[*]}. Install them with: sudo apt-get install ${missing[*]} (the tests that need them skip until then)." >&2
fi
exit 0
