package security

// SECURITY.md property 1: the client secret, seal keys, codes, access and refresh tokens,
// PKCE verifiers, read keys and state values never appear in logs at any
// level, nor in error pages. This runs the built binary at LOG_LEVEL=debug
// with stdout and stderr captured, through every path an attacker or a
// failing provider can reach, then searches the output for every secret
// handed out or seen (and any 16-character piece of one).

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"handoff/internal/mockprovider"
	"handoff/internal/testkit"
)

// attach returns a client-side handoff for a server running elsewhere.
func attach(t *testing.T, base string, p *fakeProvider) *handoff {
	owned(t)
	h := &handoff{URL: base, secrets: p.secrets, provider: p, client: newClient(p.secrets)}
	t.Cleanup(func() {
		h.client.close()
		h.client.checkPages(t)
	})
	return h
}

// requestLine is a request's log line; a 200 from /authorize also names
// the login it started by its short reference (docs/deploy.md#following-a-login).
var requestLine = regexp.MustCompile(`^time=\S+ level=INFO msg=request method=([A-Z]+) route=(\S+) status=(\d{3}) duration=\S+ request_id=([0-9a-z]+)( login=[0-9a-f]{12})?$`)

func TestNoSecretInLogsOrPages(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	endpointKey := random(24) // a credential in TOKEN_ENDPOINT's query, as some setups have
	sealKey, oldKey := hexKey(), hexKey()
	secrets.Add(endpointKey, sealKey, oldKey)
	proc := startBinary(t, func(base string) map[string]string {
		return p.env(base, map[string]string{
			"TOKEN_ENDPOINT":   p.URL + "/token?api_key=" + endpointKey,
			"REVOKE_ENDPOINT":  p.URL + "/revoke?api_key=" + endpointKey,
			"SEAL_KEY":         sealKey,
			"SEAL_KEYS_OLD":    oldKey,
			"LOG_LEVEL":        "debug",
			"RATE_LIMIT":       "on",
			"PROVIDER_TIMEOUT": "1s",
			"SHUTDOWN_GRACE":   "10s",
		})
	})
	base := proc.URL
	h := attach(t, proc.URL, p)
	c := h.client
	requests := 0
	count := func(r resp) resp { requests++; return r }

	// A full login, polled before and after.
	l := h.authorize(t)
	count(resp{})
	wantCode(t, "poll while pending", count(h.poll(t, l.readKey)), 404, "authorization_pending")
	back := c.consent(t, l, false)
	wantPage(t, "redirect", count(c.get(t, back)), 200, "authenticated")
	tokens := count(h.poll(t, l.readKey))
	if tokens.status != 200 {
		t.Fatalf("poll: %v", tokens)
	}
	wantCode(t, "poll after delivery", count(h.poll(t, l.readKey)), 410, "already_delivered")
	var rt struct {
		RefreshToken string `json:"refresh_token"`
	}
	jsonUnmarshal(tokens.body, &rt)

	// Refreshes, in each place the token may travel, and refused ones.
	for what, r := range map[string]resp{
		"refresh in the query": c.post(t, base+"/refresh?code="+url.QueryEscape(rt.RefreshToken), "", ""),
		"refresh in a form":    c.post(t, base+"/refresh", "application/x-www-form-urlencoded", "refresh_token="+url.QueryEscape(rt.RefreshToken)),
		"refresh in JSON":      c.post(t, base+"/refresh", "application/json", `{"refresh_token":"`+rt.RefreshToken+`"}`),
	} {
		count(r)
		if r.status != 200 {
			t.Errorf("%s: %v", what, r)
		}
	}
	bogusRT := random(24)
	secrets.Add(bogusRT)
	wantCode(t, "refused refresh", count(c.post(t, base+"/refresh?code="+bogusRT, "", "")), 400, "invalid_grant")
	wantCode(t, "refused refresh with a space", count(c.post(t, base+"/refresh?code="+bogusRT[:10]+"+"+bogusRT[10:], "", "")), 400, "invalid_grant")

	// Log out, with the token in the query and in a body; and one the
	// provider refuses (RFC 7009 lets it answer 200 for a token it never
	// issued; this one refuses with 400, so that a refusal is logged too).
	p.SetRevokeHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.PostForm.Get("token") != bogusRT {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"invalid_request","error_description":"unknown token"}`))
		return true
	})
	for what, r := range map[string]resp{
		"revoke in the query": c.post(t, base+"/revoke?token="+url.QueryEscape(rt.RefreshToken)+"&token_type_hint=refresh_token", "", ""),
		"revoke in a form":    c.post(t, base+"/revoke", "application/x-www-form-urlencoded", "token="+url.QueryEscape(rt.RefreshToken)),
		"revoke in JSON":      c.post(t, base+"/revoke", "application/json", `{"token":"`+rt.RefreshToken+`"}`),
	} {
		count(r)
		if r.status != 200 {
			t.Errorf("%s: %v", what, r)
		}
	}
	wantCode(t, "refused revoke", count(c.post(t, base+"/revoke?token="+bogusRT, "", "")), 400, "invalid_request")

	// A denied login.
	l = h.authorize(t)
	count(resp{})
	wantPage(t, "denied", count(c.get(t, c.consent(t, l, true))), 200, "cancelled")
	wantCode(t, "poll after denial", count(h.poll(t, l.readKey)), 410, "access_denied")

	// Provider failures, each logged with its cause.
	for _, f := range []struct {
		name          string
		fault         mockprovider.Hook
		page          int
		outcome       string
		pollCode      string // the 410's code
		refreshStatus int
		refreshCode   string
	}{
		{"500", func(w http.ResponseWriter, r *http.Request) bool { w.WriteHeader(500); return true },
			502, "provider_error", "server_error", 502, "server_error"},
		{"200 with an error", func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return true
		}, 502, "provider_error", "invalid_grant", 400, "invalid_grant"},
		{"hang-up", func(w http.ResponseWriter, r *http.Request) bool {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return true
		}, 502, "provider_error", "server_error", 502, "server_error"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) bool {
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
			return true
		}, 504, "provider_timeout", "temporarily_unavailable", 504, "temporarily_unavailable"},
	} {
		p.SetTokenHook(f.fault)
		l = h.authorize(t)
		count(resp{})
		wantPage(t, f.name, count(c.get(t, c.consent(t, l, false))), f.page, f.outcome)
		wantCode(t, "poll after "+f.name, count(h.poll(t, l.readKey)), 410, f.pollCode)
		// A token never refreshed before: one that was is answered
		// again from memory for REFRESH_REPLAY_TTL, not by the provider.
		faultRT := random(24)
		secrets.Add(faultRT)
		wantCode(t, "refresh during "+f.name, count(c.post(t, base+"/refresh?code="+url.QueryEscape(faultRT), "", "")),
			f.refreshStatus, f.refreshCode)
	}
	p.SetTokenHook(nil)

	// Bad states, each carrying real secrets.
	bu, _ := url.Parse(back)
	realState, realCode := bu.Query().Get("state"), bu.Query().Get("code")
	fresh := h.authorize(t)
	count(resp{})
	for what, q := range map[string]url.Values{
		"replayed redirect":       bu.Query(),
		"forged state":            {"state": {random(98)}, "code": {realCode}},
		"truncated state":         {"state": {fresh.state[:60]}, "code": {realCode}},
		"read key as state":       {"state": {fresh.readKey}, "code": {realCode}},
		"no state":                {"code": {realCode}},
		"used state with error":   {"state": {realState}, "error": {"access_denied"}, "error_description": {fresh.readKey}},
		"bit-flipped fresh state": {"state": {flipChar(fresh.state)}, "code": {realCode}},
	} {
		wantPage(t, what, count(c.get(t, h.redirectURL(q))), 400, "invalid")
	}

	// Forged read keys.
	for what, key := range map[string]string{
		"random key": random(60), "state as key": fresh.state, "truncated key": fresh.readKey[:30], "flipped key": flipChar(fresh.readKey),
	} {
		wantCode(t, what, count(h.poll(t, key)), 400, "invalid_request")
	}
	wantCode(t, "no key", count(c.post(t, base+"/poll", "", "")), 400, "invalid_request")
	wantCode(t, "key in a junk body", count(c.post(t, base+"/poll", "application/json", `{"readKey":"`+fresh.readKey[:50]+`"`)), 400, "invalid_request")

	// Unknown paths and wrong methods with secrets in the path and query.
	wantCode(t, "404 with a key in the path", count(c.get(t, base+"/poll/"+fresh.readKey+"?state="+fresh.state)), 404, "not_found")
	wantCode(t, "404 with a state in the path", count(c.post(t, base+"/redirect/"+fresh.state, "", "")), 404, "not_found")
	wantCode(t, "405 with a key in the query", count(c.get(t, base+"/poll?readKey="+fresh.readKey)), 405, "method_not_allowed")
	wantCode(t, "405 on /redirect", count(c.post(t, base+"/redirect?state="+fresh.state+"&code="+realCode, "", "")), 405, "method_not_allowed")
	if r := count(c.do(t, mustRequest(t, http.MethodOptions, base+"/poll?readKey="+fresh.readKey))); r.status != 204 {
		t.Errorf("preflight: %v", r)
	}
	// Refused before routing: 413 and 431 with secrets in the request line.
	addr := strings.TrimPrefix(base, "http://")
	body := strings.Repeat("A", 70<<10)
	r := rawExchange(t, addr, "POST /poll?readKey="+fresh.readKey+" HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n", body)
	wantCode(t, "413", r, 413, "invalid_request")
	r = rawExchange(t, addr, "GET /redirect?state="+fresh.state+"&code="+realCode+" HTTP/1.1\r\nHost: x\r\nX-Pad: "+strings.Repeat("a", 9<<10)+"\r\n\r\n", "")
	if r.status != 431 {
		t.Errorf("431: %v", r)
	}
	c.checkBody(r)

	// A poll storm on one key: 429s.
	var wg sync.WaitGroup
	var mu sync.Mutex
	throttled := 0
	for range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if h.pollAsync(fresh.readKey).status == 429 {
				mu.Lock()
				throttled++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	requests += 60
	if throttled == 0 {
		t.Error("60 polls at once were never throttled")
	}

	c.close() // idle connections would hold the shutdown until their read timeout
	if code := proc.stop(t, syscall.SIGTERM, 20*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM", code)
	}
	out := proc.Out.String()

	if leaked := secrets.Leaks(out); len(leaked) > 0 {
		for _, s := range leaked {
			t.Errorf("the log holds a secret: %.12s…", s)
		}
	}
	if !strings.Contains(out, "level=DEBUG") {
		t.Error("no debug line: was LOG_LEVEL=debug in effect?")
	}
	ids := map[string]bool{}
	lines := 0
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "msg=request") {
			continue
		}
		lines++
		m := requestLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("a request line without exactly method, route, status, duration, request id (and login on /authorize): %s", line)
			continue
		}
		switch m[2] {
		case "/authorize", "/poll", "/refresh", "/revoke", "/redirect", "/healthz", "/", "(unmatched)":
		default:
			t.Errorf("a request line names a route that is not a route pattern: %s", line)
		}
		if m[5] != "" && (m[2] != "/authorize" || m[3] != "200") {
			t.Errorf("a request line other than a started login's names a login: %s", line)
		}
		if ids[m[4]] {
			t.Errorf("request id %s twice", m[4])
		}
		ids[m[4]] = true
	}
	if lines < requests {
		t.Errorf("%d request lines for at least %d routed requests", lines, requests)
	}
	if strings.Contains(out, "?") {
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "?") {
				t.Errorf("a log line with a query string: %s", line)
			}
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// flipChar changes one character in the middle of a sealed value.
func flipChar(s string) string {
	i := len(s) / 2
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

// Every request gets its log line, also one with a method Fiber does not
// know (it had none) and one refused before routing (a compressed body, an
// oversized one), with the route pattern, never the path or query that
// carried a key or a state.
func TestUnknownMethodsAndRefusedBodiesAreLogged(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	proc, h := startBinaryFor(t, p, map[string]string{"LOG_LEVEL": "info"})
	l := h.authorize(t)
	send := func(method, path string, hdr ...string) resp {
		t.Helper()
		req := mustRequest(t, method, h.URL+path)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		return h.client.do(t, req)
	}
	type line struct{ method, route, status string }
	want := map[line]int{{"POST", "/authorize", "200"}: 1}
	for _, tc := range []struct {
		method, path string
		hdr          []string
		status       int
		logged       line
	}{
		{"BREW", "/poll?readKey=" + url.QueryEscape(l.readKey), nil, 405, line{"BREW", "/poll", "405"}},
		{"PROPFIND", "/Poll/", nil, 405, line{"PROPFIND", "/poll", "405"}},
		{"FOO", "/healthz", nil, 405, line{"FOO", "/healthz", "405"}},
		{"BREW", "/redirect/" + l.state + "?code=" + random(20), nil, 404, line{"BREW", "(unmatched)", "404"}},
		{"POST", "/poll?readKey=" + url.QueryEscape(l.readKey), []string{"Content-Encoding", "gzip"}, 415, line{"POST", "(unmatched)", "415"}},
	} {
		if r := send(tc.method, tc.path, tc.hdr...); r.status != tc.status {
			t.Errorf("%s %.20s: %v, want %d", tc.method, tc.path, r, tc.status)
		}
		want[tc.logged]++
	}
	// A declared body over 64 KiB, refused before any of it is read.
	addr := strings.TrimPrefix(h.URL, "http://")
	r := rawExchange(t, addr, "POST /poll?readKey="+url.QueryEscape(l.readKey)+" HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n", "")
	wantCode(t, "a declared body over 64 KiB", r, 413, "invalid_request")
	want[line{"POST", "(unmatched)", "413"}]++

	h.client.close()
	if code := proc.stop(t, syscall.SIGTERM, 20*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM", code)
	}
	out := proc.Out.String()
	got := map[line]int{}
	for _, s := range strings.Split(out, "\n") {
		if m := requestLine.FindStringSubmatch(s); m != nil {
			got[line{m[1], m[2], m[3]}]++
		}
	}
	for l, n := range want {
		if got[l] != n {
			t.Errorf("%d request lines with method=%s route=%s status=%s, want %d", got[l], l.method, l.route, l.status, n)
		}
	}
	if leaked := secrets.Leaks(out); len(leaked) > 0 {
		t.Errorf("the log holds %d secret(s)", len(leaked))
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}
