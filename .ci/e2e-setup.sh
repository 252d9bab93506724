#!/bin/sh
# Installs what the end-to-end tests (go test -tags e2e ./test/e2e/...) need:
# Debian's chromium and the oidc-provider test server's npm dependencies.
# Idempotent: does nothing that is already done. Called by .ci/run.
set -eu

root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)

if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
	echo "e2e-setup: installing chromium (apt)"
	if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium
else
	echo "e2e-setup: chromium present ($(chromium --version 2>/dev/null || echo /usr/bin/chromium))"
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "e2e-setup: node and npm are needed for test/e2e/provider (oidc-provider)" >&2
	exit 1
fi

provider="$root/test/e2e/provider"
stamp="$provider/node_modules/.package-lock.json"
# npm ci only when node_modules is missing or older than the lock file.
if [ ! -f "$stamp" ] || [ "$provider/package-lock.json" -nt "$stamp" ] || [ ! -d "$provider/node_modules/oidc-provider" ]; then
	echo "e2e-setup: npm ci in test/e2e/provider"
	(cd "$provider" && npm ci --no-audit --no-fund --loglevel=error)
else
	echo "e2e-setup: test/e2e/provider/node_modules up to date"
fi
