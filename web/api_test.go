package web_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
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

// TestAPIRefusals: every target that is not exactly a listed origin, or
// whose path could climb or mean something else to another parser, is 403
// invalid_request, and no connection is made: not to the listed upstream,
// not to any other (docs/protocol.md#api-passthrough).
func TestAPIRefusals(t *testing.T) {
	t.Parallel()
	listed := testkit.NewUpstream(t)
	other := testkit.NewUpstream(t) // not listed: must never see a connection
	_, listedPort, _ := strings.Cut(listed.Addr, ":")
	_, otherPort, _ := strings.Cut(other.Addr, ":")
	s := apiServer(t, listed, setup{}, "https://api.hubapi.com")
	for _, tc := range []struct {
		name, target string
		status       int
	}{
		{"another host", "/api/" + other.Addr + "/x", 403},
		{"another host, /? form", "/?http://" + other.Addr + "/x", 403},
		{"another port", "/api/127.0.0.1:" + otherPort + "/x", 403},
		{"no port", "/api/127.0.0.1/x", 403},
		{"another scheme", "/?https://" + listed.Addr + "/x", 403},
		{"ftp", "/?ftp://" + listed.Addr + "/x", 403},
		{"scheme-relative", "/?//" + listed.Addr + "/x", 403},
		{"percent-encoded URL", "/?http%3A%2F%2F" + listed.Addr + "%2Fx", 403},
		{"https origin over http", "/?http://api.hubapi.com/x", 403},
		{"localhost for 127.0.0.1", "/api/localhost:" + listedPort + "/x", 403},
		{"decimal IP", "/api/2130706433:" + listedPort + "/x", 403},
		{"hex IP", "/api/0x7f.0.0.1:" + listedPort + "/x", 403},
		{"short IP", "/api/127.1:" + listedPort + "/x", 403},
		{"IPv4-mapped IPv6", "/api/[::ffff:127.0.0.1]:" + listedPort + "/x", 403},
		{"IPv6 literal not listed", "/api/[::1]:" + listedPort + "/x", 403},
		{"IPv6 literal not listed, /? form", "/?http://[::1]:" + listedPort + "/x", 403},
		{"trailing dot", "/api/api.hubapi.com./x", 403},
		{"trailing dot, /? form", "/?https://api.hubapi.com./x", 403},
		{"userinfo", "/api/user:pass@" + listed.Addr + "/x", 403},
		{"userinfo, /? form", "/?http://user@" + listed.Addr + "/x", 403},
		{"@ to another host", "/?http://" + listed.Addr + "@" + other.Addr + "/x", 403},
		{"@ to another host, /api form", "/api/" + listed.Addr + "@" + other.Addr + "/x", 403},
		{"encoded host", "/api/127.0.0.1%3A" + listedPort + "/x", 403},
		{"empty host", "/api//x", 403},
		{"no host at all", "/api/", 403},
		{"dot-dot", "/api/" + listed.Addr + "/a/../../" + other.Addr + "/x", 403},
		{"dot-dot at the end", "/api/" + listed.Addr + "/a/..", 403},
		{"dot segment", "/api/" + listed.Addr + "/./x", 403},
		{"encoded dot-dot", "/api/" + listed.Addr + "/%2e%2e/x", 403},
		{"encoded dot-dot, upper case", "/api/" + listed.Addr + "/%2E%2E/x", 403},
		{"half-encoded dot-dot", "/api/" + listed.Addr + "/.%2e/x", 403},
		{"encoded slash", "/api/" + listed.Addr + "/a%2F..%2Fb", 403},
		{"encoded slash in the /? form", "/?http://" + listed.Addr + "/a%2fb", 403},
		{"encoded backslash", "/api/" + listed.Addr + "/a%5Cb", 403},
		{"backslash in the path", "/api/" + listed.Addr + "/a\\b", 403},
		{"backslash after the host", "/?http://" + listed.Addr + "\\@" + other.Addr + "/x", 403},
		{"backslash in the query", "/api/" + listed.Addr + "/x?a=\\", 403},
		{"empty segment", "/api/" + listed.Addr + "//x", 403},
		{"encoded NUL", "/api/" + listed.Addr + "/a%00b", 403},
		{"bad percent", "/api/" + listed.Addr + "/a%zz", 403},
		{"climbing out of /api", "/api/../" + listed.Addr + "/x", 403},
		{"fragment", "/api/" + listed.Addr + "/x#frag", 403},
		{"https listed, http asked", "/?http://api.hubapi.com/x", 403},
		{"encoded /api prefix", "/api%2F" + listed.Addr + "/x", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rawResponse(t, s.base, "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\nOrigin: "+testPluginOrigin+
				"\r\nAuthorization: Bearer t\r\nConnection: close\r\n\r\n")
			code := "invalid_request"
			if tc.status == 404 {
				code = "not_found"
			}
			checkError(t, r, tc.status, code)
			checkCORS(t, r, testPluginOrigin)
		})
	}
	if n := listed.Conns.Load(); n != 0 {
		t.Errorf("refused requests opened %d connections to the listed upstream", n)
	}
	if n := other.Conns.Load(); n != 0 {
		t.Errorf("refused requests opened %d connections to an unlisted host", n)
	}

	// What is allowed in a path: '@', ':', ';', '=' and encodings other
	// than '/', '\' and '.' stay on the listed host.
	r := s.do("GET", "/api/"+listed.Addr+"/@"+other.Addr+"/a:b;c=d/%40%20", nil)
	if r.status != 200 || listed.Last(t).RequestURI != "/@"+other.Addr+"/a:b;c=d/%40%20" {
		t.Errorf("a path with @: %d, upstream saw %q", r.status, listed.Last(t).RequestURI)
	}
	if n := other.Conns.Load(); n != 0 {
		t.Errorf("a path with @ reached another host")
	}
}

// TestAPIMethods: CONNECT and TRACE are never forwarded (405); an unknown
// method is 405 naming the methods that are.
func TestAPIMethods(t *testing.T) {
	t.Parallel()
	up := testkit.NewUpstream(t)
	s := apiServer(t, up, setup{})
	for _, m := range []string{"TRACE", "CONNECT", "PROPFIND"} {
		r := rawResponse(t, s.base, m+" "+apiPath(up, "/x")+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		checkError(t, r, 405, "method_not_allowed")
		if m == "PROPFIND" && r.header.Get("Allow") != "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH" {
			t.Errorf("PROPFIND Allow %q", r.header.Get("Allow"))
		}
	}
	if n := up.Conns.Load(); n != 0 {
		t.Errorf("%d connections to the upstream", n)
	}
}

// TestAPIPreflight: OPTIONS allows the forwarded methods and echoes the
// requested headers (Notion-Version), for both forms; nothing reaches the
// upstream. A target the call will refuse passes the preflight, so that
// the plugin can read the call's 403.
func TestAPIPreflight(t *testing.T) {
	t.Parallel()
	up := testkit.NewUpstream(t)
	s := apiServer(t, up, setup{})
	for _, target := range []string{apiPath(up, "/v1/pages"), "/?" + up.Origin + "/v1/pages?x=1"} {
		r := s.do("OPTIONS", target, nil, "Origin", testPluginOrigin, "Access-Control-Request-Method", "PATCH",
			"Access-Control-Request-Headers", "authorization,content-type,notion-version")
		if r.status != 204 {
			t.Fatalf("OPTIONS %s: %d %s", target, r.status, r.body)
		}
		checkCORS(t, r, testPluginOrigin)
		if g := r.header.Get("Access-Control-Allow-Methods"); g != "GET, POST, PUT, PATCH, DELETE" {
			t.Errorf("Allow-Methods %q", g)
		}
		if g := r.header.Get("Access-Control-Allow-Headers"); g != "authorization,content-type,notion-version" {
			t.Errorf("Allow-Headers %q", g)
		}
		if g := r.header.Get("Access-Control-Max-Age"); g != "86400" {
			t.Errorf("Max-Age %q", g)
		}
	}
	for _, target := range []string{"/api/example.com/x", "/?https://example.com/x"} {
		r := s.do("OPTIONS", target, nil, "Origin", testPluginOrigin, "Access-Control-Request-Method", "GET")
		if r.status != 204 || r.header.Get("Access-Control-Allow-Methods") != "GET, POST, PUT, PATCH, DELETE" {
			t.Errorf("OPTIONS %s: %d %v", target, r.status, r.header)
		}
		checkCORS(t, r, testPluginOrigin)
	}
	r := s.do("OPTIONS", "/?x=1", nil, "Origin", testPluginOrigin, "Access-Control-Request-Method", "GET")
	// The routes' own preflight is unchanged, / without a URL included.
	if r.status != 204 || r.header.Get("Access-Control-Allow-Methods") != "GET, POST, OPTIONS" {
		t.Errorf("/?x=1 preflight: %v", r.header)
	}
	r = s.do("OPTIONS", "/poll", nil, "Origin", testPluginOrigin, "Access-Control-Request-Method", "POST")
	if r.header.Get("Access-Control-Allow-Methods") != "GET, POST, OPTIONS" {
		t.Errorf("/poll preflight: %v", r.header)
	}
	if n := up.Conns.Load(); n != 0 {
		t.Errorf("preflights opened %d connections to the upstream", n)
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
	checkError(t, s.do("POST", "/", nil), 405, "method_not_allowed")
	checkError(t, s.do("DELETE", "/?x=1", nil), 405, "method_not_allowed")
}

// TestAPIOff: without API origins the routes do not exist.
func TestAPIOff(t *testing.T) {
	t.Parallel()
	up := testkit.NewUpstream(t)
	s := start(t, setup{})
	checkError(t, s.do("GET", apiPath(up, "/x"), nil), 404, "not_found")
	checkError(t, s.do("GET", "/?"+up.Origin+"/x", nil), 404, "not_found")
	if r := s.do("GET", "/", nil); r.status != 200 {
		t.Errorf("GET /: %d", r.status)
	}
	if n := up.Conns.Load(); n != 0 {
		t.Errorf("%d connections to the upstream", n)
	}
}

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
		logger: slog.New(slog.NewTextHandler(&logs, nil))}, closed.Origin)
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

// TestAPILog: one request line naming the upstream host and status, never
// the path, the query, the token or the body.
func TestAPILog(t *testing.T) {
	t.Parallel()
	up := testkit.NewUpstream(t)
	up.Answer(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201); io.WriteString(w, "ANSWERBODY") })
	var logs testkit.Buffer
	s := apiServer(t, up, setup{logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
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
