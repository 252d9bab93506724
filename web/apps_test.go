package web_test

import (
	"strings"
	"testing"

	"handoff/web"
)

// TestSeveralApps: with several apps, each app's routes live under /{app}/
// with its own CORS rules; /healthz and GET / belong to none (docs/protocol.md#several-apps).
func TestSeveralApps(t *testing.T) {
	t.Parallel()
	s := startApps(t,
		web.App{Name: "hubspot-plugin", CORS: web.CORS{PluginID: "hub123", ParentDomain: parentDomain}},
		web.App{Name: "sheets", CORS: web.CORS{PluginID: "sheet9", ParentDomain: parentDomain}})
	base := s.base

	hub := "https://hub123.plugins.framercdn.com"
	r := s.do("POST", "/hubspot-plugin/authorize", nil, "Origin", hub)
	if r.status != 200 {
		t.Fatalf("authorize: %d %s", r.status, r.body)
	}
	checkCORS(t, r, hub)
	// The other app's plugin is not admitted here.
	r = s.do("POST", "/hubspot-plugin/authorize", nil, "Origin", "https://sheet9.plugins.framercdn.com")
	checkCORS(t, r, hub)
	r = s.do("POST", "/sheets/poll", nil, "Origin", hub)
	checkError(t, r, 400, "invalid_request")
	checkCORS(t, r, "https://sheet9.plugins.framercdn.com")

	// A full login through one app; its read key means nothing to the other.
	s.base = base + "/hubspot-plugin"
	l := s.authorize()
	if r := s.do("GET", s.consent(l), nil); r.status != 200 {
		t.Fatalf("redirect: %d %s", r.status, r.body)
	}
	s.base = base
	checkError(t, s.do("POST", "/sheets/poll?readKey="+l.ReadKey, nil), 400, "invalid_request")
	if r := s.do("POST", "/hubspot-plugin/poll?readKey="+l.ReadKey, nil); r.status != 200 {
		t.Errorf("poll: %d %s", r.status, r.body)
	}

	for _, p := range []string{"/hubspot-plugin/", "/sheets/", "/"} {
		r := s.do("GET", p, nil)
		if r.status != 200 || !strings.Contains(string(r.body), "up and running") {
			t.Errorf("GET %s: %d %q", p, r.status, r.body)
		}
		if p == "/" && (strings.Contains(string(r.body), "hubspot") || strings.Contains(string(r.body), "sheets")) {
			t.Errorf("GET / names an app: %q", r.body)
		}
	}
	checkError(t, s.do("POST", "/authorize", nil), 404, "not_found")
	checkError(t, s.do("GET", "/sheets/nowhere", nil, "Origin", "https://evil.com"), 404, "not_found")

	// Outside every app: loopback origins only, and never an invalid header.
	for origin, want := range map[string]string{
		"http://localhost:3000": "http://localhost:3000",
		"https://evil.com":      "",
		hub:                     "",
		"":                      "",
	} {
		for _, p := range []string{"/healthz", "/nowhere", "/"} {
			var h []string
			if origin != "" {
				h = []string{"Origin", origin}
			}
			r := s.do("GET", p, nil, h...)
			got := r.header.Get("Access-Control-Allow-Origin")
			if strings.ContainsAny(got, "\x00") || (want != "" && got != want) || (want == "" && got != "") {
				t.Errorf("GET %s, Origin %q: Access-Control-Allow-Origin %q, want %q", p, origin, got, want)
			}
		}
	}
}
