package web_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
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
	if l2.ReadKey == key || stateOf(t, l2.URL) == q.Get("state") {
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
	l := s.finish()
	if r := s.poll(l.ReadKey); r.status != 200 {
		t.Errorf("poll: %d %s", r.status, r.body)
	}
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
			stateOf(t, l.URL), // a state is not a read key
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

// TestRedirect covers GET /redirect (docs/protocol.md): the pages, and that a bad
// state never reaches the provider.
func TestRedirect(t *testing.T) {
	t.Parallel()

	t.Run("success", func(t *testing.T) {
		s := start(t, setup{})
		l := s.authorize()
		// The provider may add parameters of its own; they are ignored.
		r := s.do("GET", s.consent(l)+"&iss=https%3A%2F%2Fexample.com&authuser=0&scope=x", nil)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		checkPage(t, r, "You're authenticated")
		if !strings.Contains(string(r.body), "return to Framer") {
			t.Errorf("success page does not say to return to Framer:\n%s", r.body)
		}
		if p := s.poll(l.ReadKey); p.status != 200 {
			t.Errorf("poll after success: %d %s", p.status, p.body)
		}
	})

	t.Run("invalid, expired or replayed state: 400, provider never called", func(t *testing.T) {
		s := start(t, setup{})
		other := start(t, setup{sealSecret: "a different key"})
		short := start(t, setup{loginTTL: 50 * time.Millisecond})

		used := s.authorize()
		if r := s.do("GET", s.consent(used), nil); r.status != 200 {
			t.Fatalf("first use: %d", r.status)
		}
		good := stateOf(t, s.authorize().URL)
		flipped := []byte(good)
		flipped[10] ^= 0x01
		expired := stateOf(t, short.authorize().URL)
		time.Sleep(100 * time.Millisecond)

		cases := map[string]string{
			"no state":            "/redirect?code=abc",
			"empty state":         "/redirect?code=abc&state=",
			"garbage":             "/redirect?code=abc&state=garbage",
			"one bit flipped":     "/redirect?code=abc&state=" + string(flipped),
			"truncated":           "/redirect?code=abc&state=" + good[:len(good)-3],
			"extended":            "/redirect?code=abc&state=" + good + "AAAA",
			"other key":           "/redirect?code=abc&state=" + stateOf(t, other.authorize().URL),
			"read key as state":   "/redirect?code=abc&state=" + s.authorize().ReadKey,
			"replayed":            "/redirect?code=abc&state=" + stateOf(t, used.URL),
			"replayed with error": "/redirect?error=access_denied&state=" + stateOf(t, used.URL),
			"no state with error": "/redirect?error=access_denied",
		}
		for name, target := range cases {
			t.Run(name, func(t *testing.T) {
				before := s.prov.tokenCalls.Load()
				r := s.do("GET", target, nil, "Origin", testPluginOrigin)
				if r.status != 400 {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				checkPage(t, r, "invalid or expired")
				checkCORS(t, r, testPluginOrigin)
				if after := s.prov.tokenCalls.Load(); after != before {
					t.Errorf("the provider got %d token requests for a bad state", after-before)
				}
			})
		}
		t.Run("expired", func(t *testing.T) {
			before := short.prov.tokenCalls.Load()
			r := short.do("GET", "/redirect?code=abc&state="+expired, nil)
			if r.status != 400 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			checkPage(t, r, "invalid or expired")
			if short.prov.tokenCalls.Load() != before {
				t.Error("the provider got a token request for an expired state")
			}
		})
		// The replay did not remove the tokens waiting for the poll.
		if r := s.poll(used.ReadKey); r.status != 200 {
			t.Errorf("poll after replays: %d %s", r.status, r.body)
		}
	})

	t.Run("cancelled: 200 page, description escaped, poll 410", func(t *testing.T) {
		s := start(t, setup{})
		l := s.authorize()
		desc := `<script>alert("x")</script> & <b>bold</b>`
		r := s.do("GET", "/redirect?"+url.Values{
			"state":             {stateOf(t, l.URL)},
			"error":             {"access_denied"},
			"error_description": {desc},
			"code":              {"ignored-because-error-wins"},
		}.Encode(), nil)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		checkPage(t, r, "cancelled")
		body := string(r.body)
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<b>bold") {
			t.Errorf("provider's description is not escaped:\n%s", body)
		}
		if !strings.Contains(body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;") {
			t.Errorf("provider's description is not shown as text:\n%s", body)
		}
		if s.prov.tokenCalls.Load() != 0 {
			t.Error("error=access_denied still exchanged the code")
		}
		p := s.poll(l.ReadKey)
		checkError(t, p, 410, "access_denied")
		checkError(t, s.poll(l.ReadKey), 410, "access_denied")
	})

	t.Run("provider failures", func(t *testing.T) {
		cases := []struct {
			mode     string
			status   int
			page     string
			pollCode string
		}{
			{"500", 502, "could not be completed", "server_error"},
			{"garbage", 502, "could not be completed", "server_error"},
			{"slow", 504, "took too long", "temporarily_unavailable"},
		}
		for _, c := range cases {
			t.Run(c.mode, func(t *testing.T) {
				t.Parallel()
				s := start(t, setup{timeout: 300 * time.Millisecond})
				l := s.authorize()
				loc := s.consent(l)
				s.prov.setMode(c.mode, "")
				r := s.do("GET", loc, nil)
				if r.status != c.status {
					t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
				}
				checkPage(t, r, c.page)
				checkError(t, s.poll(l.ReadKey), 410, c.pollCode)
			})
		}
	})

	t.Run("refused code", func(t *testing.T) {
		s := start(t, setup{})
		l := s.authorize()
		loc := s.consent(l)
		u, _ := url.Parse(loc)
		q := u.Query()
		q.Set("code", "not-a-code-the-provider-issued")
		r := s.do("GET", "/redirect?"+q.Encode(), nil)
		if r.status != 502 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		checkPage(t, r, "could not be completed")
		checkError(t, s.poll(l.ReadKey), 410, "invalid_grant")
	})
}

// TestRefresh covers POST /refresh (docs/protocol.md).
func TestRefresh(t *testing.T) {
	t.Parallel()
	s := start(t, setup{timeout: 300 * time.Millisecond})
	var mu sync.Mutex // the provider's mode is shared by the subtests

	refreshToken := func(t *testing.T) string {
		l := s.finish()
		r := s.poll(l.ReadKey)
		var tok struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal(r.body, &tok); err != nil || tok.RefreshToken == "" {
			t.Fatalf("no refresh token in %s", r.body)
		}
		return tok.RefreshToken
	}
	checkTokens := func(t *testing.T, r response, rt string) {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control %q", got)
		}
		if got := r.header.Get("Content-Type"); got != "application/json" {
			t.Errorf("Content-Type %q", got)
		}
		m := r.json(t)
		if m["access_token"] == nil {
			t.Errorf("no access_token in %s", r.body)
		}
		// The mock omits refresh_token on refresh, as Google does: handoff
		// adds the one the plugin sent.
		if rt != "" && m["refresh_token"] != rt {
			t.Errorf("refresh_token %v, want the one sent, %q", m["refresh_token"], rt)
		}
	}

	t.Run("query code", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		rt := refreshToken(t)
		r := s.do("POST", "/refresh?code="+rt, nil, "Origin", testPluginOrigin)
		checkTokens(t, r, rt)
		checkCORS(t, r, testPluginOrigin)
	})
	t.Run("form body", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		rt := refreshToken(t)
		checkTokens(t, s.do("POST", "/refresh", strings.NewReader("refresh_token="+url.QueryEscape(rt)),
			"Content-Type", "application/x-www-form-urlencoded"), rt)
	})
	t.Run("multipart form body (fetch with FormData)", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		rt := refreshToken(t)
		body := "--XyZ\r\nContent-Disposition: form-data; name=\"refresh_token\"\r\n\r\n" + rt + "\r\n--XyZ--\r\n"
		checkTokens(t, s.do("POST", "/refresh", strings.NewReader(body),
			"Content-Type", "multipart/form-data; boundary=XyZ"), rt)
	})
	t.Run("JSON body", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		rt := refreshToken(t)
		checkTokens(t, s.do("POST", "/refresh", strings.NewReader(`{"refresh_token":"`+rt+`"}`),
			"Content-Type", "application/json"), rt)
	})
	t.Run("'+' sent unencoded in the query", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		const token = "plus+a/b+c=="
		for _, target := range []string{
			"/refresh?code=" + token,                  // as the worker's plugins send it
			"/refresh?code=" + url.QueryEscape(token), // properly encoded
		} {
			r := s.do("POST", target, nil)
			checkTokens(t, r, token)
			seen := s.prov.refreshTokensSeen()
			if got := seen[len(seen)-1]; got != token {
				t.Errorf("%s: provider saw refresh_token %q, want %q", target, got, token)
			}
		}
		// In a body the token is decoded as sent: '+' stays '+'.
		r := s.do("POST", "/refresh", strings.NewReader(`{"refresh_token":"`+token+`"}`), "Content-Type", "application/json")
		checkTokens(t, r, token)
	})
	t.Run("missing token", func(t *testing.T) {
		for _, c := range []struct{ target, body, ct string }{
			{"/refresh", "", ""},
			{"/refresh?code=", "", ""},
			{"/refresh", "refresh_token=", "application/x-www-form-urlencoded"},
			{"/refresh", `{"refresh_token":""}`, "application/json"},
			{"/refresh", `{"code":"x"}`, "application/json"},
		} {
			r := s.do("POST", c.target, strings.NewReader(c.body), "Content-Type", c.ct, "Origin", testPluginOrigin)
			checkError(t, r, 400, "invalid_request")
			checkCORS(t, r, testPluginOrigin)
		}
	})
	t.Run("provider refuses: its status and JSON", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		before := s.prov.tokenCalls.Load()
		r := s.do("POST", "/refresh?code=rt_unknown", nil, "Origin", testPluginOrigin)
		if r.status != 400 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if m := r.json(t); m["error"] != "invalid_grant" {
			t.Errorf("body %s", r.body)
		}
		if !bytes.Equal(r.body, s.prov.answer()) {
			t.Errorf("body %s, want the provider's %s", r.body, s.prov.answer())
		}
		checkCORS(t, r, testPluginOrigin)
		if s.prov.tokenCalls.Load() == before {
			t.Error("provider not called")
		}

		s.prov.setMode("refuse403", "")
		defer s.prov.setMode("", "")
		r = s.do("POST", "/refresh?code=rt_whatever", nil)
		if r.status != 403 || !bytes.Equal(r.body, s.prov.answer()) {
			t.Errorf("status %d body %s, want 403 and the provider's JSON", r.status, r.body)
		}
	})
	t.Run("provider fails", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		defer s.prov.setMode("", "")
		for mode, want := range map[string]struct {
			status int
			code   string
		}{
			"500":     {502, "server_error"},
			"garbage": {502, "server_error"},
			"slow":    {504, "temporarily_unavailable"},
		} {
			s.prov.setMode(mode, "")
			r := s.do("POST", "/refresh?code=rt_x", nil, "Origin", testPluginOrigin)
			checkError(t, r, want.status, want.code)
			checkCORS(t, r, testPluginOrigin)
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

// TestTrailingSlash: the worker matched path prefixes, so plugins that call
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
