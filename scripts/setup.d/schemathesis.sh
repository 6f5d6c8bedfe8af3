#!/usr/bin/env bash
# Schemathesis (PyPI), the API fuzzer run against /openapi.json by daemon/tests/resilience.rs.
# Pinned so a new release cannot change what the test checks. Idempotent; quick when installed.
set -euo pipefail

VERSION=4.32.5
if [ "$(python3 -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" != "$VERSION" ]; then
  pip install --quiet "schemathesis==$VERSION"
fi
