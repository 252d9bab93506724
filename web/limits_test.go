package web_test

import (
	"bytes"
	"fmt"
	"handoff/internal/testkit"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
)

// The documented bounds of a request (SECURITY.md, property 5), as
// numbers: a test that read web.MaxBodyBytes or web.MaxHeaderBytes would
// move with a change to the code's constants.
const (
	documentedBodyLimit   = 64 << 10 // bytes of request body
	documentedHeaderLimit = 8 << 10  // bytes of request line plus headers
)

// TestBodyLimit: a body over 64 KiB is refused with 413 and still carries
// the CORS headers (docs/protocol.md#limits); 64 KiB exactly is read.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	s := start(t, setup{})
	for _, path := range []string{"/poll", "/refresh", "/authorize", "/nowhere"} {
		// The server answers from the Content-Length alone. Sending the
		// body as well would race its close of the connection (a broken
		// pipe, or a reset that loses the answer).
		r := rawResponse(t, s.base, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nOrigin: %s\r\n"+
			"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", path, testPluginOrigin, documentedBodyLimit+1))
		checkError(t, r, 413, "invalid_request")
		checkCORS(t, r, testPluginOrigin)
	}

	// At the limit: read, and answered as a request without a key.
	body := "readKey=&pad=" + strings.Repeat("a", documentedBodyLimit-len("readKey=&pad="))
	r := s.do("POST", "/poll", strings.NewReader(body), "Content-Type", "application/x-www-form-urlencoded")
	checkError(t, r, 400, "invalid_request")

	// Chunked, with no Content-Length to refuse up front.
	req, _ := http.NewRequest("POST", s.base+"/poll", io.MultiReader(strings.NewReader("readKey="), strings.NewReader(strings.Repeat("a", 2*documentedBodyLimit))))
	req.ContentLength = -1
	req.Header.Set("Origin", testPluginOrigin)
	resp, err := s.client.Do(req)
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		checkError(t, response{resp.StatusCode, resp.Header, b}, 413, "invalid_request")
		checkCORS(t, response{resp.StatusCode, resp.Header, b}, testPluginOrigin)
	} else {
		t.Logf("chunked oversized body: %v", err) // the server closed the connection mid-body: refused too
	}

	// The server is still fine.
	if r := s.do("GET", "/healthz", nil); r.status != 200 {
		t.Errorf("healthz after oversized bodies: %d", r.status)
	}
}

// TestHeaderLimit: a request line plus headers over 8 KiB is refused with
// 431 or 414 (SECURITY.md, property 5).
func TestHeaderLimit(t *testing.T) {
	t.Parallel()
	s := start(t, setup{})
	big := strings.Repeat("x", documentedHeaderLimit+1)
	for name, raw := range map[string]string{
		"long header": "POST /poll HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n",
		"long URL":    "POST /poll?readKey=" + big + " HTTP/1.1\r\nHost: x\r\n\r\n",
		"many headers": "POST /poll HTTP/1.1\r\nHost: x\r\n" +
			strings.Repeat("X-Header: "+strings.Repeat("y", 90)+"\r\n", 100) + "\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			status, body := rawRequest(t, s.base, raw)
			if status != 431 && status != 414 {
				t.Fatalf("status %d, want 431 or 414: %s", status, body)
			}
		})
	}
	// Just under the limit is served.
	r := s.do("POST", "/poll?readKey=x", nil, "X-Pad", strings.Repeat("p", documentedHeaderLimit-1024))
	checkError(t, r, 400, "invalid_request")
}

// rawRequest writes raw to the server and reads the status and body.
func rawRequest(t *testing.T, base, raw string) (int, string) {
	t.Helper()
	r := rawResponse(t, base, raw)
	return r.status, string(r.body)
}

// rawResponse writes raw to the server and reads its answer.
func rawResponse(t *testing.T, base, raw string) response {
	t.Helper()
	r, err := testkit.RawExchange(base, raw)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: r.Status, header: r.Header, body: r.Body}
}

// Bodies stream: what fasthttp reads before the handler (1 KiB) is only the
// start; the rest is read as it arrives, up to 64 KiB, whatever the framing.
func TestStreamedBodiesAreReadWhole(t *testing.T) {
	s := start(t, setup{})
	key := s.authorize().ReadKey
	pad := func(n int) string { return strings.Repeat("p", n) }
	form := func(total int) string { // readKey last, the body exactly total bytes
		tail := "&readKey=" + key
		return "pad=" + pad(total-len("pad=")-len(tail)) + tail
	}
	for _, tc := range []struct {
		name, contentType, body string
		chunked                 bool
		status                  int
		code                    string
	}{
		{"a short form", "application/x-www-form-urlencoded", "readKey=" + key, false, 404, "authorization_pending"},
		{"a 20 KiB form", "application/x-www-form-urlencoded", form(20 << 10), false, 404, "authorization_pending"},
		{"a 64 KiB form", "application/x-www-form-urlencoded", form(documentedBodyLimit), false, 404, "authorization_pending"},
		{"a 20 KiB JSON body", "application/json", `{"pad":"` + pad(20<<10) + `","readKey":"` + key + `"}`, false, 404, "authorization_pending"},
		{"a chunked 20 KiB form", "application/x-www-form-urlencoded", form(20 << 10), true, 404, "authorization_pending"},
		{"a chunked 64 KiB form", "application/x-www-form-urlencoded", form(documentedBodyLimit), true, 404, "authorization_pending"},
		{"a chunked form of 64 KiB and one byte", "application/x-www-form-urlencoded", form(documentedBodyLimit + 1), true, 413, "invalid_request"},
	} {
		var body io.Reader = strings.NewReader(tc.body)
		if tc.chunked {
			body = io.MultiReader(body) // no length known: sent chunked
		}
		r := s.do("POST", "/poll", body, "Content-Type", tc.contentType, "Origin", testPluginOrigin)
		if r.status != tc.status || !strings.Contains(string(r.body), `"error":"`+tc.code+`"`) {
			t.Errorf("%s: %d %.200s, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
		}
		checkCORS(t, r, testPluginOrigin)
	}
	// A multipart body past the read-ahead.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("pad", pad(8<<10))
	mw.WriteField("readKey", key)
	mw.Close()
	r := s.do("POST", "/poll", &buf, "Content-Type", mw.FormDataContentType())
	checkError(t, r, 404, "authorization_pending")
}
