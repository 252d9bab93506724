// Package testkit is what the test suites share: building the real handoff
// binary and running it (Binary, Start: on a port the system picks, read
// back from its log), a plugin-like client that drives a whole login as a
// Framer plugin and the user's browser do (Plugin), the set of secrets a
// test must never find in a log or a page (Secrets), a certificate for
// HTTPS tests (WriteCert), raw bytes on a connection (RawExchange), a fake
// server's copy of what it answered (ResponseTee), and reading answers
// (ErrorCode, Outcome, Buffer).
//
// It is for _test.go files alone: production code must not import it
// (TestOnlyTestsImportIt holds that).
package testkit

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// Buffer is a bytes.Buffer that one goroutine (a child process's output
// copier, a logger on server goroutines) may write while the test reads it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// FreePort returns a loopback port that nobody listened on a moment ago.
// Another process may still take it before the caller binds it; Start
// retries for that reason.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
