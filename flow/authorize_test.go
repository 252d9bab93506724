package flow

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The authorize URL a login starts with, and a login the user or the
// provider cancels at the consent.

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

func TestCancelled(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, errParam, desc string
		wantCode, wantDesc   string
	}{
		{"access_denied", "access_denied", "The user denied the request.", "access_denied", "The user denied the request."},
		{"provider's own code", "consent_required", "", "consent_required", ""},
		{"invalid code replaced", `bad"code`, "x", "access_denied", "x"},
		{"overlong code replaced", strings.Repeat("e", 65), "", "access_denied", ""},
		{"long description bounded", "access_denied", strings.Repeat("é", 400), "access_denied", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, reply(200, "application/json", `{"access_token":"a"}`))
			b := newBroker(t, f.config(Config{PKCE: true}))
			l := b.Authorize()
			q := approve(t, l.URL)
			// error wins over code
			err := b.Redirect(context.Background(), Callback{State: q.Get("state"), Code: q.Get("code"), Error: c.errParam, ErrorDescription: c.desc})
			e := ferr(t, err, KindCancelled, c.wantCode)
			_, perr := b.Poll(l.ReadKey, PollOptions{})
			pe := ferr(t, perr, KindGone, c.wantCode)
			if c.wantDesc != "" && (e.Description != c.wantDesc || pe.Description != c.wantDesc) {
				t.Errorf("descriptions %q / %q, want %q", e.Description, pe.Description, c.wantDesc)
			}
			if pe.Description == "" || len(pe.Description) > 310 {
				t.Errorf("description %d bytes", len(pe.Description))
			}
			if f.hits.Load() != 0 {
				t.Errorf("%d token requests after a cancelled login", f.hits.Load())
			}
			// Later polls answer the same.
			_, perr = b.Poll(l.ReadKey, PollOptions{})
			ferr(t, perr, KindGone, c.wantCode)
		})
	}
	t.Run("no code and no error", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, reply(200, "application/json", `{"access_token":"a"}`))
		b := newBroker(t, f.config(Config{}))
		l := b.Authorize()
		q := approve(t, l.URL)
		ferr(t, b.Redirect(context.Background(), Callback{State: q.Get("state")}), KindInvalidRequest, "invalid_request")
		_, err := b.Poll(l.ReadKey, PollOptions{})
		ferr(t, err, KindGone, "invalid_request")
		if f.hits.Load() != 0 {
			t.Error("token request without a code")
		}
	})
}
