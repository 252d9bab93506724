#!/usr/bin/env bash
# Builds and tests the TypeScript plugin client in examples/plugin with Node's test runner.
# The integration test runs only when HANDOFF_URL points at a handoff started with -demo:
#   go run . -demo                                            # terminal 1 (Ctrl-C stops it)
#   HANDOFF_URL=http://localhost:8787 .ci/plugin-client.sh    # terminal 2
set -euo pipefail
cd "$(dirname "$0")/../examples/plugin"
export HANDOFF_URL="${HANDOFF_URL:-}"
[ -n "$HANDOFF_URL" ] || unset HANDOFF_URL
npm ci --no-audit --no-fund
npm run build
npm test
