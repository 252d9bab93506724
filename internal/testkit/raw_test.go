package testkit

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawServer accepts one connection, reads the request's head, answers at
// once with the head it got as the body, and keeps the connection open,
// reading nothing more, until the test ends.
func rawServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		var head strings.Builder
		for !strings.HasSuffix(head.String(), "\r\n\r\n") {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
		}
		io.WriteString(conn, "HTTP/1.1 200 OK\r\nX-Seen: yes\r\nContent-Length: "+strconv.Itoa(head.Len())+"\r\n\r\n"+head.String())
		<-done
	}()
	return ln.Addr().String()
}

// RawExchange writes the bytes as they are and reads the answer, with an
// address or a base URL; a body the server never takes (far more than the
// connection buffers) does not hold the answer up.
func TestRawExchange(t *testing.T) {
	const head = "BREW /pot?x=%zz HTTP/1.1\r\nHost: x\r\nx-odd-CASE:  two  spaces \r\nContent-Length: 33554432\r\n\r\n"
	for _, addr := range []string{rawServer(t), "http://" + rawServer(t)} {
		start := time.Now()
		r, err := RawExchange(addr, head+strings.Repeat("b", 32<<20))
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if r.Status != 200 || r.Header.Get("X-Seen") != "yes" || string(r.Body) != head {
			t.Errorf("%s: %d %v %q, want 200, X-Seen and the head as written", addr, r.Status, r.Header, r.Body)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: the answer took %v", addr, d)
		}
	}
}
