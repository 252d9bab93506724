package web_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"handoff/internal/testkit"
)

// apiServer is handoff with one app whose API_ORIGINS is up's origin, and
// extra origins, if any.
func apiServer(t *testing.T, up *testkit.Upstream, s setup, extra ...string) *server {
	t.Helper()
	s.apiOrigins = append([]string{up.Origin}, extra...)
	return start(t, s)
}

// apiPath is the /api/<host>/ form of a path on up.
func apiPath(up *testkit.Upstream, path string) string { return "/api/" + up.Addr + path }

// TestAPIForwardsRequest: method, raw path, raw query, body and the
// plugin's own headers reach the upstream as sent; the headers of the
// connection, of the plugin's page and of handoff's hosting do not
// (docs/protocol.md#api-passthrough).
func TestAPIForwardsRequest(t *testing.T) {
	t.Parallel()
	up := testkit.NewUpstream(t)
	s := apiServer(t, up, setup{})
	const token = "Bearer plugin-access-token-APITOKEN"
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		t.Run(method, func(t *testing.T) {
			var body io.Reader
			want := ""
			if method != "GET" {
				want = `{"properties":{"firstname":"Ada"}}`
				body = strings.NewReader(want)
			}
			path := "/crm/v3/objects/contacts/a%20b;v=1/c:d@e/"
			query := "limit=10&properties=a,b&after=x%2Fy&q=%C3%A9"
			r := s.do(method, apiPath(up, path)+"?"+query, body,
				"Origin", testPluginOrigin,
				"Authorization", token,
				"Notion-Version", "2022-06-28",
				"Content-Type", "application/json",
				"Accept", "application/json",
				"Accept-Encoding", "gzip, br",
				"User-Agent", "plugin-test/1",
				// None of these may pass.
				"Cookie", "session=handoff-cookie",
				"Referer", testPluginOrigin+"/page",
				"Fly-Client-IP", "203.0.113.9",
				"Fly-Region", "ams",
				"X-Forwarded-For", "203.0.113.9",
				"X-Forwarded-Proto", "https",
				"Forwarded", "for=203.0.113.9",
				"Via", "2 fly.io",
				"Proxy-Authorization", "Basic cHJveHk6cHJveHk=",
				"Keep-Alive", "timeout=5",
				"Connection", "keep-alive, X-Hop-Secret",
				"X-Hop-Secret", "hop",
				"Upgrade", "websocket",
			)
			if r.status != 200 || string(r.body) != `{"ok":true}` {
				t.Fatalf("%s: %d %s", method, r.status, r.body)
			}
			checkCORS(t, r, testPluginOrigin)
			got := up.Last(t)
			if got.Method != method || got.RequestURI != path+"?"+query {
				t.Errorf("upstream got %s %s, want %s %s?%s", got.Method, got.RequestURI, method, path, query)
			}
			if got.Host != up.Addr {
				t.Errorf("upstream Host %q, want %q", got.Host, up.Addr)
			}
			if string(got.Body) != want {
				t.Errorf("upstream body %q, want %q", got.Body, want)
			}
			for k, v := range map[string]string{
				"Authorization": token, "Notion-Version": "2022-06-28", "Accept": "application/json",
				"Accept-Encoding": "gzip, br", "User-Agent": "plugin-test/1",
			} {
				if g := got.Header.Get(k); g != v {
					t.Errorf("upstream %s %q, want %q", k, g, v)
				}
			}
			if method != "GET" && got.Header.Get("Content-Type") != "application/json" {
				t.Errorf("upstream Content-Type %q", got.Header.Get("Content-Type"))
			}
			for _, k := range []string{"Cookie", "Origin", "Referer", "Fly-Client-Ip", "Fly-Region", "X-Forwarded-For",
				"X-Forwarded-Proto", "Forwarded", "Proxy-Authorization", "Keep-Alive", "Upgrade", "X-Hop-Secret"} {
				if v := got.Header.Values(k); len(v) > 0 {
					t.Errorf("upstream received %s: %q", k, v)
				}
			}
			if v := got.Header.Values("Via"); len(v) != 1 || v[0] != "1.1 handoff" {
				t.Errorf("upstream Via %q, want handoff's own entry only", v)
			}
			if c := got.Header.Get("Connection"); c != "" && !strings.EqualFold(c, "keep-alive") {
				t.Errorf("upstream Connection %q", c)
			}
		})
	}
	// No credential of handoff's own, ever: not the client secret, not
	// the seal key's source, in any byte the upstream received.
	if raw := up.Received(); bytes.Contains(raw, []byte(testClientSecret)) || bytes.Contains(raw, []byte("SECRETMARK")) {
		t.Errorf("the client secret reached the upstream")
	}
}

// TestAPIAnswer: the upstream's status, body and headers come back, less
// hop-by-hop headers, cookies and what would act on handoff's origin, plus
// handoff's CORS headers exposing the rate-limit headers.
func TestAPIAnswer(t *testing.T) {
	t.Parallel()
	up := testkit.NewUpstream(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, `{"results":[1,2,3]}`)
	zw.Close()
	up.Answer(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Encoding", "gzip")
		h.Set("Vary", "Accept-Encoding")
		h.Set("X-RateLimit-Remaining", "99")
		h.Set("X-RateLimit-Limit", "100")
		h.Set("RateLimit-Policy", "100;w=10")
		h.Set("X-HubSpot-RateLimit-Daily", "250000")
		h.Set("Retry-After", "3")
		h.Set("X-Request-Id", "req-1")
		h.Add("Set-Cookie", "upstream=1; Path=/")
		h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		h.Set("Alt-Svc", `h3=":443"`)
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Connection", "X-Up-Hop")
		h.Set("X-Up-Hop", "1")
		h.Set("Keep-Alive", "timeout=5")
		w.WriteHeader(429)
		w.Write(gz.Bytes())
	})
	s := apiServer(t, up, setup{})
	r := s.do("GET", apiPath(up, "/v1/x"), nil, "Origin", testPluginOrigin, "Accept-Encoding", "gzip")
	if r.status != 429 {
		t.Fatalf("status %d, want the upstream's 429: %s", r.status, r.body)
	}
	// Never decompressed: the plugin gets the upstream's bytes and its
	// Content-Encoding (the browser inflates them).
	if !bytes.Equal(r.body, gz.Bytes()) || r.header.Get("Content-Encoding") != "gzip" {
		t.Errorf("body %q Content-Encoding %q: want the gzip bytes as sent", r.body, r.header.Get("Content-Encoding"))
	}
	checkCORS(t, r, testPluginOrigin)
	for k, v := range map[string]string{"Content-Type": "application/json", "X-RateLimit-Remaining": "99",
		"Retry-After": "3", "X-Request-Id": "req-1", "X-Content-Type-Options": "nosniff"} {
		if g := r.header.Get(k); g != v {
			t.Errorf("%s %q, want %q", k, g, v)
		}
	}
	if vs := strings.Join(r.header.Values("Vary"), ","); !strings.Contains(vs, "Accept-Encoding") {
		t.Errorf("Vary %q lost the upstream's Accept-Encoding", vs)
	}
	for _, k := range []string{"Set-Cookie", "Strict-Transport-Security", "Alt-Svc", "X-Up-Hop", "Keep-Alive",
		"Access-Control-Allow-Credentials"} {
		if v := r.header.Values(k); len(v) > 0 {
			t.Errorf("answer carries %s: %q", k, v)
		}
	}
	if v := r.header.Values("Access-Control-Allow-Origin"); len(v) != 1 {
		t.Errorf("Access-Control-Allow-Origin %q: want handoff's one", v)
	}
	exposed := map[string]bool{}
	for _, n := range strings.Split(r.header.Get("Access-Control-Expose-Headers"), ",") {
		exposed[strings.ToLower(strings.TrimSpace(n))] = true
	}
	for _, n := range []string{"retry-after", "x-ratelimit-remaining", "x-ratelimit-limit", "ratelimit-policy", "x-hubspot-ratelimit-daily"} {
		if !exposed[n] {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", r.header.Get("Access-Control-Expose-Headers"), n)
		}
	}
	if len(exposed) != 5 {
		t.Errorf("Access-Control-Expose-Headers %q: want the rate-limit headers only", r.header.Get("Access-Control-Expose-Headers"))
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") {
		t.Errorf("Content-Security-Policy %q: an answer opened as a page must not run on handoff's origin", csp)
	}

	// No rate-limit header, no Expose-Headers; no Content-Type invented.
	up.Answer(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	r = s.do("DELETE", apiPath(up, "/v1/x/1"), nil, "Origin", testPluginOrigin)
	if r.status != 204 || len(r.body) != 0 || r.header.Get("Access-Control-Expose-Headers") != "" {
		t.Errorf("204: %d %q %v", r.status, r.body, r.header)
	}
}

// TestAPIRedirectNotFollowed: a 3xx comes back as it is; handoff does not
// go where it points.
func TestAPIRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	up := testkit.NewUpstream(t)
	up.Answer(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	s := apiServer(t, up, setup{})
	r := s.do("GET", apiPath(up, "/moved"), nil, "Origin", testPluginOrigin)
	if r.status != 302 || r.header.Get("Location") != "http://169.254.169.254/latest/meta-data/" {
		t.Errorf("%d Location %q: want the 302 passed back", r.status, r.header.Get("Location"))
	}
	if n := up.Reqs.Load(); n != 1 {
		t.Errorf("the upstream got %d requests, want 1", n)
	}
}

// TestAPIHead: HEAD is forwarded and answers the upstream's headers.
func TestAPIHead(t *testing.T) {
	t.Parallel()
	up := testkit.NewUpstream(t)
	up.Answer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1234")
		w.Header().Set("X-RateLimit-Remaining", "7")
	})
	s := apiServer(t, up, setup{})
	r := s.do("HEAD", apiPath(up, "/file"), nil, "Origin", testPluginOrigin)
	if r.status != 200 || r.header.Get("X-RateLimit-Remaining") != "7" || r.header.Get("Content-Length") != "1234" {
		t.Errorf("HEAD: %d %v", r.status, r.header)
	}
	if got := up.Last(t); got.Method != "HEAD" {
		t.Errorf("upstream got %s", got.Method)
	}
}

// TestAPIRootForm: /?<URL> is the cors-proxy form Framer's HubSpot plugin
// uses; / without such a query answers as it always did.
func TestAPIRootForm(t *testing.T) {
	t.Parallel()
	up := testkit.NewUpstream(t)
	s := apiServer(t, up, setup{})
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		r := s.do(m, "/?"+up.Origin+"/cms/v3/blogs/posts?limit=10&properties=a,b", strings.NewReader("{}"),
			"Origin", testPluginOrigin, "Authorization", "Bearer x")
		if r.status != 200 {
			t.Fatalf("%s /?URL: %d %s", m, r.status, r.body)
		}
		checkCORS(t, r, testPluginOrigin)
		if got := up.Last(t); got.Method != m || got.RequestURI != "/cms/v3/blogs/posts?limit=10&properties=a,b" {
			t.Errorf("upstream got %s %s", got.Method, got.RequestURI)
		}
	}
	r := s.do("GET", "/?"+up.Origin, nil)
	if r.status != 200 || up.Last(t).RequestURI != "/" {
		t.Errorf("/?origin: %d, upstream saw %q", r.status, up.Last(t).RequestURI)
	}

	// / itself is untouched: the up line, with or without a query that is
	// not a URL; other methods 405.
	for _, target := range []string{"/", "/?1700000000", "/?readKey=x", "/?t=12:30"} {
		r := s.do("GET", target, nil)
		if r.status != 200 || string(r.body) != "handoff is up and running." {
			t.Errorf("GET %s: %d %q", target, r.status, r.body)
		}
	}
	for _, r := range []response{s.do("POST", "/", nil), s.do("DELETE", "/?x=1", nil)} {
		checkError(t, r, 405, "method_not_allowed")
		if got := r.header.Get("Allow"); got != "GET, HEAD, OPTIONS" {
			t.Errorf("405 from /: Allow %q, want the methods / answers without a URL: GET, HEAD, OPTIONS", got)
		}
	}
}

// TestAPIContentEncodingPasses: a compressed request body goes to the
// upstream as bytes with its Content-Encoding (handoff's own routes refuse
// it with 415: they would have to read it).
func TestAPIContentEncodingPasses(t *testing.T) {
	t.Parallel()
	up := testkit.NewUpstream(t)
	s := apiServer(t, up, setup{})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, strings.Repeat(`{"a":1}`, 1000))
	zw.Close()
	r := s.do("POST", apiPath(up, "/in"), bytes.NewReader(gz.Bytes()), "Content-Encoding", "gzip", "Content-Type", "application/json")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if got := up.Last(t); !bytes.Equal(got.Body, gz.Bytes()) || got.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("upstream got %d bytes with Content-Encoding %q, want the gzip bytes as sent", len(got.Body), got.Header.Get("Content-Encoding"))
	}
	checkError(t, s.do("POST", "/poll", bytes.NewReader(gz.Bytes()), "Content-Encoding", "gzip"), 415, "invalid_request")
}

// TestAPILog: one request line naming the upstream host and status, never
// the path, the query, the token or the body.
func TestAPILog(t *testing.T) {
	t.Parallel()
	up := testkit.NewUpstream(t)
	up.Answer(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201); io.WriteString(w, "ANSWERBODY") })
	var logs testkit.Buffer
	s := apiServer(t, up, setup{logger: textLogger(&logs, slog.LevelDebug)})
	s.do("POST", apiPath(up, "/users/PATHSECRET?key=QUERYSECRET"), strings.NewReader("BODYSECRET"),
		"Authorization", "Bearer TOKENSECRET")
	s.do("GET", "/?"+up.Origin+"/users/PATHSECRET?key=QUERYSECRET", nil, "Authorization", "Bearer TOKENSECRET")
	out := logs.String()
	for _, secret := range []string{"PATHSECRET", "QUERYSECRET", "BODYSECRET", "TOKENSECRET", "ANSWERBODY"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %s:\n%s", secret, out)
		}
	}
	if n := strings.Count(out, "upstream="+up.Addr); n != 2 || !strings.Contains(out, "status=201") {
		t.Errorf("want two request lines naming upstream=%s and the status:\n%s", up.Addr, out)
	}
}

// TestAPIStreamsAnswer: an answer larger than any buffer passes whole, in
// order, chunked or with its length.
func TestAPIStreamsAnswer(t *testing.T) {
	t.Parallel()
	up := testkit.NewUpstream(t)
	const size = 8 << 20
	up.Answer(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("len") == "1" {
			w.Header().Set("Content-Length", fmt.Sprint(size))
		}
		buf := make([]byte, 32<<10)
		for sent := 0; sent < size; sent += len(buf) {
			for i := range buf {
				buf[i] = byte(sent/len(buf) + i)
			}
			w.Write(buf)
		}
	})
	s := apiServer(t, up, setup{})
	for _, q := range []string{"?len=1", "?len=0"} {
		r := s.do("GET", apiPath(up, "/big")+q, nil)
		if r.status != 200 || len(r.body) != size {
			t.Fatalf("%s: %d, %d bytes", q, r.status, len(r.body))
		}
		for i := 0; i < size; i += 32 << 10 {
			if r.body[i] != byte(i/(32<<10)) {
				t.Fatalf("%s: byte %d is %d", q, i, r.body[i])
			}
		}
	}
}
