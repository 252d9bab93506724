package web_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var urlSafe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// TestAuthorize: POST /authorize with no body answers the login URL and the
// read key (docs/protocol.md), with every parameter the provider needs.
func TestAuthorize(t *testing.T) {
	t.Parallel()
	s := start(t, setup{
		endpointPath: "/authorize?tenant=acme&prompt=login",
		params:       url.Values{"access_type": {"offline"}, "prompt": {"consent"}},
	})
	r := s.do("POST", "/authorize", nil, "Origin", testPluginOrigin)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	for h, want := range map[string]string{
		"Content-Type":  "application/json",
		"Cache-Control": "no-store",
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	checkCORS(t, r, testPluginOrigin)
	m := r.json(t)
	if len(m) != 2 {
		t.Errorf("body %s: want exactly url and readKey", r.body)
	}
	key, _ := m["readKey"].(string)
	if !urlSafe.MatchString(key) {
		t.Errorf("readKey %q is not URL-safe", key)
	}
	raw, _ := m["url"].(string)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.Scheme+"://"+u.Host+u.Path, s.prov.srv.URL+"/authorize"; got != want {
		t.Errorf("endpoint %q, want %q", got, want)
	}
	q := u.Query()
	for k, want := range map[string]string{
		"client_id":             testClientID,
		"redirect_uri":          s.base + "/redirect",
		"response_type":         "code",
		"scope":                 "openid profile",
		"code_challenge_method": "S256",
		"tenant":                "acme",    // kept from the endpoint
		"access_type":           "offline", // AUTHORIZE_PARAMS
		"prompt":                "consent", // AUTHORIZE_PARAMS replaces the endpoint's
	} {
		if got := q[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want [%q]", k, got, want)
		}
	}
	if st := q.Get("state"); !urlSafe.MatchString(st) || st == key {
		t.Errorf("state %q: want URL-safe and not the read key", st)
	}
	if c := q.Get("code_challenge"); len(c) != 43 || !urlSafe.MatchString(c) {
		t.Errorf("code_challenge %q: want 43 base64url characters (S256)", c)
	}

	// Two logins share nothing.
	l2 := s.authorize()
	if l2.ReadKey == key || l2.State == q.Get("state") {
		t.Error("two logins got the same read key or state")
	}
}

// TestAuthorizeNoScope: an empty SCOPE leaves scope out of the URL.
func TestAuthorizeNoScope(t *testing.T) {
	t.Parallel()
	s := start(t, setup{noScope: true})
	u, err := url.Parse(s.authorize().URL)
	if err != nil {
		t.Fatal(err)
	}
	if q := u.Query(); q.Has("scope") || q.Get("response_type") != "code" {
		t.Errorf("authorize URL %s: want no scope", u)
	}
	// The login still works without a scope.
	s.plugin().Login(t, s.base+"/redirect")
}

// TestPoll covers every answer of POST /poll (docs/protocol.md).
func TestPoll(t *testing.T) {
	t.Parallel()
	s := start(t, setup{})

	t.Run("missing key is 400 (Airtable's liveness check)", func(t *testing.T) {
		for _, body := range []string{"", "readKey=", `{}`, `{"readKey":""}`, `{"readKey":5}`, `not json {`} {
			r := s.do("POST", "/poll", strings.NewReader(body), "Origin", testPluginOrigin,
				"Content-Type", map[bool]string{true: "application/json", false: "application/x-www-form-urlencoded"}[strings.HasPrefix(body, "{")])
			checkError(t, r, 400, "invalid_request")
			checkCORS(t, r, testPluginOrigin)
		}
		r := s.do("POST", "/poll", nil)
		checkError(t, r, 400, "invalid_request")
	})

	t.Run("forged key is 400", func(t *testing.T) {
		l := s.authorize()
		other := start(t, setup{sealSecret: "another secret"}).authorize()
		flipped := []byte(l.ReadKey)
		flipped[len(flipped)/2] ^= 1
		for _, key := range []string{"abc", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
			string(flipped), l.ReadKey[:len(l.ReadKey)-2], l.ReadKey + "AA", other.ReadKey,
			l.State, // a state is not a read key
		} {
			checkError(t, s.poll(key), 400, "invalid_request")
		}
	})

	t.Run("pending is 404 authorization_pending", func(t *testing.T) {
		l := s.authorize()
		for range 3 {
			r := s.poll(l.ReadKey)
			checkError(t, r, 404, "authorization_pending")
		}
	})

	t.Run("tokens byte for byte, once, then 410", func(t *testing.T) {
		l := s.finish()
		r := s.do("POST", "/poll?readKey="+l.ReadKey, nil, "Origin", testPluginOrigin)
		if r.status != 200 {
			t.Fatalf("poll: %d %s", r.status, r.body)
		}
		if want := s.prov.answer(); !bytes.Equal(r.body, want) {
			t.Errorf("poll body\n%s\nwant the provider's bytes\n%s", r.body, want)
		}
		for h, want := range map[string]string{
			"Content-Type":  "application/json",
			"Cache-Control": "no-store",
			"Pragma":        "no-cache",
		} {
			if got := r.header.Get(h); got != want {
				t.Errorf("%s: %q, want %q", h, got, want)
			}
		}
		checkCORS(t, r, testPluginOrigin)
		for range 2 {
			checkError(t, s.poll(l.ReadKey), 410, "already_delivered")
		}
	})

	t.Run("provider JSON is never re-encoded", func(t *testing.T) {
		raw := "{ \"token_type\" : \"bearer\",\n  \"access_token\":\"a\\u002fb\", \"expires_in\": 3600, \"extra\": {\"z\":1,\"a\":[true,null]} }"
		s2 := start(t, setup{})
		l := s2.authorize()
		loc := s2.consent(l)
		s2.prov.setMode("raw", raw)
		if r := s2.do("GET", loc, nil); r.status != 200 {
			t.Fatalf("redirect: %d %s", r.status, r.body)
		}
		r := s2.poll(l.ReadKey)
		if r.status != 200 || string(r.body) != raw {
			t.Errorf("poll: %d %q, want 200 %q", r.status, r.body, raw)
		}
	})

	t.Run("key in query, form body, JSON body; the query wins", func(t *testing.T) {
		cases := []struct {
			name        string
			query, body string
			contentType string
			want        int
		}{
			{name: "query", query: "@", want: 200},
			{name: "form", body: "readKey=@", contentType: "application/x-www-form-urlencoded", want: 200},
			{name: "form with other fields", body: "a=1&readKey=@&b=2", contentType: "application/x-www-form-urlencoded", want: 200},
			{name: "json", body: `{"readKey":"@"}`, contentType: "application/json", want: 200},
			{name: "json with charset", body: `{"other":1,"readKey":"@"}`, contentType: "application/json; charset=utf-8", want: 200},
			{name: "json as text/plain (a CORS simple request)", body: `{"readKey":"@"}`, contentType: "text/plain", want: 200},
			{name: "multipart form (fetch with FormData)", body: "--XyZ\r\nContent-Disposition: form-data; name=\"readKey\"\r\n\r\n@\r\n--XyZ--\r\n", contentType: "multipart/form-data; boundary=XyZ", want: 200},
			{name: "query wins over form", query: "@", body: "readKey=forged", contentType: "application/x-www-form-urlencoded", want: 200},
			{name: "query wins over json", query: "@", body: `{"readKey":"forged"}`, contentType: "application/json", want: 200},
			{name: "forged query beats good form", query: "forged", body: "readKey=@", contentType: "application/x-www-form-urlencoded", want: 400},
			{name: "forged query beats good json", query: "forged", body: `{"readKey":"@"}`, contentType: "application/json", want: 400},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				l := s.finish()
				target := "/poll"
				if c.query != "" {
					target += "?readKey=" + url.QueryEscape(strings.ReplaceAll(c.query, "@", l.ReadKey))
				}
				r := s.do("POST", target, strings.NewReader(strings.ReplaceAll(c.body, "@", l.ReadKey)), "Content-Type", c.contentType)
				if r.status != c.want {
					t.Fatalf("status %d, want %d: %s", r.status, c.want, r.body)
				}
				if c.want == 200 {
					if !bytes.Contains(r.body, []byte(`"access_token"`)) {
						t.Errorf("no tokens in %s", r.body)
					}
				} else {
					checkError(t, r, c.want, "invalid_request")
				}
			})
		}
	})

	t.Run("exactly one of 20 concurrent polls gets the tokens", func(t *testing.T) {
		l := s.finish()
		var wg sync.WaitGroup
		statuses := make([]int, 20)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = s.poll(l.ReadKey).status
			}()
		}
		wg.Wait()
		n := 0
		for _, st := range statuses {
			switch st {
			case 200:
				n++
			case 404, 410:
			default:
				t.Errorf("status %d", st)
			}
		}
		if n != 1 {
			t.Errorf("%d polls got 200 (%v), want exactly 1", n, statuses)
		}
	})
}

// TestUpAndHealthz: GET / and GET /healthz (docs/protocol.md).
func TestUpAndHealthz(t *testing.T) {
	t.Parallel()
	s := start(t, setup{})
	r := s.do("GET", "/", nil, "Origin", testPluginOrigin)
	if r.status != 200 || !strings.Contains(string(r.body), "up and running") || strings.Count(string(r.body), "\n") > 1 {
		t.Errorf("GET /: %d %q", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /: Content-Type %q", ct)
	}
	checkCORS(t, r, testPluginOrigin)
	for _, secret := range []string{testClientID, testClientSecret, s.prov.srv.URL} {
		if strings.Contains(string(r.body), secret) {
			t.Errorf("GET / reveals config: %q", r.body)
		}
	}

	r = s.do("GET", "/healthz", nil, "Origin", testPluginOrigin)
	if r.status != 200 || string(r.body) != `{"status":"ok"}` {
		t.Errorf("GET /healthz: %d %q", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET /healthz: Content-Type %q", ct)
	}
	checkCORS(t, r, testPluginOrigin)
}

// TestUnknownAndWrongMethod: 404 not_found, 405 method_not_allowed, and
// OPTIONS preflights (docs/protocol.md#cors).
func TestUnknownAndWrongMethod(t *testing.T) {
	t.Parallel()
	s := start(t, setup{})
	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/nope", 404, "not_found"},
		{"POST", "/nope", 404, "not_found"},
		{"GET", "/authorize/extra", 404, "not_found"},
		{"GET", "/mock/authorize", 404, "not_found"}, // no demo: no mock
		{"OPTIONS", "/nope", 404, "not_found"},
		{"GET", "/authorize", 405, "method_not_allowed"},
		{"PUT", "/authorize", 405, "method_not_allowed"},
		{"DELETE", "/poll", 405, "method_not_allowed"},
		{"GET", "/poll", 405, "method_not_allowed"},
		{"GET", "/refresh", 405, "method_not_allowed"},
		{"GET", "/revoke", 405, "method_not_allowed"},
		{"GET", "/revoke/extra", 404, "not_found"},
		{"POST", "/redirect", 405, "method_not_allowed"},
		{"POST", "/healthz", 405, "method_not_allowed"},
		{"DELETE", "/", 405, "method_not_allowed"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			r := s.do(c.method, c.path, nil, "Origin", testPluginOrigin)
			checkError(t, r, c.status, c.code)
			checkCORS(t, r, testPluginOrigin)
		})
	}

	for _, path := range []string{"/authorize", "/poll", "/refresh", "/revoke", "/redirect", "/", "/healthz"} {
		t.Run("OPTIONS "+path, func(t *testing.T) {
			for _, origin := range []string{testPluginOrigin, "http://localhost:5173", "https://evil.example"} {
				r := s.do("OPTIONS", path, nil, "Origin", origin,
					"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
				if r.status != 204 {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				if len(r.body) != 0 {
					t.Errorf("204 with a body: %q", r.body)
				}
				if got := r.header.Get("Access-Control-Allow-Methods"); got != "GET, POST, OPTIONS" {
					t.Errorf("Allow-Methods %q", got)
				}
				if got := r.header.Get("Access-Control-Allow-Headers"); got != "Content-Type, Authorization" {
					t.Errorf("Allow-Headers %q", got)
				}
				want := origin
				if origin == "https://evil.example" {
					want = testPluginOrigin
				}
				checkCORS(t, r, want)
			}
		})
	}
}

// TestTrailingSlash: existing backends matched path prefixes, so plugins that call
// {base}/authorize/ or {base}/poll/ worked; they still do.
func TestTrailingSlash(t *testing.T) {
	t.Parallel()
	s := start(t, setup{})
	r := s.do("POST", "/authorize/", nil)
	if r.status != 200 {
		t.Fatalf("POST /authorize/: %d %s", r.status, r.body)
	}
	var l login
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatal(err)
	}
	checkError(t, s.do("POST", "/poll/?readKey="+l.ReadKey, nil), 404, "authorization_pending")
	checkError(t, s.do("POST", "/refresh/", nil), 400, "invalid_request")
}
