// Package multimachine holds the tests and the benchmark of docs/protocol.md#several-machines
// (issue 8): several handoff machines behind Fly.io's proxy, with no
// database, each login served by the machine that started it.
//
// The harness plays Fly's proxy: it starts handoff processes on loopback,
// each with its own FLY_MACHINE_ID and the same secrets, and puts in front
// of them a small reverse proxy that sends each request to a machine picked
// at random and honours the fly-replay response header as Fly's proxy
// documents it (https://fly.io/docs/networking/dynamic-request-routing/):
// it replays the request to instance=<id>, adds fly-replay-src, and when
// that machine cannot be reached and the header says fallback=force_self,
// sends the request back to the machine that asked for the replay with a
// fly-replay-failed header. The proxy fails the test if it ever sees a
// replay loop: a machine replaying to itself, a replayed request replayed
// again, or a replay asked for a request that carries fly-replay-failed.
//
//	go test -race ./test/multimachine/
//	go test -run '^$' -bench . ./test/multimachine/   # flows/s with 1 and 3 machines
//
// The package has no non-test code; this file only documents it.
package multimachine
