package web_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"handoff/internal/testkit"
	"handoff/web"
)

// Branches that the black-box suites reach only through a built binary or
// several machines, reached here in-process: the Fly-Replay answer, the
// error handler's "malformed request", and the TLS listener.

// TestFlyReplay: a login held by another machine is replayed there: 503
// with Fly-Replay naming it, and no body, which Fly's proxy drops
// (docs/protocol.md#several-machines). When the proxy says the owner
// cannot be reached (Fly-Replay-Failed), the login is over: 410 for a
// poll, the "restarted" page for the redirect.
func TestFlyReplay(t *testing.T) {
	t.Parallel()
	owner := start(t, setup{machineID: "m1", sealSecret: "one app, two machines"})
	other := start(t, setup{machineID: "m2", sealSecret: "one app, two machines"})
	l := owner.authorize()
	state := l.State
	const replay = "instance=m1;timeout=2s;fallback=force_self"
	for _, target := range []struct{ method, path string }{
		{"POST", "/poll?readKey=" + url.QueryEscape(l.ReadKey)},
		{"GET", "/redirect?code=c&state=" + url.QueryEscape(state)},
	} {
		r := other.do(target.method, target.path, nil, "Origin", testPluginOrigin)
		if r.status != http.StatusServiceUnavailable || r.header.Get("Fly-Replay") != replay || len(r.body) != 0 {
			t.Errorf("%s %.20s on another machine: %d Fly-Replay %q body %q; want 503 %q and no body",
				target.method, target.path, r.status, r.header.Get("Fly-Replay"), r.body, replay)
		}
		checkCORS(t, r, testPluginOrigin)
	}
	r := other.do("POST", "/poll?readKey="+url.QueryEscape(l.ReadKey), nil, "Fly-Replay-Failed", "reason=unreachable;instance=m1")
	checkError(t, r, http.StatusGone, "expired_token")
	r = other.do("GET", "/redirect?code=c&state="+url.QueryEscape(state), nil, "Fly-Replay-Failed", "reason=unreachable;instance=m1")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), `data-outcome="restarted"`) || r.header.Get("Fly-Replay") != "" {
		t.Errorf("redirect whose owner is gone: %d %q %.200s", r.status, r.header.Get("Fly-Replay"), r.body)
	}
	// The owner serves its own logins.
	checkError(t, owner.poll(l.ReadKey), http.StatusNotFound, "authorization_pending")
}

// TestMalformedRequests: what the HTTP parser refuses before routing gets
// the error handler's 400 invalid_request "malformed request", as JSON with
// the CORS headers, like every other error.
func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	s := start(t, setup{})
	for name, raw := range map[string]string{
		"a header line without a colon": "GET /healthz HTTP/1.1\r\nHost: x\r\nOrigin: " + testPluginOrigin + "\r\nBad Header Line\r\n\r\n",
		"a request line without a path": "GET\r\nOrigin: " + testPluginOrigin + "\r\n\r\n",
		"a Content-Length that is not a number": "POST /poll HTTP/1.1\r\nHost: x\r\nOrigin: " + testPluginOrigin +
			"\r\nContent-Length: abc\r\n\r\n",
		"a method with a character no token has": "G@T /healthz HTTP/1.1\r\nHost: x\r\nOrigin: " + testPluginOrigin + "\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			r := rawResponse(t, s.base, raw)
			checkError(t, r, http.StatusBadRequest, "invalid_request")
			if d := r.json(t)["error_description"]; d != "malformed request" {
				t.Errorf("error_description %q", d)
			}
		})
	}
}

// TestTLSListener: web.TLSListener serves HTTPS on a real loopback
// handshake, HTTP/1.1 only (fasthttp speaks no HTTP/2), TLS 1.2 at least;
// unreadable files are an error, not a plain-HTTP server.
func TestTLSListener(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool := testkit.WriteCert(t, certFile, keyFile)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsLn, err := web.TLSListener(ln, certFile, keyFile)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	app := web.New(web.Options{})
	go app.Listener(tlsLn)
	t.Cleanup(func() { app.Shutdown() })
	addr := ln.Addr().String()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, NextProtos: []string{"h2", "http/1.1"}},
	}}
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"status":"ok"}` {
		t.Errorf("GET /healthz over TLS: %d %s", resp.StatusCode, body)
	}
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 || resp.TLS.NegotiatedProtocol != "http/1.1" {
		t.Errorf("connection state %+v: want TLS 1.2 or later and http/1.1", resp.TLS)
	}

	// TLS 1.1 is refused in the handshake.
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		conn.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}
	// Plain HTTP on the TLS port gets no answer of the app's.
	if r := rawResponseOrNil(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); strings.Contains(r, `{"status":"ok"}`) {
		t.Errorf("plain HTTP served on the TLS listener: %q", r)
	}

	for name, files := range map[string][2]string{
		"missing files":       {filepath.Join(dir, "nope.pem"), keyFile},
		"key of another kind": {certFile, certFile},
	} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := web.TLSListener(l, files[0], files[1]); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: error %v, want one about the certificate", name, err)
		}
		l.Close()
	}
}

// rawResponseOrNil writes raw to addr and returns what comes back within a
// few seconds, whatever it is.
func rawResponseOrNil(addr, raw string) string {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return ""
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, raw)
	b, _ := io.ReadAll(conn)
	return string(b)
}
