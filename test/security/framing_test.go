package security

// SECURITY.md property 9: requests that HTTP/1.1 forbids are refused with 400, never
// guessed at, so nothing can be smuggled behind them. Raw bytes on a socket
// to the built binary; behind each bad request waits a second one that must
// never be answered. Before the fasthttp upgrade (v1.51), two Content-Length
// values hung the connection, Transfer-Encoding: gzip hung it, and a request
// with both Content-Length and Transfer-Encoding got two answers.

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"handoff/internal/testkit"
)

// smuggled is the request hidden behind a malformed one.
const smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

// converse writes raw on a fresh connection and reads every answer until the
// server closes the connection or, with no more answers coming, within has
// passed.
func converse(t *testing.T, addr, raw string, within time.Duration) (answers []resp, closed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(within))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			return answers, !(errors.As(err, &ne) && ne.Timeout())
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		answers = append(answers, resp{status: res.StatusCode, header: res.Header, body: string(body)})
	}
}

func TestHTTPFramingIsNeverGuessed(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	proc, _ := startBinaryFor(t, p, nil)
	addr := strings.TrimPrefix(proc.URL, "http://")
	const head = "POST /authorize HTTP/1.1\r\nHost: x\r\n"
	n := func(s string) string { return strconv.Itoa(len(s)) }

	// Refused with 400 and the connection closed: exactly one answer.
	for _, tc := range []struct{ name, raw string }{
		{"two Content-Length values", head + "Content-Length: 0\r\nContent-Length: " + n(smuggled) + "\r\n\r\n" + smuggled},
		{"two Content-Length values in one field", head + "Content-Length: 0, " + n(smuggled) + "\r\n\r\n" + smuggled},
		{"Transfer-Encoding: gzip", head + "Transfer-Encoding: gzip\r\n\r\n" + smuggled},
		{"Transfer-Encoding: identity", head + "Transfer-Encoding: identity\r\n\r\n" + smuggled},
		{"Transfer-Encoding: identity with a Content-Length", head + "Content-Length: 2\r\nTransfer-Encoding: identity\r\n\r\nxx" + smuggled},
		{"Transfer-Encoding: gzip, chunked", head + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"Transfer-Encoding: chunked, gzip", head + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n" + smuggled},
		{"chunked twice", head + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"Transfer-Encoding in HTTP/1.0", "POST /authorize HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		// Chunk extensions that parsers disagree on: a quoted string
		// holding CRLF, a bare LF ending the size line, a bare LF in
		// the extension.
		{"chunk extension with a quoted CRLF", head + "Transfer-Encoding: chunked\r\n\r\n2;a=\"\r\n\"\r\nxx\r\n0\r\n\r\n" + smuggled},
		{"chunk size ended by a bare LF", head + "Transfer-Encoding: chunked\r\n\r\n2\nxx\r\n0\r\n\r\n" + smuggled},
		{"chunk extension ended by a bare LF", head + "Transfer-Encoding: chunked\r\n\r\n2;x\nxx\r\n0\r\n\r\n" + smuggled},
		{"chunk data longer than its size", head + "Transfer-Encoding: chunked\r\n\r\n2\r\nxxx\r\n0\r\n\r\n" + smuggled},
	} {
		answers, closed := converse(t, addr, tc.raw, 5*time.Second)
		switch {
		case len(answers) != 1:
			t.Errorf("%s: %d answers %v, want one 400", tc.name, len(answers), answers)
		case answers[0].status != 400 || testkit.ErrorCode([]byte(answers[0].body)) != "invalid_request":
			t.Errorf("%s: got %v, want 400 invalid_request", tc.name, answers[0])
		}
		if !closed {
			t.Errorf("%s: the connection stayed open", tc.name)
		}
	}

	// Both Content-Length and Transfer-Encoding (RFC 9112 §6.1): at most
	// one answer, and the connection closed, whatever the order.
	for _, tc := range []struct{ name, raw string }{
		{"Content-Length then Transfer-Encoding", head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"Transfer-Encoding then Content-Length", head + "Transfer-Encoding: chunked\r\nContent-Length: " + n("0\r\n\r\n"+smuggled) + "\r\n\r\n0\r\n\r\n" + smuggled},
	} {
		answers, closed := converse(t, addr, tc.raw, 5*time.Second)
		if len(answers) > 1 {
			t.Errorf("%s: %d answers %v, want at most one", tc.name, len(answers), answers)
		}
		if !closed {
			t.Errorf("%s: the connection stayed open", tc.name)
		}
	}

	// What HTTP/1.1 allows still works, and keeps the connection: a
	// chunked body (the coding's name in any case) and a plain one, each
	// followed by a second request, both answered.
	const second = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	for _, tc := range []struct{ name, raw string }{
		{"chunked", head + "Transfer-Encoding: chunked\r\n\r\n2\r\nxx\r\n0\r\n\r\n" + second},
		{"Chunked", head + "Transfer-Encoding: Chunked\r\n\r\n2;name=value\r\nxx\r\n0\r\n\r\n" + second},
		{"Content-Length", head + "Content-Length: 2\r\n\r\nxx" + second},
	} {
		answers, _ := converse(t, addr, tc.raw, 5*time.Second)
		if len(answers) != 2 || answers[0].status != 200 || answers[1].status != 200 {
			t.Errorf("%s body then a second request: %v, want 200 and 200", tc.name, answers)
		}
	}
}
