package security

// SECURITY.md property 8: a request body is never decompressed. A Content-Encoding other
// than identity, on any route, gets 415 invalid_request with the CORS
// headers; the body is not read, so a decompression bomb costs nothing.
// Handoff used to inflate bodies as Content-Encoding said, with no limit: a
// 1.4 KB double-gzip body became 256 MB.

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"testing"

	"handoff/internal/testkit"
)

const testOrigin = "http://localhost:3000" // a loopback origin: always allowed, echoed

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return buf.Bytes()
}

func deflated(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// zeros is an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// gzipBomb is n zero bytes gzipped layers times: 256 MB in two layers is
// 1.4 KB.
func gzipBomb(t testing.TB, n int64, layers int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if _, err := io.CopyN(w, zeros{}, n); err != nil {
		t.Fatal(err)
	}
	w.Close()
	b := buf.Bytes()
	for range layers - 1 {
		b = gzipped(t, b)
	}
	return b
}

// multipartBody is a FormData body with one field, as fetch sends it.
func multipartBody(t testing.TB, name, value string) (contentType string, body []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField(name, value)
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

func sendEncoded(t *testing.T, h *handoff, method, path, contentType, encoding string, body []byte) resp {
	t.Helper()
	req, err := http.NewRequest(method, h.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", testOrigin)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	return h.client.do(t, req)
}

func TestCompressedBodiesAre415(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	_, h := startBinaryFor(t, p, nil)
	l := h.authorize(t)
	form := []byte("readKey=" + url.QueryEscape(l.readKey))
	mpType, mpBody := multipartBody(t, "readKey", l.readKey)
	const formType = "application/x-www-form-urlencoded"

	// Each of these, decompressed, is a poll of a pending login (404
	// authorization_pending), as handoff answered before.
	for _, tc := range []struct {
		name, encoding, contentType string
		body                        []byte
	}{
		{"gzip", "gzip", formType, gzipped(t, form)},
		{"gzip in capitals", "GZIP", formType, gzipped(t, form)},
		{"deflate", "deflate", formType, deflated(t, form)},
		{"two layers", "gzip, gzip", formType, gzipped(t, gzipped(t, form))},
		{"identity then gzip", "identity, gzip", formType, gzipped(t, form)},
		{"gzip, spaced", " gzip ", formType, gzipped(t, form)},
		{"x-gzip", "x-gzip", formType, gzipped(t, form)},
		{"br, not even brotli", "br", formType, form},
		{"zstd, not even zstd", "zstd", formType, form},
		{"an unknown coding", "x-handoff-test", formType, form},
		{"gzip multipart", "gzip", mpType, gzipped(t, mpBody)},
	} {
		r := sendEncoded(t, h, "POST", "/poll", tc.contentType, tc.encoding, tc.body)
		wantCode(t, "/poll with Content-Encoding "+tc.name, r, 415, "invalid_request")
		if r.header.Get("Access-Control-Allow-Origin") != testOrigin {
			t.Errorf("/poll with Content-Encoding %s: the 415 lacks the CORS headers: %v", tc.name, r.header)
		}
	}

	// Every route, and paths that are none.
	gz := gzipped(t, []byte("refresh_token=x"))
	for _, tc := range []struct{ method, path string }{
		{"POST", "/refresh"},
		{"POST", "/authorize"},
		{"GET", "/redirect?state=x&code=y"},
		{"GET", "/healthz"},
		{"GET", "/"},
		{"OPTIONS", "/poll"},
		{"POST", "/nope"},
	} {
		r := sendEncoded(t, h, tc.method, tc.path, formType, "gzip", gz)
		wantCode(t, tc.method+" "+tc.path+" with a gzip body", r, 415, "invalid_request")
		if r.header.Get("Access-Control-Allow-Origin") != testOrigin {
			t.Errorf("%s %s: the 415 lacks the CORS headers: %v", tc.method, tc.path, r.header)
		}
	}

	// identity is no compression: read as it is.
	for _, enc := range []string{"identity", "IDENTITY", "identity, identity"} {
		wantCode(t, "a form body with Content-Encoding "+enc,
			sendEncoded(t, h, "POST", "/poll", formType, enc, form), 404, "authorization_pending")
	}
	wantCode(t, "a multipart body with Content-Encoding identity",
		sendEncoded(t, h, "POST", "/poll", mpType, "identity", mpBody), 404, "authorization_pending")
	wantCode(t, "a plain form body", sendEncoded(t, h, "POST", "/poll", formType, "", form), 404, "authorization_pending")
}

// A decompression bomb is refused unread: the server's peak resident memory
// stays under 64 MB. Handoff used to inflate it: 256 MB for one request.
func TestDecompressionBombsAreNotInflated(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	proc, h := startBinaryFor(t, p, nil)
	pid := proc.Cmd.Process.Pid
	twoLayers := gzipBomb(t, 256<<20, 2) // 1.4 KB
	oneLayer := gzipBomb(t, 48<<20, 1)   // 61 KB, under the 64 KiB body limit
	mpType, _ := multipartBody(t, "readKey", "x")
	for _, tc := range []struct {
		path, contentType, encoding string
		body                        []byte
	}{
		{"/poll", "application/x-www-form-urlencoded", "gzip, gzip", twoLayers},
		{"/refresh", "application/json", "gzip, gzip", twoLayers},
		{"/poll", mpType, "gzip", oneLayer}, // fasthttp's MultipartForm gunzips
		{"/refresh", mpType, "gzip", oneLayer},
	} {
		r := sendEncoded(t, h, "POST", tc.path, tc.contentType, tc.encoding, tc.body)
		wantCode(t, tc.path+" with a "+tc.encoding+" bomb as "+tc.contentType, r, 415, "invalid_request")
	}
	if peak := testkit.StatusKB(t, pid, "VmHWM"); peak > memoryCeilingKB {
		t.Errorf("the server's resident memory peaked at %d kB, over %d kB", peak, memoryCeilingKB)
	} else {
		t.Logf("peak resident memory %d kB", peak)
	}
	if r := h.client.get(t, h.URL+"/healthz"); r.status != 200 {
		t.Errorf("/healthz after the bombs: %v", r)
	}
}
