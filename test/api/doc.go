// Package api holds the black-box tests of the API passthrough
// (docs/protocol.md#api-passthrough, issue 15): the real binary, started
// with an environment as an operator writes it, between a client that
// behaves like a Framer plugin and a fake API upstream on 127.0.0.1 that
// counts its connections and keeps every byte it receives.
//
//	go test -race ./test/api/
//
// Everything listens on loopback. The package has no non-test code; this
// file only documents it.
package api
