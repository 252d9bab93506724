package web_test

import (
	"strings"
	"testing"

	"handoff/internal/testkit"
)

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
