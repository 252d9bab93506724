package web_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"handoff/internal/testkit"
	"handoff/web"
)

// TestAPIOrigin: what API_ORIGINS admits (docs/protocol.md#api-passthrough).
func TestAPIOrigin(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://api.hubapi.com":       "https://api.hubapi.com",
		"https://API.Notion.com/":      "https://api.notion.com",
		"https://api.example.com:443":  "https://api.example.com",
		"https://api.example.com:8443": "https://api.example.com:8443",
		"http://127.0.0.1:8080":        "http://127.0.0.1:8080",
		"http://127.3.4.5":             "http://127.3.4.5",
		"http://localhost:9000":        "http://localhost:9000",
		"http://[::1]:9000":            "http://[::1]:9000",
		"https://localhost:8443":       "https://localhost:8443",
		" https://api.hubapi.com ":     "https://api.hubapi.com",
	} {
		if got, err := web.APIOrigin(in); err != nil || got != want {
			t.Errorf("APIOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", "api.hubapi.com", "ftp://api.hubapi.com", "http://api.hubapi.com", "http://10.0.0.1",
		"http://169.254.169.254", "http://0.0.0.0:80", "http://[::ffff:10.0.0.1]", "http://127.1",
		"https://1.2.3.4", "https://[2001:4860::1]", "https://api.hubapi.com.", "https://user@api.hubapi.com",
		"https://api.hubapi.com/v3", "https://api.hubapi.com?x", "https://api.hubapi.com:0",
		"https://api.hubapi.com:99999", "https://api_hub.com", "https://*.hubapi.com",
	} {
		if got, err := web.APIOrigin(in); err == nil {
			t.Errorf("APIOrigin(%q) = %q, want an error", in, got)
		} else if in != "" && strings.Contains(err.Error(), in) {
			t.Errorf("APIOrigin(%q): the error quotes the value: %v", in, err)
		}
	}
}

// TestPublicAddr: the addresses a public API origin's name may resolve to
// and be dialled.
func TestPublicAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"104.16.0.1": true, "2606:4700::1": true, "8.8.8.8": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fdaa:0:1::3": false, "fc00::1": false,
		"0.0.0.0": false, "::": false, "100.64.0.1": false, "224.0.0.1": false, "255.255.255.255": false,
		"::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "64:ff9b::a00:1": false, "64:ff9b::808:808": true,
		"2002:a00:1::": false, "198.18.0.1": false, "192.0.2.1": false, "240.0.0.1": false,
	} {
		if got := web.PublicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("publicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestAPIDialGuard: a listed public origin whose name resolves into the
// machine or its private network (DNS rebinding, a misconfigured record)
// is never dialled: 502, and no connection. Not parallel: it replaces the
// resolver.
func TestAPIDialGuard(t *testing.T) {
	up := testkit.NewUpstream(t)
	_, port, _ := strings.Cut(up.Addr, ":")
	restore := web.SetLookupIP(func(ctx context.Context, host string) ([]netip.Addr, error) {
		if host == "rebind.example" {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.0.0.1"),
				netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("::ffff:127.0.0.1")}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	})
	defer restore()
	s := start(t, setup{apiOrigins: []string{"https://rebind.example:" + port, "https://nxdomain.example"},
		api: web.APIOptions{Timeout: 2 * time.Second}})
	checkError(t, s.do("GET", "/api/rebind.example:"+port+"/x", nil), 502, "server_error")
	checkError(t, s.do("GET", "/?https://rebind.example:"+port+"/x", nil), 502, "server_error")
	checkError(t, s.do("GET", "/api/nxdomain.example/x", nil), 502, "server_error")
	if n := up.Conns.Load(); n != 0 {
		t.Errorf("%d connections to a loopback address for a public origin", n)
	}
}

// TestAPISeveralApps: with APPS, each app's passthrough is under /{app}/api/
// with its own origins; /?<URL> at the root takes the union, answering with
// the CORS rules of an app that lists the origin and admits the plugin.
func TestAPISeveralApps(t *testing.T) {
	t.Parallel()
	hubUp, notionUp := testkit.NewUpstream(t), testkit.NewUpstream(t)
	s := startApps(t,
		web.App{Name: "hubspot-plugin", CORS: web.CORS{PluginID: "hub123", ParentDomain: parentDomain}, APIOrigins: []string{hubUp.Origin}},
		web.App{Name: "notion-plugin", CORS: web.CORS{PluginID: "not456", ParentDomain: parentDomain}, APIOrigins: []string{notionUp.Origin}},
		web.App{Name: "sheets", CORS: web.CORS{PluginID: "sheet9", ParentDomain: parentDomain}})
	hub, notion := "https://hub123.plugins.framercdn.com", "https://not456.plugins.framercdn.com"

	r := s.do("GET", "/hubspot-plugin/api/"+hubUp.Addr+"/crm", nil, "Origin", hub)
	if r.status != 200 || hubUp.Last(t).RequestURI != "/crm" {
		t.Fatalf("hubspot app: %d %s", r.status, r.body)
	}
	checkCORS(t, r, hub)
	// Each app reaches its own origins only.
	checkError(t, s.do("GET", "/hubspot-plugin/api/"+notionUp.Addr+"/v1", nil), 403, "invalid_request")
	checkError(t, s.do("GET", "/sheets/api/"+hubUp.Addr+"/crm", nil), 404, "not_found")
	checkError(t, s.do("GET", "/sheets/?"+hubUp.Origin+"/crm", nil), 404, "not_found")
	// No /api/ at the root with APPS.
	checkError(t, s.do("GET", "/api/"+hubUp.Addr+"/crm", nil), 404, "not_found")
	// An app's /?<URL> form: its own origins.
	r = s.do("GET", "/notion-plugin/?"+notionUp.Origin+"/v1/users", nil, "Origin", notion)
	if r.status != 200 || notionUp.Last(t).RequestURI != "/v1/users" {
		t.Fatalf("notion app /?URL: %d %s", r.status, r.body)
	}
	checkCORS(t, r, notion)
	checkError(t, s.do("GET", "/notion-plugin/?"+hubUp.Origin+"/crm", nil), 403, "invalid_request")

	// The root /?<URL>: the union, with the listing app's CORS rules.
	r = s.do("GET", "/?"+notionUp.Origin+"/v1/search", nil, "Origin", notion)
	if r.status != 200 || notionUp.Last(t).RequestURI != "/v1/search" {
		t.Fatalf("root /?URL: %d %s", r.status, r.body)
	}
	checkCORS(t, r, notion)
	r = s.do("GET", "/?"+hubUp.Origin+"/crm", nil, "Origin", hub)
	checkCORS(t, r, hub)
	// A refusal at the root is readable by any app's plugin.
	r = s.do("GET", "/?http://"+freeAddr(t)+"/x", nil, "Origin", hub)
	checkError(t, r, 403, "invalid_request")
	checkCORS(t, r, hub)
	// The root is otherwise as before.
	if r := s.do("GET", "/", nil); r.status != 200 || string(r.body) != "handoff is up and running." {
		t.Errorf("GET /: %d %q", r.status, r.body)
	}
	// OPTIONS preflight at the root for the union.
	r = s.do("OPTIONS", "/?"+hubUp.Origin+"/crm", nil, "Origin", hub, "Access-Control-Request-Method", "DELETE")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Methods") != "GET, POST, PUT, PATCH, DELETE" {
		t.Errorf("root preflight: %d %v", r.status, r.header)
	}
	checkCORS(t, r, hub)
}

// TestReservedAPIPath: no redirect route may sit under <base>api/.
func TestReservedAPIPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		app, path string
		want      bool
	}{
		{"", "/api/callback", true}, {"", "/API", true}, {"", "/apis/callback", false},
		{"hub", "/hub/api/cb", true}, {"hub", "/hub/apix", false}, {"", "/redirect", false},
	} {
		if got := web.ReservedPath(tc.app, tc.path); got != tc.want {
			t.Errorf("ReservedPath(%q, %q) = %v, want %v", tc.app, tc.path, got, tc.want)
		}
	}
}
