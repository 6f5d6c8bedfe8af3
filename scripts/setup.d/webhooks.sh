#!/usr/bin/env bash
# Real peers for the webhook tests: the official Standard Webhooks verifier (PyPI) and
# oauth2-mock-server (npm) as a token endpoint. Idempotent; quick when already installed.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! python3 -c 'import standardwebhooks' 2>/dev/null; then
  pip install --quiet standardwebhooks
fi

if [ ! -d tests/node/node_modules/oauth2-mock-server ]; then
  npm ci --prefix tests/node --no-audit --no-fund --silent
fi
