//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The checks that journeys share: on handoff's pages, its log, and the
// tokens and token requests of a login.

// assertPageHeaders checks the headers of SECURITY.md property 4 on every main-frame HTML
// document that handoff served in the tab (URL prefix base).
func assertPageHeaders(t *testing.T, tb *tab, base string) {
	t.Helper()
	n := 0
	for _, d := range tb.Docs() {
		if !strings.HasPrefix(d.URL, base) {
			continue
		}
		n++
		h := d.Headers
		where := fmt.Sprintf("%d %s", d.Status, redactURL(d.URL))
		csp := h["content-security-policy"]
		if csp == "" {
			t.Errorf("%s: no Content-Security-Policy", where)
		} else if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "*") {
			t.Errorf("%s: CSP not strict: %s", where, csp)
		}
		for name, want := range map[string]string{
			"referrer-policy":        "no-referrer",
			"x-content-type-options": "nosniff",
			"x-frame-options":        "DENY",
		} {
			if !strings.EqualFold(strings.TrimSpace(h[name]), want) {
				t.Errorf("%s: %s %q, want %q", where, name, h[name], want)
			}
		}
	}
	if n == 0 {
		t.Errorf("no handoff page (%s) seen in tab %q", base, tb.name)
	}
}

var cspRe = regexp.MustCompile(`(?i)content security policy|CSP violation`)

// cspMessages are the messages about CSP in the tab's console.
func cspMessages(tb *tab) []string {
	var ms []string
	for _, m := range tb.Console() {
		if cspRe.MatchString(m) {
			ms = append(ms, m)
		}
	}
	return ms
}

// assertNoCSPViolations fails on any CSP message in the tabs' consoles. The
// provider's pages and the plugin page have no CSP, so any is handoff's.
func assertNoCSPViolations(t *testing.T, tabs ...*tab) {
	t.Helper()
	for _, tb := range tabs {
		for _, m := range cspMessages(tb) {
			t.Errorf("CSP violation in tab %q: %s", tb.name, m)
		}
	}
}

// assertHandoffPages checks handoff's pages in the tabs: the headers of
// SECURITY.md property 4 (assertPageHeaders) and no CSP violation.
func assertHandoffPages(t *testing.T, base string, tabs ...*tab) {
	t.Helper()
	assertNoCSPViolations(t, tabs...)
	for _, tb := range tabs {
		assertPageHeaders(t, tb, base)
	}
}

// assertSays fails for each of wants that text (of the page name) lacks.
func assertSays(t *testing.T, name, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %q: %q", name, want, text)
		}
	}
}

// assertNotInLog fails when handoff's log holds any of the secrets.
func assertNotInLog(t *testing.T, h *handoffServer, secrets map[string]string) {
	t.Helper()
	logText := h.Log()
	for name, v := range secrets {
		if len(v) < 8 {
			continue
		}
		if strings.Contains(logText, v) {
			t.Errorf("handoff's log contains the %s (SECURITY.md, property 1)", name)
		}
	}
}

var secretParamRe = regexp.MustCompile(`((?:readKey|code|state|refresh_token|access_token|code_challenge)=)([A-Za-z0-9_.~%-]{6})[A-Za-z0-9_.~%-]*`)

// redactText shortens codes, states, read keys and tokens in URLs inside text.
func redactText(s string) string {
	return secretParamRe.ReplaceAllString(s, "${1}${2}…")
}

// redactURL shortens query values so that logs of a failing test carry no
// codes or tokens in full.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.RawQuery == "" {
		return s
	}
	q := u.Query()
	for k, vs := range q {
		for i, v := range vs {
			if len(v) > 12 && k != "redirect_uri" && k != "iss" && k != "error_description" {
				vs[i] = v[:6] + "…"
			}
		}
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// queryParam returns a parameter of a URL's query.
func queryParam(s, name string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Query().Get(name)
}

// TestCSPWatchSeesViolations: the CSP check has teeth. A page whose CSP
// forbids its inline script and style shows up in the console that
// assertNoCSPViolations reads.
func TestCSPWatchSeesViolations(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>csp</title><style>body{color:red}</style><p>x</p><script>document.title="ran"</script>`)
	}))
	defer srv.Close()
	tb := newBrowser(t, ctx, nil, "").Plugin()
	if err := navigate(tb, srv.URL); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(5*time.Second, func() bool { return len(cspMessages(tb)) >= 2 }); err != nil {
		t.Fatalf("the CSP watch saw %d violations, want the inline style and script: %q", len(cspMessages(tb)), tb.Console())
	}
}

// checkTokens checks the token response the plugin got from /poll.
func checkTokens(t *testing.T, st *pluginState) {
	t.Helper()
	for _, k := range []string{"access_token", "refresh_token", "id_token", "token_type"} {
		if v, _ := st.Tokens[k].(string); v == "" {
			t.Errorf("poll 200: no %s in %v", k, keys(st.Tokens))
		}
	}
	if _, ok := st.Tokens["expires_in"].(float64); !ok {
		t.Errorf("poll 200: expires_in is %T %v, want a number", st.Tokens["expires_in"], st.Tokens["expires_in"])
	}
	if tt, _ := st.Tokens["token_type"].(string); tt != "Bearer" {
		t.Errorf("poll 200: token_type %q, want the provider's %q untouched", tt, "Bearer")
	}
	if !strings.Contains(st.TokensCacheControl, "no-store") {
		t.Errorf("poll 200: Cache-Control %q, want no-store", st.TokensCacheControl)
	}
	for i, p := range st.Polls[:max(0, len(st.Polls)-1)] {
		if p.Status != 404 || p.Error != "authorization_pending" {
			t.Errorf("poll %d before the tokens: %d %q, want 404 authorization_pending", i, p.Status, p.Error)
		}
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// checkTokenRequests checks what handoff sent to the provider's token endpoint.
func checkTokenRequests(t *testing.T, reqs []tokenRequest, clientID, auth string, wantGrants ...string) {
	t.Helper()
	if got := tokenRequestList(reqs); len(reqs) != len(wantGrants) {
		t.Errorf("token endpoint got %d requests %v, want %d (%v)", len(reqs), got, len(wantGrants), wantGrants)
	}
	for i, r := range reqs {
		if i < len(wantGrants) && r.GrantType != wantGrants[i] {
			t.Errorf("token request %d: grant_type %q, want %q", i, r.GrantType, wantGrants[i])
		}
		if r.Method != "POST" || r.Query {
			t.Errorf("token request %d: %s with query=%v, want POST with no query (secret never in a URL)", i, r.Method, r.Query)
		}
		if !strings.HasPrefix(r.ContentType, "application/x-www-form-urlencoded") {
			t.Errorf("token request %d: Content-Type %q, want a form body", i, r.ContentType)
		}
		if !strings.Contains(r.Accept, "application/json") {
			t.Errorf("token request %d: Accept %q, want application/json", i, r.Accept)
		}
		if r.ClientID != clientID {
			t.Errorf("token request %d: client %q, want %q", i, r.ClientID, clientID)
		}
		if auth != "" && r.Auth != auth {
			t.Errorf("token request %d: client authentication %q, want %q", i, r.Auth, auth)
		}
		if r.GrantType == "authorization_code" && !r.HasCodeVerifier {
			t.Errorf("token request %d: no code_verifier (PKCE)", i)
		}
		if r.Rejected != "" {
			t.Errorf("token request %d rejected by the provider: %s", i, r.Rejected)
		}
	}
}

// tokenRequestList is the provider's token requests as grant/auth/status,
// for messages.
func tokenRequestList(reqs []tokenRequest) []string {
	var got []string
	for _, r := range reqs {
		got = append(got, fmt.Sprintf("%s/%s/%d", r.GrantType, r.Auth, r.Status))
	}
	return got
}
