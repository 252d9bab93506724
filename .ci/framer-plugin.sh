#!/usr/bin/env bash
# Builds the example Framer plugin (examples/framer-plugin) and drives it in headless Chromium
# against a real handoff -demo: log in at the mock provider, refresh, log out, and the client's
# error reports (refused origin, server down, blocked popup, cancel).
#
#   bash .ci/framer-plugin.sh                              # builds handoff itself
#   HANDOFF_BIN=/tmp/handoff-ci bash .ci/framer-plugin.sh  # or uses a binary already built
#
# Installs what it needs: Debian's chromium (apt) when missing, npm ci in examples/plugin
# (the client it imports) and examples/framer-plugin. The server gets a free port and runs in
# a mktemp folder (so no .env or .dev.vars of the checkout is read); the script stops it.
set -euo pipefail

root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
export PATH="$PATH:/usr/local/go/bin"

if [ ! -x /usr/bin/chromium ] && ! command -v chromium >/dev/null 2>&1; then
	echo "framer-plugin: installing chromium (apt)"
	if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium
fi
CHROMIUM=${CHROMIUM:-$(command -v chromium || echo /usr/bin/chromium)}
export CHROMIUM
"$CHROMIUM" --version

work=$(mktemp -d "${TMPDIR:-/tmp}/handoff-framer-plugin.XXXXXX")
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

bin=${HANDOFF_BIN:-}
if [ -z "$bin" ]; then
	echo "framer-plugin: building handoff"
	(cd "$root" && CGO_ENABLED=0 go build -o "$work/handoff" .)
	bin="$work/handoff"
fi

echo "framer-plugin: npm ci (examples/plugin, examples/framer-plugin)"
(cd "$root/examples/plugin" && npm ci --no-audit --no-fund --loglevel=error)
(cd "$root/examples/framer-plugin" && npm ci --no-audit --no-fund --loglevel=error)

# A free port: the kernel picks one for a socket that is closed at once.
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
url="http://localhost:$port"

# API_ORIGINS lets the plugin ask the mock provider who is logged in through the API
# passthrough (a handoff without the passthrough ignores it; the test then checks the plugin
# says so).
echo "framer-plugin: starting $bin -demo on port $port"
(cd "$work" && exec env PORT="$port" API_ORIGINS="$url" "$bin" -demo >"$work/handoff.log" 2>&1) &
server_pid=$!
up=
for _ in $(seq 1 100); do
	if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
	if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then up=1; break; fi
	sleep 0.1
done
if [ -z "$up" ]; then
	echo "framer-plugin: handoff -demo did not start on port $port; its log:" >&2
	cat "$work/handoff.log" >&2
	exit 1
fi

echo "framer-plugin: npm run build (VITE_HANDOFF_URL=$url)"
cd "$root/examples/framer-plugin"
VITE_HANDOFF_URL="$url" VITE_USERINFO_URL="$url/mock/userinfo" npm run build

echo "framer-plugin: browser tests"
status=0
HANDOFF_URL="$url" node --test test/plugin.test.mjs || status=$?
if [ "$status" -ne 0 ]; then
	echo "framer-plugin: tests failed; handoff's log:" >&2
	tail -n 50 "$work/handoff.log" >&2
fi
exit "$status"
