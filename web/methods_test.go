package web_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"handoff/web"
)

// A method Fiber does not know gets the same answer as any wrong method: 405
// with the JSON error and the CORS headers, not a bare 400.
func TestUnknownMethod(t *testing.T) {
	base := start(t, setup{cors: &web.CORS{ParentDomain: "plugins.framercdn.com"}}).base
	for _, method := range []string{"FOO", "PROPFIND", "BREW"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, method+" /poll HTTP/1.1\r\nHost: x\r\nOrigin: http://localhost:3000\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		conn.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed ||
			resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
			resp.Header.Get("Vary") != "Origin" ||
			!strings.Contains(string(body), `"error":"method_not_allowed"`) {
			t.Errorf("%s /poll: %d %v %s", method, resp.StatusCode, resp.Header, body)
		}
	}
}

// An unknown method on an unknown path is still an unknown path: 404
// not_found (docs/protocol.md), and on a known path the Allow header names that
// route's methods, as Fiber's own 405 does.
func TestUnknownMethodPathAndAllow(t *testing.T) {
	base := start(t, setup{cors: &web.CORS{ParentDomain: "plugins.framercdn.com"}}).base
	for _, tc := range []struct {
		path   string
		status int
		code   string
		allow  string
	}{
		{"/nope", http.StatusNotFound, "not_found", ""},
		{"/poll/extra", http.StatusNotFound, "not_found", ""},
		{"/poll", http.StatusMethodNotAllowed, "method_not_allowed", "POST, OPTIONS"},
		{"/revoke", http.StatusMethodNotAllowed, "method_not_allowed", "POST, OPTIONS"},
		{"/Poll/", http.StatusMethodNotAllowed, "method_not_allowed", "POST, OPTIONS"},
		{"/healthz", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD, OPTIONS"},
		// HEAD /redirect answers 405 (TestHeadRedirectSpendsNothing).
		{"/redirect", http.StatusMethodNotAllowed, "method_not_allowed", "GET, OPTIONS"},
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, "BREW "+tc.path+" HTTP/1.1\r\nHost: x\r\nOrigin: http://localhost:3000\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		conn.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Allow") != tc.allow ||
			resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:3000" ||
			!strings.Contains(string(body), `"error":"`+tc.code+`"`) {
			t.Errorf("BREW %s: %d Allow=%q %v %s", tc.path, resp.StatusCode, resp.Header.Get("Allow"), resp.Header, body)
		}
	}
}

// HEAD on the redirect route (a link scanner, a prefetcher) spends nothing:
// the user's GET that follows still completes the login.
func TestHeadRedirectSpendsNothing(t *testing.T) {
	s := start(t, setup{})
	l := s.authorize()
	back := s.consent(l)
	r := s.do("HEAD", back, nil)
	if r.status != http.StatusMethodNotAllowed {
		t.Fatalf("HEAD /redirect: %d, want 405", r.status)
	}
	if got := r.header.Get("Allow"); got != "GET, OPTIONS" {
		t.Errorf("HEAD /redirect: Allow %q, want GET, OPTIONS (HEAD is refused)", got)
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		r := s.do(m, "/Redirect/", nil)
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, OPTIONS" {
			t.Errorf("%s /Redirect/: %d Allow %q, want 405 with GET, OPTIONS", m, r.status, r.header.Get("Allow"))
		}
	}
	if r := s.do("GET", back, nil); r.status != http.StatusOK {
		t.Fatalf("GET /redirect after a HEAD: %d %s", r.status, r.body)
	}
	if r := s.poll(l.ReadKey); r.status != http.StatusOK {
		t.Fatalf("poll: %d %s", r.status, r.body)
	}
}
