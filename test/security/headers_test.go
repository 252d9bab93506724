package security

// SECURITY.md property 4: token responses are never cached; every HTML page has a strict
// Content-Security-Policy (nothing loaded from elsewhere, inline style and
// script only by hash), Referrer-Policy: no-referrer (the page's URL holds
// the code and state), nosniff, and X-Frame-Options: DENY.

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"handoff/internal/mockprovider"
	"handoff/internal/testkit"
	"handoff/web"
)

var (
	styleElem   = regexp.MustCompile(`(?is)<style([^>]*)>(.*?)</style>`)
	scriptElem  = regexp.MustCompile(`(?is)<script([^>]*)>(.*?)</script>`)
	inlineAttr  = regexp.MustCompile(`(?i)<[^>]*\s(on[a-z]+|style)\s*=`)
	externalRef = regexp.MustCompile(`(?i)<(link|iframe|object|embed|img|base|form)\b`)
)

// checkPage asserts the headers and CSP of one HTML page, and that each
// inline style and script in it is allowed by its hash (so the page works
// under its own policy) while nothing else could run or load.
func checkPage(t *testing.T, what string, r resp) {
	t.Helper()
	for name, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Referrer-Policy":        "no-referrer",
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Cache-Control":          "no-store",
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("%s: %s is %q, want %q", what, name, got, want)
		}
	}
	csp := map[string][]string{}
	for _, d := range strings.Split(r.header.Get("Content-Security-Policy"), ";") {
		if f := strings.Fields(d); len(f) > 0 {
			csp[strings.ToLower(f[0])] = f[1:]
		}
	}
	for _, d := range []string{"default-src", "base-uri", "form-action", "frame-ancestors"} {
		if got := strings.Join(csp[d], " "); got != "'none'" {
			t.Errorf("%s: CSP %s is %q, want 'none'", what, d, got)
		}
	}
	for d, sources := range csp {
		for _, s := range sources {
			switch {
			case s == "'none'", s == "'self'" && d == "connect-src":
			case strings.HasPrefix(s, "'sha256-") || strings.HasPrefix(s, "'nonce-"):
				if d != "script-src" && d != "style-src" {
					t.Errorf("%s: CSP %s allows %s", what, d, s)
				}
			case s == "data:" && d == "img-src":
			default:
				t.Errorf("%s: CSP %s allows %s (unsafe-inline, a host, a scheme or a wildcard)", what, d, s)
			}
		}
	}
	allowed := func(d, content string) bool {
		sum := sha256.Sum256([]byte(content))
		h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		for _, s := range csp[d] {
			if s == h {
				return true
			}
		}
		return false
	}
	styles := styleElem.FindAllStringSubmatch(r.body, -1)
	if len(styles) == 0 {
		t.Errorf("%s: no inline style found (is this a page of handoff's?)", what)
	}
	for _, m := range styles {
		if !allowed("style-src", m[2]) {
			t.Errorf("%s: an inline style is not allowed by hash: the page would render unstyled", what)
		}
	}
	for _, m := range scriptElem.FindAllStringSubmatch(r.body, -1) {
		if strings.Contains(strings.ToLower(m[1]), "src") {
			t.Errorf("%s: an external script: %s", what, m[0])
		} else if !allowed("script-src", m[2]) {
			t.Errorf("%s: an inline script is not allowed by hash", what)
		}
	}
	if m := inlineAttr.FindString(r.body); m != "" {
		t.Errorf("%s: an inline handler or style attribute %q (the CSP forbids it)", what, m)
	}
	if m := externalRef.FindString(r.body); m != "" {
		t.Errorf("%s: an element that loads or sends elsewhere: %q", what, m)
	}
}

// checkTokenHeaders asserts the answer will not be kept by any cache.
func checkTokenHeaders(t *testing.T, what string, r resp) {
	t.Helper()
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("%s: Cache-Control %q, Pragma %q, Content-Type %q; want no-store, no-cache, JSON",
			what, r.header.Get("Cache-Control"), r.header.Get("Pragma"), r.header.Get("Content-Type"))
	}
}

func TestEveryPageAndTokenResponseHasSafeHeaders(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	key := hexKey()
	h := startHandoff(t, p, map[string]string{"PROVIDER_TIMEOUT": "1s", "SEAL_KEY": key})

	// The pages of the redirect route, every outcome.
	_, tokens := h.fullLogin(t)
	checkTokenHeaders(t, "the poll's token response", tokens)
	l := h.authorize(t)
	checkPage(t, "authenticated", h.client.get(t, h.client.consent(t, l, false)))
	checkPage(t, "invalid link", h.client.get(t, h.URL+"/redirect?state=forged&code=x"))
	checkPage(t, "no state at all", h.client.get(t, h.URL+"/redirect"))

	// The user's cancellation and the provider's refusal, each with markup
	// in error_description: shown escaped.
	for _, e := range []struct{ code, outcome string }{{"access_denied", "cancelled"}, {"invalid_scope", "refused"}} {
		l = h.authorize(t)
		r := h.client.get(t, h.redirectURL(url.Values{"state": {l.state}, "error": {e.code},
			"error_description": {`</p><script>alert(document.cookie)</script><img src=x onerror=alert(1)>`}}))
		wantPage(t, e.outcome+", with markup in error_description", r, http.StatusOK, e.outcome)
		checkPage(t, e.outcome, r)
		if !strings.Contains(r.body, "&lt;script&gt;alert(document.cookie)&lt;/script&gt;") {
			t.Errorf("%s: the provider's error_description is not shown escaped: %s", e.outcome, r.body)
		}
	}

	l = h.authorize(t)
	r := h.client.get(t, h.redirectURL(url.Values{"state": {l.state}}))
	wantPage(t, "neither code nor error", r, http.StatusBadRequest, "bad_request")
	checkPage(t, "bad request", r)

	p.SetTokenHook(func(w http.ResponseWriter, r *http.Request) bool { w.WriteHeader(500); return true })
	l = h.authorize(t)
	r = h.client.get(t, h.client.consent(t, l, false))
	wantPage(t, "provider failure", r, http.StatusBadGateway, "provider_error")
	checkPage(t, "provider failure", r)
	p.SetTokenHook(func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
		return true
	})
	l = h.authorize(t)
	r = h.client.get(t, h.client.consent(t, l, false))
	wantPage(t, "provider timeout", r, http.StatusGatewayTimeout, "provider_timeout")
	checkPage(t, "provider timeout", r)
	p.SetTokenHook(nil)

	// /refresh answers carry tokens too.
	var rt struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := jsonUnmarshal(tokens.body, &rt); err != nil || rt.RefreshToken == "" {
		t.Fatalf("no refresh token in %s", tokens.body)
	}
	r = h.client.post(t, h.URL+"/refresh", "application/x-www-form-urlencoded", url.Values{"refresh_token": {rt.RefreshToken}}.Encode())
	if r.status != http.StatusOK {
		t.Fatalf("/refresh: %v", r)
	}
	checkTokenHeaders(t, "the refresh's token response", r)
	// /authorize (the state and read key) and the JSON errors are not
	// stored either.
	for what, r := range map[string]resp{
		"/authorize":        h.client.post(t, h.URL+"/authorize", "", ""),
		"a refused refresh": h.client.post(t, h.URL+"/refresh?code=nope", "", ""),
		"a pending poll":    h.poll(t, h.authorize(t).readKey),
	} {
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", what, r.header.Get("Cache-Control"))
		}
	}

	// The 429 page: the per-IP limit of /redirect.
	limited := startHandoff(t, p, map[string]string{"RATE_LIMIT": "on"})
	var last resp
	for range 2 * web.IPLimit { // the budget refills as they go
		if last = limited.client.get(t, limited.URL+"/redirect?state=x"); last.status == http.StatusTooManyRequests {
			break
		}
	}
	wantPage(t, "rate-limited redirect", last, http.StatusTooManyRequests, "slow_down")
	checkPage(t, "rate-limited redirect", last)

	// The "server restarted" page of several machines (docs/protocol.md#several-machines).
	m1 := startHandoff(t, p, map[string]string{"SEAL_KEY": key, "FLY_MACHINE_ID": "m1"})
	m2 := startHandoff(t, p, map[string]string{"SEAL_KEY": key, "FLY_MACHINE_ID": "m2"})
	l = authorizeAt(t, m1.client, m1.URL, secrets)
	r = m2.client.get(t, m2.URL+"/redirect?"+url.Values{"state": {l.state}, "code": {"x"}}.Encode(), "Fly-Replay-Failed", "1")
	wantPage(t, "owner gone", r, http.StatusServiceUnavailable, "restarted")
	checkPage(t, "owner gone", r)

	// The demo page, the one page with a script.
	demo := startHandoff(t, p, nil, func(o *web.Options) {
		o.Demo = mockprovider.New(mockprovider.Options{ClientID: p.clientID, ClientSecret: p.clientSecret, Prefix: "/mock"})
		o.DemoPath = "/mock"
	})
	r = demo.client.get(t, demo.URL+"/")
	if r.status != http.StatusOK || !strings.Contains(r.body, "<script") {
		t.Fatalf("demo page: %v", r)
	}
	checkPage(t, "demo page", r)
}
