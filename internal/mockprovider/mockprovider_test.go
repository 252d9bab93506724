package mockprovider

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"handoff/internal/pagestyle"
)

// The consent page allows its inline style by hash only, and the hash is
// that of the style it serves.
func TestConsentPageCSP(t *testing.T) {
	p := New(Options{ClientID: "c", ClientSecret: "s"})
	srv := httptest.NewServer(p)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/authorize?client_id=c&response_type=code&redirect_uri=http://localhost/cb&state=x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP allows unsafe-inline: %s", csp)
	}
	m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindSubmatch(body)
	if m == nil {
		t.Fatal("no <style> in the consent page")
	}
	sum := sha256.Sum256(m[1])
	if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
		t.Fatalf("CSP %q lacks %q", csp, want)
	}
}

// The consent page and the mock provider's error pages wear handoff's style
// sheet (internal/pagestyle), allowed by its hash, and an error page says what
// the mock refused as text, not a bare text/plain line.
func TestPagesLookLikeHandoffs(t *testing.T) {
	p := New(Options{ClientID: "c", ClientSecret: "s", RedirectURIs: []string{"http://localhost/cb"}})
	srv := httptest.NewServer(p)
	defer srv.Close()
	cases := []struct {
		name, method, target string
		status               int
		want                 []string
	}{
		{"consent", "GET", "/authorize?client_id=c&response_type=code&redirect_uri=http://localhost/cb&state=x", 200,
			[]string{"Sign in to Mock Provider", `id="approve"`, `class="secondary"`}},
		{"unknown client", "GET", "/authorize?client_id=other&response_type=code&redirect_uri=http://localhost/cb&state=x", 400,
			[]string{`class="bad"`, "The mock provider refused this request", "mock provider:</strong> unknown client_id"}},
		{"unregistered redirect", "GET", "/authorize?client_id=c&response_type=code&redirect_uri=http://evil.example/cb&state=x", 400,
			[]string{`class="bad"`, "redirect_uri is not registered"}},
		{"consent form for another client", "POST", "/authorize", 400,
			[]string{`class="bad"`, "unknown client_id"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader
			if c.method == "POST" {
				body = strings.NewReader("client_id=other&decision=approve")
			}
			req, _ := http.NewRequest(c.method, srv.URL+c.target, body)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindSubmatch(b)
			if m == nil || string(m[1]) != pagestyle.CSS {
				t.Fatalf("the page does not carry handoff's style sheet:\n%s", b)
			}
			sum := sha256.Sum256(m[1])
			csp := resp.Header.Get("Content-Security-Policy")
			if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
			for _, w := range c.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("the page lacks %q:\n%s", w, b)
				}
			}
		})
	}
}

// Scopes: a login asking for one the provider does not know goes back
// with invalid_scope; the email scope shows in /userinfo; /revoke ends the
// whole grant (RFC 7009), an unknown token being no error.
func TestScopesAndRevoke(t *testing.T) {
	const redirect = "http://localhost/cb"
	p := New(Options{ClientID: "c", ClientSecret: "s", Scopes: []string{"profile", "email"}, AutoApprove: true, RotateRefreshTokens: true})
	srv := httptest.NewServer(p)
	defer srv.Close()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authorize := func(scope string) url.Values {
		t.Helper()
		resp, err := noFollow.Get(srv.URL + "/authorize?" + url.Values{"client_id": {"c"}, "response_type": {"code"},
			"redirect_uri": {redirect}, "state": {"st"}, "scope": {scope}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		return loc.Query()
	}
	post := func(path string, form url.Values) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("c", "s")
		return sendJSON(t, req)
	}
	userinfo := func(at string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+at)
		_, m := sendJSON(t, req)
		return m
	}

	if q := authorize("profile admin"); q.Get("error") != "invalid_scope" || q.Get("state") != "st" || q.Has("code") {
		t.Errorf("an unknown scope: %v", q)
	}
	tokens := map[string]map[string]any{}
	for _, scope := range []string{"profile", "profile email"} {
		q := authorize(scope)
		status, m := post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {redirect}})
		if status != 200 || m["scope"] != scope {
			t.Fatalf("%s: %d %v", scope, status, m)
		}
		tokens[scope] = m
	}
	if u := userinfo(tokens["profile"]["access_token"].(string)); u["email"] != nil || u["sub"] != "demo-user" {
		t.Errorf("userinfo with profile: %v", u)
	}
	if u := userinfo(tokens["profile email"]["access_token"].(string)); u["email"] != "demo-user@example.test" {
		t.Errorf("userinfo with email: %v", u)
	}

	// Revoke the refresh token of one grant: its refresh and access
	// tokens stop working, the other grant's do not.
	rt := tokens["profile"]["refresh_token"].(string)
	if status, _ := post("/revoke", url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}}); status != 200 {
		t.Fatalf("revoke: %d", status)
	}
	if status, m := post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}); status != 400 || m["error"] != "invalid_grant" {
		t.Errorf("refresh after revoke: %d %v", status, m)
	}
	if u := userinfo(tokens["profile"]["access_token"].(string)); u["error"] != "invalid_token" {
		t.Errorf("access token after revoke: %v", u)
	}
	if status, _ := post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens["profile email"]["refresh_token"].(string)}}); status != 200 {
		t.Errorf("the other grant's refresh: %d", status)
	}
	if status, _ := post("/revoke", url.Values{"token": {"never-issued"}}); status != 200 {
		t.Errorf("an unknown token: %d, want 200 (RFC 7009 §2.2)", status)
	}
	if status, m := post("/revoke", url.Values{}); status != 400 || m["error"] != "invalid_request" {
		t.Errorf("no token: %d %v", status, m)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/revoke", strings.NewReader("token=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("c", "wrong")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("wrong client secret: %v %v", resp, err)
	}
	if n := p.RevokeRequests(); n != 4 {
		t.Errorf("%d revocation requests counted, want 4", n)
	}
}

// sendJSON sends req and decodes the JSON object it answers.
func sendJSON(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// A hook answers in the provider's place, after the form is read and before
// the client is authenticated; returning false lets the provider answer; nil
// removes it. Each endpoint has its own.
func TestHooks(t *testing.T) {
	p := New(Options{ClientID: "c", ClientSecret: "s"})
	srv := httptest.NewServer(p)
	defer srv.Close()
	post := func(path string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader("grant_type=refresh_token&refresh_token=x&token=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return sendJSON(t, req) // no client authentication: the provider's own answer is 401
	}
	teapot := func(w http.ResponseWriter, r *http.Request) bool {
		if r.PostForm.Get("token") != "x" {
			t.Errorf("the hook saw no parsed form: %v", r.PostForm)
		}
		w.WriteHeader(http.StatusTeapot)
		return true
	}
	pass := func(http.ResponseWriter, *http.Request) bool { return false }
	for _, c := range []struct {
		path string
		set  func(Hook)
	}{{"/token", p.SetTokenHook}, {"/revoke", p.SetRevokeHook}} {
		c.set(teapot)
		if status, _ := post(c.path); status != http.StatusTeapot {
			t.Errorf("%s with a hook that answers: %d, want 418", c.path, status)
		}
		c.set(pass)
		if status, m := post(c.path); status != http.StatusUnauthorized || m["error"] != "invalid_client" {
			t.Errorf("%s with a hook that passes: %d %v, want 401 invalid_client", c.path, status, m)
		}
		c.set(nil)
		if status, _ := post(c.path); status != http.StatusUnauthorized {
			t.Errorf("%s after the hook is removed: %d, want 401", c.path, status)
		}
	}
	p.SetTokenHook(teapot)
	defer p.SetTokenHook(nil)
	if status, _ := post("/revoke"); status != http.StatusUnauthorized {
		t.Errorf("the token hook answered /revoke: %d", status)
	}
}
