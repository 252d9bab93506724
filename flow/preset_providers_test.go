package flow

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Each preset against a fake of its provider that enforces what that
// provider documents: where the endpoints are, how the client authenticates,
// the body format, PKCE, the authorize parameters needed for a refresh
// token, the scope separator, and the shape of its answers. The broker's
// Config is built from the preset the way package config builds it, with
// only the scheme and host of each endpoint replaced by the fake's. The
// expectations below are stated independently of presets.go, so a preset
// that sends the wrong request fails here.

type providerQuirks struct {
	authorizePath, tokenPath string
	refreshPath              string // "" means tokenPath
	basic                    bool   // client_secret_basic only; else client_secret_post only
	jsonBody                 bool   // token requests as a JSON body (Notion)
	pkce                     bool   // S256 required; false: a challenge or verifier is refused
	params                   url.Values
	scope                    []string // SCOPE as configured (space-separated)
	scopeSep                 string   // how the provider wants them joined
	answers                  string   // "json", "github" (form-encoded, errors with 200), "slack" (ok:false, authed_user)
	refresh                  string   // "keep" (answer omits refresh_token), "rotate", "same"
}

var providerFakes = map[string]providerQuirks{
	"google": {
		authorizePath: "/o/oauth2/v2/auth", tokenPath: "/token", pkce: true,
		params: url.Values{"access_type": {"offline"}, "prompt": {"consent"}},
		scope:  []string{"openid", "https://www.googleapis.com/auth/spreadsheets"}, scopeSep: " ",
		answers: "json", refresh: "keep",
	},
	"github": {
		authorizePath: "/login/oauth/authorize", tokenPath: "/login/oauth/access_token", pkce: true,
		scope: []string{"repo", "read:user"}, scopeSep: " ",
		answers: "github", refresh: "rotate",
	},
	"notion": {
		authorizePath: "/v1/oauth/authorize", tokenPath: "/v1/oauth/token", basic: true, jsonBody: true,
		params:  url.Values{"owner": {"user"}},
		answers: "json", refresh: "rotate",
	},
	"hubspot": {
		authorizePath: "/oauth/authorize", tokenPath: "/oauth/2026-03/token", pkce: true,
		scope: []string{"oauth", "crm.objects.contacts.read"}, scopeSep: " ",
		answers: "json", refresh: "same",
	},
	"airtable": {
		authorizePath: "/oauth2/v1/authorize", tokenPath: "/oauth2/v1/token", basic: true, pkce: true,
		scope: []string{"data.records:read", "schema.bases:read"}, scopeSep: " ",
		answers: "json", refresh: "rotate",
	},
	"dropbox": {
		authorizePath: "/oauth2/authorize", tokenPath: "/oauth2/token", basic: true, pkce: true,
		params: url.Values{"token_access_type": {"offline"}},
		scope:  []string{"files.content.read", "account_info.read"}, scopeSep: " ",
		answers: "json", refresh: "keep",
	},
	"slack": {
		authorizePath: "/oauth/v2/authorize", tokenPath: "/api/oauth.v2.access", basic: true,
		scope: []string{"channels:read", "chat:write"}, scopeSep: ",",
		answers: "slack", refresh: "rotate",
	},
	"microsoft": {
		authorizePath: "/common/oauth2/v2.0/authorize", tokenPath: "/common/oauth2/v2.0/token", pkce: true,
		scope: []string{"openid", "offline_access", "User.Read"}, scopeSep: " ",
		answers: "json", refresh: "rotate",
	},
	"linear": {
		authorizePath: "/oauth/authorize", tokenPath: "/oauth/token", pkce: true,
		scope: []string{"read", "write"}, scopeSep: ",",
		answers: "json", refresh: "rotate",
	},
	"figma": {
		authorizePath: "/oauth", tokenPath: "/v1/oauth/token", refreshPath: "/v1/oauth/refresh", basic: true,
		scope: []string{"current_user:read", "file_content:read"}, scopeSep: " ",
		answers: "json", refresh: "keep",
	},
	"spotify": {
		authorizePath: "/authorize", tokenPath: "/api/token", basic: true,
		scope: []string{"user-read-email", "playlist-read-private"}, scopeSep: " ",
		answers: "json", refresh: "keep",
	},
}

// presetFake is the fake provider for one preset.
type presetFake struct {
	t   testing.TB
	q   providerQuirks
	srv *httptest.Server

	mu       sync.Mutex
	codes    map[string]url.Values // code -> the authorize request's query
	refresh  map[string]bool       // valid refresh tokens
	n        int
	problems []string
}

const presetClientID, presetSecret = "preset client", "preset:secret+/%"

func newPresetFake(t *testing.T, q providerQuirks) *presetFake {
	f := &presetFake{t: t, q: q, codes: map[string]url.Values{}, refresh: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *presetFake) problem(format string, args ...any) string {
	msg := fmt.Sprintf(format, args...)
	f.mu.Lock()
	f.problems = append(f.problems, msg)
	f.mu.Unlock()
	return msg
}

func (f *presetFake) serve(w http.ResponseWriter, r *http.Request) {
	refreshPath := f.q.refreshPath
	if refreshPath == "" {
		refreshPath = f.q.tokenPath
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == f.q.authorizePath:
		f.authorize(w, r)
	case r.Method == http.MethodPost && (r.URL.Path == f.q.tokenPath || r.URL.Path == refreshPath):
		f.token(w, r, r.URL.Path == f.q.tokenPath, r.URL.Path == refreshPath)
	default:
		http.Error(w, f.problem("no such endpoint: %s %s", r.Method, r.URL.Path), http.StatusNotFound)
	}
}

func (f *presetFake) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var bad []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	check(q.Get("client_id") == presetClientID, "client_id %q", q.Get("client_id"))
	check(q.Get("response_type") == "code", "response_type %q", q.Get("response_type"))
	check(q.Get("redirect_uri") == testRedirectURI, "redirect_uri %q", q.Get("redirect_uri"))
	check(q.Get("state") != "", "no state")
	for k := range f.q.params {
		check(q.Get(k) == f.q.params.Get(k), "%s = %q, want %q", k, q.Get(k), f.q.params.Get(k))
	}
	if len(f.q.scope) > 0 {
		want := strings.Join(f.q.scope, f.q.scopeSep)
		check(q.Get("scope") == want, "scope %q, want %q", q.Get("scope"), want)
	} else {
		check(!q.Has("scope"), "scope %q sent to a provider without scopes", q.Get("scope"))
	}
	if f.q.pkce {
		check(len(q.Get("code_challenge")) == 43 && q.Get("code_challenge_method") == "S256",
			"PKCE required: code_challenge %q method %q", q.Get("code_challenge"), q.Get("code_challenge_method"))
	} else {
		check(!q.Has("code_challenge") && !q.Has("code_challenge_method"), "PKCE sent to a provider that does not take it")
	}
	if len(bad) > 0 {
		http.Error(w, f.problem("authorize: %s", strings.Join(bad, "; ")), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.n++
	code := fmt.Sprintf("code-%d", f.n)
	f.codes[code] = q
	f.mu.Unlock()
	http.Redirect(w, r, testRedirectURI+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
}

func (f *presetFake) token(w http.ResponseWriter, r *http.Request, atToken, atRefresh bool) {
	s := record(r)
	var bad []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	ct := r.Header.Get("Content-Type")
	if f.q.jsonBody {
		check(ct == "application/json", "Content-Type %q, want application/json", ct)
		var m map[string]any
		check(json.Unmarshal(s.Body, &m) == nil, "body is not a JSON object: %q", s.Body)
		for k, v := range m {
			_, isString := v.(string)
			check(isString, "member %s is not a string", k)
		}
	} else {
		check(ct == "application/x-www-form-urlencoded", "Content-Type %q, want a form", ct)
	}
	check(len(r.URL.RawQuery) == 0, "query %q on a token request", r.URL.RawQuery)
	if f.q.basic {
		check(s.HasBasic && s.BasicUser == presetClientID && s.BasicPass == presetSecret,
			"Basic credentials required (got basic=%v %q)", s.HasBasic, s.BasicUser)
		check(!s.Form.Has("client_secret"), "client_secret in the body as well as in Basic")
	} else {
		check(!s.HasBasic, "Basic credentials sent to a client_secret_post provider")
		check(s.Form.Get("client_id") == presetClientID && s.Form.Get("client_secret") == presetSecret,
			"client_id/client_secret required in the body")
	}
	grant := s.Form.Get("grant_type")
	refreshPath := f.q.refreshPath != ""
	switch {
	case grant == "authorization_code" && atToken:
		code := s.Form.Get("code")
		f.mu.Lock()
		aq, ok := f.codes[code]
		delete(f.codes, code)
		f.mu.Unlock()
		if !ok {
			f.refuse(w, "invalid_grant", "bad code")
			return
		}
		check(s.Form.Get("redirect_uri") == aq.Get("redirect_uri"), "redirect_uri %q", s.Form.Get("redirect_uri"))
		v := s.Form.Get("code_verifier")
		if f.q.pkce {
			sum := sha256.Sum256([]byte(v))
			check(base64.RawURLEncoding.EncodeToString(sum[:]) == aq.Get("code_challenge"), "code_verifier does not match")
		} else {
			check(!s.Form.Has("code_verifier"), "code_verifier sent to a provider that does not take it")
		}
		if len(bad) > 0 {
			f.refuse(w, "invalid_request", f.problem("token: %s", strings.Join(bad, "; ")))
			return
		}
		f.answer(w, "1", true)
	case (grant == "refresh_token" || refreshPath && grant == "") && atRefresh:
		rt := s.Form.Get("refresh_token")
		f.mu.Lock()
		ok := f.refresh[rt]
		if ok && f.q.refresh == "rotate" {
			delete(f.refresh, rt)
		}
		f.mu.Unlock()
		if !ok {
			f.refuse(w, "invalid_grant", "bad refresh token")
			return
		}
		check(!s.Form.Has("code_verifier") && !s.Form.Has("code"), "code or verifier in a refresh")
		if len(bad) > 0 {
			f.refuse(w, "invalid_request", f.problem("refresh: %s", strings.Join(bad, "; ")))
			return
		}
		switch f.q.refresh {
		case "keep":
			f.answer(w, "2", false)
		case "same":
			f.answerWith(w, "2", rt)
		default:
			f.answer(w, "2", true)
		}
	default:
		f.refuse(w, "unsupported_grant_type", f.problem("grant_type %q at %s", grant, r.URL.Path))
	}
}

func (f *presetFake) answer(w http.ResponseWriter, gen string, withRefresh bool) {
	rt := ""
	if withRefresh {
		f.mu.Lock()
		f.n++
		rt = fmt.Sprintf("rt-%d", f.n)
		f.mu.Unlock()
	}
	f.answerWith(w, gen, rt)
}

// answerWith writes a success in the provider's shape.
func (f *presetFake) answerWith(w http.ResponseWriter, gen, rt string) {
	if rt != "" {
		f.mu.Lock()
		f.refresh[rt] = true
		f.mu.Unlock()
	}
	at := "at-" + gen
	switch f.q.answers {
	case "github":
		v := "access_token=" + at + "&expires_in=28800&scope=repo%2Cread%3Auser&token_type=bearer"
		if rt != "" {
			v += "&refresh_token=" + rt + "&refresh_token_expires_in=15811200"
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		fmt.Fprint(w, v)
	case "slack":
		body := `{"ok":true,"app_id":"A1","authed_user":{"id":"U1","scope":"search:read","access_token":"xoxp-` + at + `","token_type":"user"},"scope":"channels:read,chat:write","token_type":"bot","access_token":"xoxb-` + at + `","bot_user_id":"B1","team":{"id":"T1","name":"Team"},"enterprise":null,"is_enterprise_install":false,"expires_in":43200`
		if rt != "" {
			body += `,"refresh_token":"` + rt + `"`
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		fmt.Fprint(w, body+"}")
	default:
		body := `{"access_token":"` + at + `","token_type":"bearer","expires_in":3599`
		if rt != "" {
			body += `,"refresh_token":"` + rt + `"`
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body+"}")
	}
}

// refuse writes a refusal in the provider's shape.
func (f *presetFake) refuse(w http.ResponseWriter, code, desc string) {
	switch f.q.answers {
	case "github": // HTTP 200, form-encoded
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		fmt.Fprint(w, url.Values{"error": {code}, "error_description": {desc}}.Encode())
	case "slack": // HTTP 200, ok:false
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": code})
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
}

// presetConfig builds the Config package config would build for
// PROVIDER=name with SCOPE=scope, pointing at base instead of the
// provider's host.
func presetConfig(t *testing.T, name, base string, scope []string) Config {
	t.Helper()
	p, ok := LookupPreset(name)
	if !ok {
		t.Fatalf("no preset %q", name)
	}
	rehost := func(raw string) string {
		if raw == "" {
			return ""
		}
		u := mustParseURL(t, raw)
		b := mustParseURL(t, base)
		u.Scheme, u.Host = b.Scheme, b.Host
		return u.String()
	}
	params, err := url.ParseQuery(p.AuthorizeParams)
	if err != nil {
		t.Fatal(err)
	}
	sep := p.ScopeSeparator
	if sep == "" {
		sep = " "
	}
	return Config{
		ClientID:          presetClientID,
		ClientSecret:      presetSecret,
		AuthorizeEndpoint: rehost(p.AuthorizeEndpoint),
		TokenEndpoint:     rehost(p.TokenEndpoint),
		RefreshEndpoint:   rehost(p.RefreshEndpoint),
		Scope:             strings.Join(scope, sep),
		AuthorizeParams:   params,
		PKCE:              p.PKCE,
		AuthStyle:         p.AuthStyle,
		BodyFormat:        p.BodyFormat,
	}
}

func TestPresetsAgainstFakeProviders(t *testing.T) {
	t.Parallel()
	for _, name := range PresetNames() {
		if _, ok := providerFakes[name]; !ok {
			t.Errorf("preset %q has no fake provider in this test", name)
		}
	}
	for name, q := range providerFakes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newPresetFake(t, q)
			b := newBroker(t, presetConfig(t, name, f.srv.URL, q.scope))
			defer func() {
				for _, p := range f.problems {
					t.Errorf("fake %s: %s", name, p)
				}
			}()

			// A login.
			l := b.Authorize()
			resp, err := noFollow.Get(l.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("authorize: HTTP %d", resp.StatusCode)
			}
			back := mustParseURL(t, resp.Header.Get("Location")).Query()
			if err := b.Redirect(context.Background(), Callback{State: back.Get("state"), Code: back.Get("code")}); err != nil {
				t.Fatalf("Redirect: %v", err)
			}
			tokens := mustPoll(t, b, l.ReadKey)
			m := jsonObject(t, tokens)
			rt, _ := m["refresh_token"].(string)
			if rt == "" {
				t.Fatalf("no refresh_token in %s", tokens)
			}
			switch q.answers {
			case "github": // form-encoded, converted with numbers
				if n, ok := m["expires_in"].(json.Number); !ok || n != "28800" || m["scope"] != "repo,read:user" {
					t.Errorf("GitHub's form answer converted to %s", tokens)
				}
			case "slack": // the provider's bytes, authed_user and all
				user, _ := m["authed_user"].(map[string]any)
				if user == nil || user["access_token"] != "xoxp-at-1" || m["ok"] != true {
					t.Errorf("Slack answer %s", tokens)
				}
			default:
				if !strings.HasPrefix(string(tokens), `{"access_token":"at-1","token_type":"bearer",`) {
					t.Errorf("answer not passed byte for byte: %s", tokens)
				}
			}

			// A refresh.
			refreshed, err := b.Refresh(context.Background(), rt)
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			r := jsonObject(t, refreshed)
			newRT, _ := r["refresh_token"].(string)
			switch q.refresh {
			case "keep", "same":
				if newRT != rt {
					t.Errorf("refresh_token %q after refresh, want the one sent (%q)", newRT, rt)
				}
			case "rotate":
				if newRT == "" || newRT == rt {
					t.Errorf("refresh_token %q after refresh, want the provider's new one", newRT)
				}
			}
			if !strings.Contains(string(refreshed), "at-2") {
				t.Errorf("refresh answer %s", refreshed)
			}

			// A refusal in the provider's own shape is a refusal.
			l2 := b.Authorize()
			back2 := approve(t, l2.URL)
			err = b.Redirect(context.Background(), Callback{State: back2.Get("state"), Code: "not-a-code"})
			ferr(t, err, KindProviderRejected, "invalid_grant")
			_, err = b.Poll(l2.ReadKey, PollOptions{})
			ferr(t, err, KindGone, "invalid_grant")
			_, err = b.Refresh(context.Background(), "not-a-refresh-token")
			ferr(t, err, KindProviderRejected, "invalid_grant")
		})
	}
}

// The fakes do catch a preset that sends the wrong request: flip each
// quirk of a preset's Config and the fake refuses.
func TestPresetFakesCatchWrongRequests(t *testing.T) {
	t.Parallel()
	mutations := []struct {
		name   string
		preset string
		mutate func(*Config)
	}{
		{"google without offline access", "google", func(c *Config) { delete(c.AuthorizeParams, "access_type") }},
		{"notion as a form", "notion", func(c *Config) { c.BodyFormat = BodyForm }},
		{"notion with post credentials", "notion", func(c *Config) { c.AuthStyle = AuthPost }},
		{"notion with PKCE", "notion", func(c *Config) { c.PKCE = true }},
		{"notion without owner=user", "notion", func(c *Config) { c.AuthorizeParams = nil }},
		{"airtable without PKCE", "airtable", func(c *Config) { c.PKCE = false }},
		{"airtable with post credentials", "airtable", func(c *Config) { c.AuthStyle = AuthPost }},
		{"github with Basic", "github", func(c *Config) { c.AuthStyle = AuthBasic }},
		{"slack with space scopes", "slack", func(c *Config) { c.Scope = strings.ReplaceAll(c.Scope, ",", " ") }},
		{"dropbox without token_access_type", "dropbox", func(c *Config) { c.AuthorizeParams = nil }},
		{"figma refresh at the token endpoint", "figma", func(c *Config) { c.RefreshEndpoint = c.TokenEndpoint }},
		{"figma at the retired token path", "figma", func(c *Config) {
			c.TokenEndpoint = strings.Replace(c.TokenEndpoint, "/v1/oauth/token", "/api/oauth/token", 1)
		}},
		{"spotify with PKCE", "spotify", func(c *Config) { c.PKCE = true }},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			q := providerFakes[m.preset]
			f := newPresetFake(t, q)
			cfg := presetConfig(t, m.preset, f.srv.URL, q.scope)
			m.mutate(&cfg)
			b := newBroker(t, cfg)
			l := b.Authorize()
			resp, err := noFollow.Get(l.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusFound {
				back := mustParseURL(t, resp.Header.Get("Location")).Query()
				err = b.Redirect(context.Background(), Callback{State: back.Get("state"), Code: back.Get("code")})
				if err == nil {
					tokens := mustPoll(t, b, l.ReadKey)
					var tr struct {
						RefreshToken string `json:"refresh_token"`
					}
					json.Unmarshal(tokens, &tr)
					_, err = b.Refresh(context.Background(), tr.RefreshToken)
				}
			}
			f.mu.Lock()
			n := len(f.problems)
			f.mu.Unlock()
			if n == 0 {
				t.Errorf("the fake accepted the mutated preset (last error %v)", err)
			}
		})
	}
}
