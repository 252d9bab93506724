package web_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/url"
	"strings"
	"testing"

	"handoff/flow"
)

// Per-login choices over HTTP (docs/protocol.md#authorize): read from the
// query, a form, a multipart form or a JSON body; refused by name.

func withChoices(c *flow.Config) {
	c.AllowedScopes = []string{"openid", "profile", "email"}
}

func TestAuthorizeChoices(t *testing.T) {
	t.Parallel()
	s := start(t, setup{flow: withChoices})
	multi := func(fields ...string) (string, string) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		for i := 0; i+1 < len(fields); i += 2 {
			w.WriteField(fields[i], fields[i+1])
		}
		w.Close()
		return buf.String(), w.FormDataContentType()
	}
	mbody, mtype := multi("scope", "openid email", "login_hint", "ada@example.com")
	cases := []struct {
		name, target, body, contentType string
		wantScope, wantHint, wantPrompt string
	}{
		{"query", "/authorize?scope=openid+email&prompt=consent", "", "", "openid email", "", "consent"},
		{"form body", "/authorize", "scope=email&login_hint=ada%40example.com", "application/x-www-form-urlencoded", "email", "ada@example.com", ""},
		{"JSON body", "/authorize", `{"scope":"profile email","prompt":"select_account","other":[1,2]}`, "application/json", "profile email", "", "select_account"},
		{"JSON body without its type", "/authorize", `{"scope":"email"}`, "text/plain;charset=UTF-8", "email", "", ""},
		{"multipart body", "/authorize", mbody, mtype, "openid email", "ada@example.com", ""},
		{"the query wins", "/authorize?scope=profile", "scope=email", "application/x-www-form-urlencoded", "profile", "", ""},
		{"a text body is no form", "/authorize", "scope=email", "text/plain", "openid profile", "", ""},
		{"JSON null is none", "/authorize", `{"scope":null}`, "application/json", "openid profile", "", ""},
		{"a cache-buster", "/authorize?_=1700000000", "", "", "openid profile", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var headers []string
			if c.contentType != "" {
				headers = []string{"Content-Type", c.contentType}
			}
			r := s.do("POST", c.target, strings.NewReader(c.body), append(headers, "Origin", testPluginOrigin)...)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			checkCORS(t, r, testPluginOrigin)
			var l login
			if err := json.Unmarshal(r.body, &l); err != nil {
				t.Fatal(err)
			}
			q := mustQuery(t, l.URL)
			if q.Get("scope") != c.wantScope || q.Get("login_hint") != c.wantHint || q.Get("prompt") != c.wantPrompt {
				t.Errorf("scope %q hint %q prompt %q", q.Get("scope"), q.Get("login_hint"), q.Get("prompt"))
			}
			// The login works with the provider (the mock knows no scope
			// list, so it takes these).
			if back := s.consent(l); !strings.Contains(back, "code=") {
				t.Errorf("provider's answer %s", back)
			}
		})
	}
}

func TestAuthorizeChoicesRefused(t *testing.T) {
	t.Parallel()
	s := start(t, setup{flow: withChoices})
	cases := []struct {
		name, target, body, contentType, param string
	}{
		{"a scope beyond ALLOWED_SCOPES", "/authorize?scope=openid+admin", "", "", "scope"},
		{"in a form", "/authorize", "prompt=always", "application/x-www-form-urlencoded", "prompt"},
		{"a JSON number", "/authorize", `{"login_hint":42}`, "application/json", "login_hint"},
		{"a JSON list", "/authorize", `{"scope":["openid"]}`, "application/json", "scope"},
		{"state", "/authorize?state=mine", "", "", "state"},
		{"client_id in a form", "/authorize", "client_id=other", "application/x-www-form-urlencoded", "client_id"},
		{"redirect_uri in JSON", "/authorize", `{"redirect_uri":"https://evil.example/"}`, "application/json", "redirect_uri"},
		{"code_challenge", "/authorize?code_challenge=x", "", "", "code_challenge"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			headers := []string{"Origin", testPluginOrigin}
			if c.contentType != "" {
				headers = append(headers, "Content-Type", c.contentType)
			}
			r := s.do("POST", c.target, strings.NewReader(c.body), headers...)
			checkError(t, r, 400, "invalid_request")
			checkCORS(t, r, testPluginOrigin)
			if d := r.json(t)["error_description"].(string); !strings.HasPrefix(d, c.param+": ") {
				t.Errorf("error_description %q does not name %s", d, c.param)
			}
		})
	}
}

// Without parameters the answer is the plain one: the same members, the
// same URL up to the per-login values, the same headers.
func TestAuthorizeWithoutChoicesUnchanged(t *testing.T) {
	t.Parallel()
	s := start(t, setup{flow: withChoices})
	plain := s.do("POST", "/authorize", nil)
	busted := s.do("POST", "/authorize?_=1", nil)
	for _, r := range []response{plain, busted} {
		if r.status != 200 || !bytes.HasPrefix(r.body, []byte(`{"url":"`)) || len(r.json(t)) != 2 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	var a, b login
	json.Unmarshal(plain.body, &a)
	json.Unmarshal(busted.body, &b)
	prefix := func(u string) string { return u[:strings.Index(u, "state=")] }
	if prefix(a.URL) != prefix(b.URL) || len(a.URL) != len(b.URL) || len(a.ReadKey) != len(b.ReadKey) {
		t.Errorf("with a cache-buster the login differs:\n%s\n%s", a.URL, b.URL)
	}
	for _, h := range []string{"Content-Type", "Cache-Control", "Vary"} {
		if plain.header.Get(h) != busted.header.Get(h) {
			t.Errorf("%s: %q and %q", h, plain.header.Get(h), busted.header.Get(h))
		}
	}
}

// A value the provider sends back on the redirect under a template
// variable's name must be the sealed one: otherwise the invalid-link page
// and no token request.
func TestRedirectEchoMismatch(t *testing.T) {
	t.Parallel()
	s := start(t, setup{flow: func(c *flow.Config) {
		c.AuthorizeEndpoint += "?tenant={shop}"
		c.Vars = []flow.TemplateVar{{Name: "shop", Pattern: `[a-z]+`}}
	}})
	checkError(t, s.do("POST", "/authorize", nil), 400, "invalid_request") // shop is required
	r := s.do("POST", "/authorize?shop=acme", nil)
	var l login
	if err := json.Unmarshal(r.body, &l); err != nil || r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if got := mustQuery(t, l.URL).Get("tenant"); got != "acme" {
		t.Errorf("tenant %q in %s", got, l.URL)
	}
	back := s.consent(l)
	bad := s.do("GET", back+"&shop=evil", nil)
	if bad.status != 400 || !bytes.Contains(bad.body, []byte(`data-outcome="invalid"`)) {
		t.Errorf("a mismatched shop: %d %s", bad.status, bad.body)
	}
	if n := s.prov.tokenCalls.Load(); n != 0 {
		t.Errorf("%d token requests after a mismatched shop", n)
	}
	if ok := s.do("GET", back+"&shop=acme", nil); ok.status != 200 {
		t.Errorf("the matching redirect: %d", ok.status)
	}
	if r := s.poll(l.ReadKey); r.status != 200 {
		t.Errorf("poll: %d %s", r.status, r.body)
	}
}

// Two /refresh calls with one token within REFRESH_REPLAY_TTL get the same
// answer from one provider call.
func TestRefreshReplayed(t *testing.T) {
	t.Parallel()
	s := start(t, setup{})
	rt := s.refreshToken(t)
	calls := s.prov.tokenCalls.Load()
	form := "refresh_token=" + url.QueryEscape(rt)
	first := s.do("POST", "/refresh", strings.NewReader(form), "Content-Type", "application/x-www-form-urlencoded")
	again := s.do("POST", "/refresh?code="+url.QueryEscape(rt), nil)
	if first.status != 200 || again.status != 200 || !bytes.Equal(first.body, again.body) {
		t.Fatalf("%d %s\n%d %s", first.status, first.body, again.status, again.body)
	}
	if n := s.prov.tokenCalls.Load() - calls; n != 1 {
		t.Errorf("%d provider calls, want 1", n)
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
