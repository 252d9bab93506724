#!/bin/sh
# Smoke run of the load harness (issue 6): builds handoff, starts it with a
# local fake provider and runs every scenario for a second, to show the
# harness works. It asserts no speed (the figures of a shared CI runner mean
# nothing); it fails only if the harness or the server fails, or a request
# gets an answer docs/protocol.md does not allow. Takes well under a minute.
set -eu
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# -strict: exit 1 if a scenario was skipped or any request got a wrong answer.
go run ./test/bench -duration 1s -quick -strict -json "$out/bench.json"
test -s "$out/bench.json"
# The handler benchmarks compile and run once.
go test -run '^$' -bench . -benchtime 1x ./web/ >/dev/null
echo "bench-smoke: ok"
