#!/usr/bin/env bash
# What the browser tests of the web pages need: Debian's Chromium and playwright-core.
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium for the browser tests"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y chromium
fi

# The lock file pins playwright-core; playwright-core never downloads a browser of its own.
if [ -f tests/e2e/package-lock.json ]; then
  if [ ! -d tests/e2e/node_modules/playwright-core ] \
    || [ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.package-lock.json ]; then
    npm ci --prefix tests/e2e --no-audit --no-fund
  fi
else
  npm install --prefix tests/e2e --no-audit --no-fund
fi
