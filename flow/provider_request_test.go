package flow

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"handoff/internal/mockprovider"
)

// What handoff sends the provider: the authorize URL, the token request's
// shape and body format, PKCE, and a preset's extra token parameters.

// The exact shape of the token request, for each style, at a fake that
// records it.
func TestTokenRequestShape(t *testing.T) {
	t.Parallel()
	ok := reply(200, "application/json", `{"access_token":"a"}`)
	for _, style := range []AuthStyle{AuthPost, AuthBasic} {
		f := newFake(t, ok)
		b := newBroker(t, f.config(Config{ClientSecret: "s e+c/r%t", AuthStyle: style, PKCE: true}))
		_, q := mustLogin(t, b)
		r := f.requests()[0]
		if r.Method != http.MethodPost || r.Path != "/token" || len(r.Query) != 0 {
			t.Errorf("%s %s?%s, want POST /token with no query", r.Method, r.Path, r.Query.Encode())
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type %q", ct)
		}
		if a := r.Header.Get("Accept"); a != "application/json" {
			t.Errorf("Accept %q", a)
		}
		if r.Form.Get("grant_type") != "authorization_code" || r.Form.Get("code") != q.Get("code") ||
			r.Form.Get("redirect_uri") != testRedirectURI || r.Form.Get("code_verifier") == "" {
			t.Errorf("form %v", r.Form)
		}
		switch style {
		case AuthPost:
			if r.HasBasic || r.Form.Get("client_id") != testClientID || r.Form.Get("client_secret") != "s e+c/r%t" {
				t.Errorf("post: basic=%v form=%v", r.HasBasic, r.Form)
			}
		case AuthBasic:
			if !r.HasBasic || r.BasicUser != testClientID || r.BasicPass != "s e+c/r%t" || r.Form.Has("client_secret") || r.Form.Has("client_id") {
				t.Errorf("basic: basic=%v %q:%q form=%v", r.HasBasic, r.BasicUser, r.BasicPass, r.Form)
			}
			if u, p, _ := func() (string, string, bool) { req := http.Request{Header: r.Header}; return req.BasicAuth() }(); u != "client-id" || p != "s+e%2Bc%2Fr%25t" {
				t.Errorf("raw Basic credentials %q:%q, want each part form-encoded", u, p)
			}
		}
	}
}

var verifierChars = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

func TestPKCE(t *testing.T) {
	t.Parallel()
	t.Run("on: verifier matches challenge", func(t *testing.T) {
		t.Parallel()
		f, b := grantingFake(t, Config{PKCE: true})
		challenges := map[string]bool{}
		for range 5 {
			mustLogin(t, b)
			a := f.lastAuthorize()
			r := f.requests()
			v := r[len(r)-1].Form.Get("code_verifier")
			if a.Get("code_challenge_method") != "S256" {
				t.Errorf("code_challenge_method = %q", a.Get("code_challenge_method"))
			}
			if !verifierChars.MatchString(v) {
				t.Errorf("code_verifier %q is not RFC 7636 §4.1", v)
			}
			sum := sha256.Sum256([]byte(v))
			if got := base64.RawURLEncoding.EncodeToString(sum[:]); got != a.Get("code_challenge") {
				t.Errorf("S256(verifier) = %q, challenge %q", got, a.Get("code_challenge"))
			}
			if challenges[v] {
				t.Error("verifier reused across logins")
			}
			challenges[v] = true
		}
	})
	t.Run("on: mock provider requires it", func(t *testing.T) {
		t.Parallel()
		_, srv := mockProvider(t, mockprovider.Options{RequirePKCE: true})
		b := newBroker(t, mockConfig(srv, Config{PKCE: true}))
		l, _ := mustLogin(t, b)
		mustPoll(t, b, l.ReadKey)
	})
	t.Run("off: nothing sent", func(t *testing.T) {
		t.Parallel()
		f, b := grantingFake(t, Config{PKCE: false})
		l := b.Authorize()
		if strings.Contains(l.URL, "code_challenge") {
			t.Errorf("URL %q carries a challenge", l.URL)
		}
		q := approve(t, l.URL)
		if err := b.Redirect(context.Background(), Callback{State: q.Get("state"), Code: q.Get("code")}); err != nil {
			t.Fatal(err)
		}
		if r := f.requests()[0]; r.Form.Has("code_verifier") {
			t.Errorf("code_verifier sent with PKCE off: %v", r.Form)
		}
		// mockprovider refuses a verifier without a challenge.
		_, srv := mockProvider(t, mockprovider.Options{})
		b2 := newBroker(t, mockConfig(srv, Config{PKCE: false}))
		l2, _ := mustLogin(t, b2)
		mustPoll(t, b2, l2.ReadKey)
	})
}

func TestAuthorizeURL(t *testing.T) {
	t.Parallel()
	b := newBroker(t, Config{
		AuthorizeEndpoint: "https://provider.example/oauth/authorize?tenant=x&prompt=none#frag",
		Scope:             "a b",
		PKCE:              true,
		AuthorizeParams:   map[string][]string{"prompt": {"consent"}, "access_type": {"offline"}},
	})
	l := b.Authorize()
	u := mustParseURL(t, l.URL)
	q := u.Query()
	want := map[string]string{
		"client_id": testClientID, "redirect_uri": testRedirectURI, "response_type": "code",
		"scope": "a b", "tenant": "x", "prompt": "consent", "access_type": "offline",
		"code_challenge_method": "S256",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q (URL %s)", k, q.Get(k), v, l.URL)
		}
	}
	if len(q["prompt"]) != 1 || q.Get("state") == "" || q.Get("code_challenge") == "" || u.Fragment != "" {
		t.Errorf("URL %s", l.URL)
	}
	if u.Host != "provider.example" || u.Path != "/oauth/authorize" {
		t.Errorf("URL %s", l.URL)
	}
	// The read key and the state are URL-safe and differ per login.
	l2 := b.Authorize()
	if l2.ReadKey == l.ReadKey || mustParseURL(t, l2.URL).Query().Get("state") == q.Get("state") {
		t.Error("two logins share a read key or state")
	}
	for _, s := range []string{l.ReadKey, q.Get("state")} {
		if !regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(s) {
			t.Errorf("%q is not URL-safe", s)
		}
	}
	// No scope: no scope parameter.
	b3 := newBroker(t, Config{})
	if mustParseURL(t, b3.Authorize().URL).Query().Has("scope") {
		t.Error("empty scope sent")
	}
	// Parameters handoff sets may not come from AuthorizeParams.
	for _, k := range []string{"state", "code_challenge", "client_id", "redirect_uri"} {
		cfg := Config{Sealer: testSealer(t, "x"), LoginTTL: time.Minute, TokenTTL: time.Minute, ProviderTimeout: time.Second,
			MaxPending: 1, AuthorizeEndpoint: "https://p.example/a", AuthorizeParams: map[string][]string{k: {"v"}}}
		if _, err := New(cfg); err == nil {
			t.Errorf("AuthorizeParams %s accepted", k)
		}
	}
}

// A JSON request body (Notion) carries the same fields as strings.
func TestJSONRequestBody(t *testing.T) {
	t.Parallel()
	f, b := grantingFake(t, Config{BodyFormat: BodyJSON, AuthStyle: AuthBasic, PKCE: true})
	_, q := mustLogin(t, b)
	r := f.requests()[0]
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var m map[string]string
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	if m["grant_type"] != "authorization_code" || m["code"] != q.Get("code") || m["redirect_uri"] != testRedirectURI || m["code_verifier"] == "" || m["client_secret"] != "" {
		t.Errorf("body %s", r.Body)
	}
	if !r.HasBasic || r.BasicPass != testClientSecret {
		t.Error("no Basic credentials")
	}
}

// A preset's TokenParams go into the code exchange (Shopify's expiring=1),
// never into a refresh, and never in place of handoff's own parameters.
func TestTokenParams(t *testing.T) {
	t.Parallel()
	f := newFake(t, reply(200, "application/json", `{"access_token":"a","refresh_token":"r"}`))
	b := newBroker(t, f.config(Config{TokenParams: url.Values{"expiring": {"1"}}}))
	mustLogin(t, b)
	if _, err := b.Refresh(context.Background(), "r"); err != nil {
		t.Fatal(err)
	}
	r := f.requests()
	if got := r[0].Form.Get("expiring"); got != "1" || r[0].Form.Get("grant_type") != "authorization_code" {
		t.Errorf("code exchange %v: want expiring=1", r[0].Form)
	}
	if r[1].Form.Has("expiring") {
		t.Errorf("refresh %v carries the code exchange's parameters", r[1].Form)
	}
	for _, k := range []string{"grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret", "refresh_token"} {
		cfg := f.config(Config{TokenParams: url.Values{k: {"x"}}, Sealer: testSealer(t, "x"), LoginTTL: time.Minute, TokenTTL: time.Minute, ProviderTimeout: time.Second, MaxPending: 1})
		if _, err := New(cfg); err == nil {
			t.Errorf("New accepted TokenParams setting %s", k)
		}
	}
	cfg := f.config(Config{ErrorCodes: map[string]string{"bad": `in"valid`}, Sealer: testSealer(t, "x"), LoginTTL: time.Minute, TokenTTL: time.Minute, ProviderTimeout: time.Second, MaxPending: 1})
	if _, err := New(cfg); err == nil {
		t.Error("New accepted an error mapping to a code unfit to pass on")
	}
}
