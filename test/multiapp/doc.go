// Package multiapp holds the tests of docs/protocol.md#several-apps (issue 7): several plugins,
// each with its own provider client, CORS rules, redirect route and sealing
// key, served by one handoff process under /{app}/.
//
// The tests build the real binary (go build, with -race when the tests run
// with -race), start it with an environment as an operator would write it,
// and talk to it over loopback with a client that behaves like a Framer
// plugin written for the framer/plugin-oauth worker. The providers are
// internal/mockprovider servers that approve at once.
//
//	go test -race ./test/multiapp/
//
// The package has no non-test code; this file only documents it.
package multiapp
