package mockprovider

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The mock is strict where a real provider is: a broker that sends a wrong
// secret, no verifier or another redirect URI must fail against it, or the
// suites that use it stop catching those bugs. Each case gets a fresh
// code and changes one thing in an otherwise correct token request.
func TestTokenEndpointIsStrict(t *testing.T) {
	const (
		id, secret = "client", "s3cret"
		redirect   = "http://127.0.0.1:1/redirect"
		verifier   = "verifier-0123456789-0123456789-0123456789-abc" // 45 characters, RFC 7636 §4.1
	)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	p := New(Options{ClientID: id, ClientSecret: secret, AutoApprove: true, RedirectURIs: []string{redirect, redirect + "2"}})
	srv := httptest.NewServer(p)
	defer srv.Close()

	cases := []struct {
		name      string
		challenge string // sent at /authorize ("" for none)
		change    func(f url.Values, r *http.Request)
		status    int
		code      string
	}{
		{"correct, with PKCE", challenge, nil, 200, ""},
		{"correct, without PKCE", "", func(f url.Values, _ *http.Request) { f.Del("code_verifier") }, 200, ""},
		{"correct, Basic", challenge, func(f url.Values, r *http.Request) {
			r.SetBasicAuth(id, secret)
			f.Del("client_id")
			f.Del("client_secret")
		}, 200, ""},
		{"wrong secret", challenge, func(f url.Values, _ *http.Request) { f.Set("client_secret", secret+"x") }, 401, "invalid_client"},
		{"no secret", challenge, func(f url.Values, _ *http.Request) { f.Del("client_secret") }, 401, "invalid_client"},
		{"wrong client id", challenge, func(f url.Values, _ *http.Request) { f.Set("client_id", "other") }, 401, "invalid_client"},
		{"wrong secret, Basic", challenge, func(f url.Values, r *http.Request) {
			r.SetBasicAuth(id, "wrong")
			f.Del("client_id")
			f.Del("client_secret")
		}, 401, "invalid_client"},
		{"Basic and a secret in the body", challenge, func(_ url.Values, r *http.Request) { r.SetBasicAuth(id, secret) }, 401, "invalid_client"},
		{"missing verifier", challenge, func(f url.Values, _ *http.Request) { f.Del("code_verifier") }, 400, "invalid_grant"},
		{"wrong verifier", challenge, func(f url.Values, _ *http.Request) { f.Set("code_verifier", verifier+"x") }, 400, "invalid_grant"},
		{"short verifier whose hash matches", shortChallenge(), func(f url.Values, _ *http.Request) { f.Set("code_verifier", "short") }, 400, "invalid_grant"},
		{"verifier without a challenge", "", nil, 400, "invalid_grant"},
		{"another registered redirect_uri", challenge, func(f url.Values, _ *http.Request) { f.Set("redirect_uri", redirect+"2") }, 400, "invalid_grant"},
		{"no redirect_uri", challenge, func(f url.Values, _ *http.Request) { f.Del("redirect_uri") }, 400, "invalid_grant"},
		{"unknown code", challenge, func(f url.Values, _ *http.Request) { f.Set("code", "code_forged") }, 400, "invalid_grant"},
		{"unknown grant type", challenge, func(f url.Values, _ *http.Request) { f.Set("grant_type", "password") }, 400, "unsupported_grant_type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code := authorizeCode(t, srv.URL, url.Values{"client_id": {id}, "response_type": {"code"},
				"redirect_uri": {redirect}, "state": {"st"}, "code_challenge": {c.challenge}, "code_challenge_method": {"S256"}})
			f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
				"client_id": {id}, "client_secret": {secret}, "code_verifier": {verifier}}
			req := httptest.NewRequest("POST", srv.URL+"/token", nil)
			if c.change != nil {
				c.change(f, req)
			}
			status, body := postToken(t, srv.URL, f, req.Header.Get("Authorization"))
			if status != c.status || errorOf(body) != c.code {
				t.Fatalf("token: %d %s, want %d %q", status, body, c.status, c.code)
			}
			if c.status == 200 {
				// The code is spent: the same request again is refused.
				if status, body := postToken(t, srv.URL, f, req.Header.Get("Authorization")); status != 400 || errorOf(body) != "invalid_grant" {
					t.Errorf("the code redeemed twice: %d %s", status, body)
				}
			}
		})
	}
}

// An expired code is refused like a used one.
func TestCodeExpires(t *testing.T) {
	const redirect = "http://127.0.0.1:1/redirect"
	p := New(Options{ClientID: "c", ClientSecret: "s", AutoApprove: true, CodeTTL: time.Millisecond})
	srv := httptest.NewServer(p)
	defer srv.Close()
	code := authorizeCode(t, srv.URL, url.Values{"client_id": {"c"}, "response_type": {"code"}, "redirect_uri": {redirect}})
	time.Sleep(20 * time.Millisecond)
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
		"client_id": {"c"}, "client_secret": {"s"}}
	if status, body := postToken(t, srv.URL, f, ""); status != 400 || errorOf(body) != "invalid_grant" {
		t.Fatalf("expired code: %d %s", status, body)
	}
}

// The authorization endpoint refuses what a real one refuses, before any
// consent: an unknown client, an unregistered redirect URI, a plain
// challenge, and (with RequirePKCE) no challenge.
func TestAuthorizeIsStrict(t *testing.T) {
	const redirect = "http://127.0.0.1:1/redirect"
	p := New(Options{ClientID: "c", ClientSecret: "s", AutoApprove: true, RequirePKCE: true, RedirectURIs: []string{redirect}})
	srv := httptest.NewServer(p)
	defer srv.Close()
	good := func() url.Values {
		return url.Values{"client_id": {"c"}, "response_type": {"code"}, "redirect_uri": {redirect},
			"code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}}
	}
	cases := []struct {
		name   string
		change func(url.Values)
		status int
	}{
		{"correct", func(url.Values) {}, http.StatusFound},
		{"unknown client", func(q url.Values) { q.Set("client_id", "other") }, 400},
		{"unregistered redirect_uri", func(q url.Values) { q.Set("redirect_uri", redirect+"/x") }, 400},
		{"relative redirect_uri", func(q url.Values) { q.Set("redirect_uri", "/redirect") }, 400},
		{"response_type token", func(q url.Values) { q.Set("response_type", "token") }, 400},
		{"plain challenge", func(q url.Values) { q.Set("code_challenge_method", "plain") }, 400},
		{"no challenge", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, 400},
	}
	for _, c := range cases {
		q := good()
		c.change(q)
		resp, err := noRedirects.Get(srv.URL + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.status)
		}
	}
}

// authorizeCode gets a code from an auto-approving provider.
func authorizeCode(t *testing.T, base string, q url.Values) string {
	t.Helper()
	if q.Get("code_challenge") == "" {
		q.Del("code_challenge")
		q.Del("code_challenge_method")
	}
	resp, err := noRedirects.Get(base + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

func postToken(t *testing.T, base string, f url.Values, authorization string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/token", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func errorOf(body string) string {
	var e struct{ Error string }
	json.Unmarshal([]byte(body), &e)
	return e.Error
}

// shortChallenge is the S256 challenge of "short", a verifier below RFC
// 7636's 43 characters.
func shortChallenge() string {
	sum := sha256.Sum256([]byte("short"))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
