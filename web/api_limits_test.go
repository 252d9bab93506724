package web_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"handoff/internal/testkit"
	"handoff/web"
)

// TestAPIBodyLimit: the passthrough's limit is API_MAX_BODY, checked on the
// declared length before any byte is read and on a chunked body as it
// streams; handoff's own routes keep 64 KiB.
func TestAPIBodyLimit(t *testing.T) {
	t.Parallel()
	up := testkit.NewUpstream(t)
	const limit = 256 << 10
	s := apiServer(t, up, setup{api: web.APIOptions{MaxBody: limit}})

	// Over 64 KiB, within API_MAX_BODY: streamed to the upstream whole.
	big := bytes.Repeat([]byte("0123456789abcdef"), (200<<10)/16)
	r := s.do("POST", apiPath(up, "/upload"), bytes.NewReader(big), "Content-Type", "application/octet-stream")
	if r.status != 200 || !bytes.Equal(up.Last(t).Body, big) {
		t.Fatalf("200 KiB body: %d, upstream got %d bytes", r.status, len(up.Last(t).Body))
	}
	// Chunked, within the limit.
	req, _ := http.NewRequest("PUT", s.base+apiPath(up, "/upload"), io.MultiReader(bytes.NewReader(big)))
	req.ContentLength = -1
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(up.Last(t).Body, big) {
		t.Errorf("chunked 200 KiB: %d, upstream got %d bytes", resp.StatusCode, len(up.Last(t).Body))
	}

	before := up.Reqs.Load()
	r = rawResponse(t, s.base, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nOrigin: %s\r\nContent-Length: %d\r\n\r\n",
		apiPath(up, "/upload"), testPluginOrigin, limit+1))
	checkError(t, r, 413, "invalid_request")
	checkCORS(t, r, testPluginOrigin)
	if !strings.Contains(string(r.body), "API_MAX_BODY") {
		t.Errorf("413 body %s does not name API_MAX_BODY", r.body)
	}
	if up.Reqs.Load() != before {
		t.Errorf("a declared oversized body reached the upstream")
	}

	// Chunked past the limit: 413, or the connection cut mid-body.
	req, _ = http.NewRequest("POST", s.base+apiPath(up, "/upload"), io.MultiReader(bytes.NewReader(big), bytes.NewReader(big)))
	req.ContentLength = -1
	if resp, err := s.client.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		checkError(t, response{resp.StatusCode, resp.Header, b}, 413, "invalid_request")
	}

	// handoff's own routes: 64 KiB still.
	r = rawResponse(t, s.base, fmt.Sprintf("POST /poll HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", web.MaxBodyBytes+1))
	checkError(t, r, 413, "invalid_request")
	if strings.Contains(string(r.body), "API_MAX_BODY") {
		t.Errorf("/poll's 413 names API_MAX_BODY: %s", r.body)
	}
}

// TestAPITimeoutAndUnreachable: an upstream slower than API_TIMEOUT is 504,
// one that refuses connections 502, both JSON errors with CORS headers.
func TestAPITimeoutAndUnreachable(t *testing.T) {
	t.Parallel()
	up := testkit.NewUpstream(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	up.Answer(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	closed := testkit.NewUpstream(t)
	closed.Origin = "http://" + freeAddr(t)
	var logs testkit.Buffer
	s := apiServer(t, up, setup{api: web.APIOptions{Timeout: 300 * time.Millisecond},
		logger: textLogger(&logs, slog.LevelInfo)}, closed.Origin)
	r := s.do("GET", apiPath(up, "/slow?token=QUERYSECRET"), nil, "Origin", testPluginOrigin)
	checkError(t, r, 504, "temporarily_unavailable")
	checkCORS(t, r, testPluginOrigin)
	r = s.do("GET", "/api/"+strings.TrimPrefix(closed.Origin, "http://")+"/x", nil, "Origin", testPluginOrigin)
	checkError(t, r, 502, "server_error")
	checkCORS(t, r, testPluginOrigin)
	if strings.Contains(logs.String(), "QUERYSECRET") || strings.Contains(logs.String(), "/slow") {
		t.Errorf("the log holds the path or query:\n%s", logs.String())
	}
}

// freeAddr is a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
}

// TestAPIRateLimit: with RATE_LIMIT on, 1,200 passthrough requests a
// minute per client IP (both forms together), plus the few earned back
// while they are sent, then 429 slow_down, which reaches no upstream.
func TestAPIRateLimit(t *testing.T) {
	t.Parallel()
	up := testkit.NewUpstream(t)
	s := apiServer(t, up, setup{rateLimit: true})
	begin := time.Now()
	for n := 0; n < 2*web.APIIPLimit; n++ {
		target := apiPath(up, "/x")
		if n%2 == 1 {
			target = "/?" + up.Origin + "/x"
		}
		r := s.do("GET", target, nil)
		if r.status == 200 {
			continue
		}
		checkError(t, r, 429, "slow_down")
		earned := int(time.Since(begin) / (time.Minute / web.APIIPLimit))
		if n < web.APIIPLimit || n > web.APIIPLimit+earned+1 {
			t.Fatalf("refused after %d requests in %v, want %d (+%d earned back)", n, time.Since(begin), web.APIIPLimit, earned)
		}
		if got := up.Reqs.Load(); got != int64(n) {
			t.Errorf("the upstream got %d requests, want the %d allowed", got, n)
		}
		// handoff's own routes have their own budgets.
		if r := s.do("POST", "/authorize", nil); r.status != 200 {
			t.Errorf("/authorize after the API limit: %d", r.status)
		}
		return
	}
	t.Fatalf("%d requests, none refused", 2*web.APIIPLimit)
}

// TestAPIBrokenBody: a plugin body that breaks off before its declared
// length is the plugin's failure (400), not the upstream's (502).
func TestAPIBrokenBody(t *testing.T) {
	t.Parallel()
	up := testkit.NewUpstream(t)
	s := apiServer(t, up, setup{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "POST "+apiPath(up, "/in")+" HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("a", 5000))
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	checkError(t, response{resp.StatusCode, resp.Header, b}, 400, "invalid_request")
}

// TestAPILoop: a deployment that lists its own origin forwards to itself
// once; a call that already came through a handoff's passthrough is 508,
// so /api/<self>/api/<self>/… cannot chain hops.
func TestAPILoop(t *testing.T) {
	t.Parallel()
	s := start(t, setup{apiSelf: true})
	self := strings.TrimPrefix(s.base, "http://")
	if r := s.do("GET", "/api/"+self+"/healthz", nil); r.status != 200 || string(r.body) != `{"status":"ok"}` {
		t.Errorf("one hop: %d %s", r.status, r.body)
	}
	r := s.do("GET", "/api/"+self+"/api/"+self+"/api/"+self+"/healthz", nil)
	if r.status != 508 || !strings.Contains(string(r.body), "invalid_request") {
		t.Errorf("a loop: %d %s", r.status, r.body)
	}
	r = s.do("GET", "/?"+s.base+"/?"+s.base+"/healthz", nil, "Via", "1.0 corp-proxy")
	if r.status != 508 {
		t.Errorf("a loop through /?: %d %s", r.status, r.body)
	}
}
