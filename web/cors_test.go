package web_test

import (
	"fmt"
	"strings"
	"testing"

	"handoff/web"
)

// TestCORS is docs/protocol.md#cors's table, over HTTP, on an API route, a page route, an
// error, a preflight and an unknown path.
func TestCORS(t *testing.T) {
	t.Parallel()
	const (
		echo = "(echo)"
		none = ""
	)
	configs := []struct {
		name  string
		cors  web.CORS
		cases map[string]string // Origin -> Access-Control-Allow-Origin
	}{
		{
			name: "PLUGIN_ID set",
			cors: web.CORS{PluginID: testPluginID, ParentDomain: parentDomain},
			cases: map[string]string{
				testPluginOrigin: echo,
				"https://" + testPluginID + "-a1b2c3.plugins.framercdn.com":   echo, // versioned
				"https://" + testPluginID + "-7.plugins.framercdn.com":        echo,
				"https://" + testPluginID + "evil.plugins.framercdn.com":      testPluginOrigin,
				"https://" + testPluginID + "-.plugins.framercdn.com":         testPluginOrigin,
				"https://evil-" + testPluginID + ".plugins.framercdn.com":     testPluginOrigin,
				"https://x." + testPluginID + ".plugins.framercdn.com":        testPluginOrigin,
				"https://other.plugins.framercdn.com":                         testPluginOrigin,
				"http://" + testPluginID + ".plugins.framercdn.com":           testPluginOrigin,
				"https://" + testPluginID + ".plugins.framercdn.com.evil.com": testPluginOrigin,
				"https://" + testPluginID + ".plugins.framercdn.com:8443":     testPluginOrigin,
				"https://" + testPluginID + ".evilplugins.framercdn.com":      testPluginOrigin,
				"http://localhost:3000":                                       echo,
				"https://localhost:8787":                                      echo,
				"https://127.0.0.1:8443":                                      echo,
				"http://127.0.0.1":                                            echo,
				"http://[::1]:5173":                                           echo,
				"https://[::1]":                                               echo,
				"http://localhost":                                            echo,
				"http://localhost.evil.com":                                   testPluginOrigin,
				"http://localhost:3000.evil.com":                              testPluginOrigin,
				"http://localhost:abc":                                        testPluginOrigin,
				"http://localhost@evil.com":                                   testPluginOrigin,
				"http://127.0.0.1.nip.io":                                     testPluginOrigin,
				"http://127.0.0.2":                                            testPluginOrigin,
				"http://[::2]:5173":                                           testPluginOrigin,
				"http://0.0.0.0:3000":                                         testPluginOrigin,
				"ftp://localhost":                                             testPluginOrigin,
				"http://evil.com":                                             testPluginOrigin,
				"https://example.com":                                         testPluginOrigin,
				"null":                                                        testPluginOrigin,
				"":                                                            testPluginOrigin, // no Origin header
			},
		},
		{
			name: "ALLOWED_ORIGINS",
			cors: web.CORS{PluginID: testPluginID, ParentDomain: parentDomain,
				Extra: []string{"https://example.com", "http://intranet.local:8080"}},
			cases: map[string]string{
				"https://example.com":           echo,
				"http://intranet.local:8080":    echo,
				"https://example.com:443":       testPluginOrigin, // browsers never send the default port
				"http://example.com":            testPluginOrigin,
				"https://sub.example.com":       testPluginOrigin,
				"https://example.com.evil.com":  testPluginOrigin,
				"http://intranet.local:8081":    testPluginOrigin,
				"http://intranet.local":         testPluginOrigin,
				"https://example.com/":          testPluginOrigin,
				testPluginOrigin:                echo,
				"http://localhost:3000":         echo,
				"https://evil.com":              testPluginOrigin,
				"":                              testPluginOrigin,
				"https://EXAMPLE.com":           testPluginOrigin,
				"https://example.com\x00.x.com": testPluginOrigin,
			},
		},
		{
			name: "PLUGIN_ID empty",
			cors: web.CORS{ParentDomain: parentDomain},
			cases: map[string]string{
				"https://x.plugins.framercdn.com":            echo,
				"https://anyplugin-v2.plugins.framercdn.com": echo,
				"https://a.b.plugins.framercdn.com":          none,
				"http://x.plugins.framercdn.com":             none,
				"https://plugins.framercdn.com":              none,
				"https://xplugins.framercdn.com":             none,
				"http://localhost:3000":                      echo,
				"https://127.0.0.1:8443":                     echo,
				"http://[::1]:5173":                          echo,
				"https://evil.com":                           none,
				"null":                                       none,
				"":                                           none,
			},
		},
	}
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			t.Parallel()
			cors := cfg.cors
			s := start(t, setup{cors: &cors})
			for origin, want := range cfg.cases {
				if want == echo {
					want = origin
				}
				if strings.ContainsRune(origin, 0) {
					continue // net/http refuses to send it; the unit check below covers it
				}
				var headers []string
				if origin != "" {
					headers = []string{"Origin", origin}
				}
				for _, req := range []struct{ method, path string }{
					{"POST", "/authorize"},
					{"POST", "/poll"}, // 400
					{"GET", "/redirect"},
					{"OPTIONS", "/poll"},
					{"GET", "/nowhere"},
					{"GET", "/authorize"}, // 405
					{"GET", "/healthz"},
				} {
					r := s.do(req.method, req.path, nil, headers...)
					if r.status >= 500 {
						t.Errorf("%s %s: %d", req.method, req.path, r.status)
					}
					if !varyHasOrigin(r.header) {
						t.Errorf("Origin %q, %s %s: no Vary: Origin", origin, req.method, req.path)
					}
					got, present := r.header.Get("Access-Control-Allow-Origin"), len(r.header.Values("Access-Control-Allow-Origin")) > 0
					if got != want || (want == none) == present {
						t.Errorf("Origin %q, %s %s: Access-Control-Allow-Origin %q (present %t), want %q",
							origin, req.method, req.path, got, present, want)
					}
				}
			}
			for origin, want := range cfg.cases {
				if want == echo {
					want = origin
				}
				if got := cors.AllowOrigin(origin); got != want {
					t.Errorf("AllowOrigin(%q) = %q, want %q", origin, got, want)
				}
			}
		})
	}
}

// TestMalformedMultipartKeepsCORS: a multipart body that does not parse is
// answered by the handler (400, key missing) with the request's own Origin
// allowed. fasthttp's pre-parse of multipart bodies used to fail the read
// and reset the request, so the error handler saw no Origin and the
// browser got the plugin's origin instead of its own: a CORS error.
func TestMalformedMultipartKeepsCORS(t *testing.T) {
	t.Parallel()
	s := start(t, setup{})
	const origin = "http://localhost:5173"
	for _, path := range []string{"/poll", "/refresh"} {
		body := "--XyZ\r\nbroken"
		r := rawResponse(t, s.base, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nOrigin: %s\r\n"+
			"Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", path, origin, len(body), body))
		checkError(t, r, 400, "invalid_request")
		checkCORS(t, r, origin)
	}
}

func TestCanonicalOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://Example.COM":      "https://example.com",
		"https://example.com:443":  "https://example.com",
		"http://example.com:80":    "http://example.com",
		"http://example.com:8080/": "http://example.com:8080",
		"http://[::1]:5173":        "http://[::1]:5173",
		"https://example.com/path": "",
		"https://example.com?x=1":  "",
		"https://u@example.com":    "",
		"example.com":              "",
		"ftp://example.com":        "",
		"null":                     "",
	} {
		got, ok := web.CanonicalOrigin(in)
		if ok != (want != "") || got != want {
			t.Errorf("CanonicalOrigin(%q) = %q, %t; want %q", in, got, ok, want)
		}
	}
}

// TestSealKeySource: without SEAL_KEY, a CLIENT_SECRET that could be guessed
// offline stops start-up with a problem that asks for SEAL_KEY and never
// shows the secret (SECURITY.md, property 10); with SEAL_KEY the secret may be anything.
