package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// Each preset against a fake of its provider, over real loopback HTTP. A
// fake does what the provider's current documentation says (the doc each
// case names) and nothing more: it requires the documented client
// authentication, body format, parameters and PKCE, issues a refresh token
// only on the documented conditions, answers and refuses in the provider's
// shape. Where the documentation is silent (PKCE with a secret, a second
// body format, which scope separator), the fake takes either, and the case
// says so. The broker's Config is built from the preset the way package
// config builds it, with only the scheme and host of each endpoint replaced
// by the fake's; template variables ({shop}, {tenant}) are filled with the
// case's values here, since filling them per login is the Vars mechanism's
// job. The expectations are stated independently of presets.go, so a
// preset that sends the wrong request fails.

// presetConfig builds the Config package config would build for the case's
// preset, with the case's scope, AUTHORIZE_PARAMS and template variables,
// pointing at base instead of the provider's host.
func presetConfig(t *testing.T, c presetCase, base string) Config {
	t.Helper()
	p, ok := LookupPreset(c.preset)
	if !ok {
		t.Fatalf("no preset %q", c.preset)
	}
	b := mustParseURL(t, base)
	endpoint := func(raw string) string {
		if raw == "" {
			return ""
		}
		for k, v := range c.vars {
			raw = strings.ReplaceAll(raw, "{"+k+"}", v)
		}
		if strings.Contains(raw, "{") {
			t.Fatalf("%s: %q has a template variable the case gives no value", c.name, raw)
		}
		u := mustParseURL(t, raw)
		u.Scheme, u.Host = b.Scheme, b.Host
		return u.String()
	}
	params, err := url.ParseQuery(p.AuthorizeParams)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.params {
		params[k] = v
	}
	tokenParams, err := url.ParseQuery(p.TokenParams)
	if err != nil {
		t.Fatal(err)
	}
	// The revocation endpoint may keep {client_id}, which the broker fills
	// (GitHub's); only its scheme and host move to the fake.
	revoke := p.RevokeEndpoint
	for k, v := range c.vars {
		revoke = strings.ReplaceAll(revoke, "{"+k+"}", v)
	}
	if scheme, rest, ok := strings.Cut(revoke, "://"); ok && scheme != "" {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			revoke = b.Scheme + "://" + b.Host + rest[i:]
		}
	}
	return Config{
		ClientID:          presetClientID,
		ClientSecret:      presetSecret,
		AuthorizeEndpoint: endpoint(p.AuthorizeEndpoint),
		TokenEndpoint:     endpoint(p.TokenEndpoint),
		RefreshEndpoint:   endpoint(p.RefreshEndpoint),
		RevokeEndpoint:    revoke,
		RevokeStyle:       p.Revoke,
		Scope:             strings.Join(c.scope, or(p.ScopeSeparator, " ")),
		AuthorizeParams:   params,
		PKCE:              p.PKCE,
		AuthStyle:         p.AuthStyle,
		BodyFormat:        p.BodyFormat,
		TokenParams:       tokenParams,
		TokensAt:          p.TokensAt,
		ErrorCodes:        p.ErrorCodes,
		ProviderName:      p.Name,
	}
}

// kindCode reads an *Error's kind and code.
func kindCode(err error) (Kind, string) {
	var e *Error
	if !errors.As(err, &e) {
		return 0, fmt.Sprint(err)
	}
	return e.Kind, e.Code
}

// tokensIn returns the member of answer where the tokens sit: the top level,
// or at when the top level has no access token.
func tokensIn(answer []byte, at string) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(answer, &m); err != nil {
		return nil, fmt.Errorf("answer %s: %v", answer, err)
	}
	if _, ok := m["access_token"]; !ok && at != "" {
		nested, _ := m[at].(map[string]any)
		if nested != nil {
			return nested, nil
		}
	}
	return m, nil
}

// presetScenario runs a login, a refresh and the provider's refusals of a
// bad code and a bad refresh token through a broker made from cfg, and
// returns the first thing that is not as the case says.
func presetScenario(c presetCase, f *presetFake, b *Broker) error {
	ctx := context.Background()
	want := or(c.fake.want, "invalid_grant")
	wantRefresh := c.fake.refresh != refreshNone && !c.noRefresh

	// A login.
	l := b.Authorize()
	resp, err := noFollow.Get(l.URL)
	if err != nil {
		return err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return fmt.Errorf("authorize: HTTP %d: %s", resp.StatusCode, page)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return err
	}
	q := back.Query()
	if err := b.Redirect(ctx, Callback{State: q.Get("state"), Code: q.Get("code")}); err != nil {
		return fmt.Errorf("redirect: %w", err)
	}
	tokens, err := b.Poll(l.ReadKey, PollOptions{})
	if err != nil {
		return fmt.Errorf("poll: %w", err)
	}
	f.mu.Lock()
	sent := string(f.last)
	f.mu.Unlock()
	if string(tokens) != sent {
		return fmt.Errorf("poll gave %s, not the provider's bytes %s", tokens, sent)
	}
	where, err := tokensIn(tokens, c.fake.tokensAt)
	if err != nil {
		return err
	}
	if at, _ := where["access_token"].(string); at == "" {
		return fmt.Errorf("no access token where the tokens sit in %s", tokens)
	}
	rt, _ := where["refresh_token"].(string)
	switch {
	case wantRefresh && rt == "":
		return fmt.Errorf("no refresh token in %s: the preset missed the provider's condition for one", tokens)
	case !wantRefresh && rt != "":
		return fmt.Errorf("a refresh token in %s, where the provider issues none", tokens)
	}

	// A refresh.
	if wantRefresh {
		refreshed, err := b.Refresh(ctx, rt)
		if err != nil {
			return fmt.Errorf("refresh: %w", err)
		}
		r, err := tokensIn(refreshed, c.fake.tokensAt)
		if err != nil {
			return err
		}
		newRT, _ := r["refresh_token"].(string)
		if at, _ := r["access_token"].(string); at == "" || at == where["access_token"] {
			return fmt.Errorf("refresh answer %s: no new access token", refreshed)
		}
		switch c.fake.refresh {
		case refreshKeep, refreshSame:
			if newRT != rt {
				return fmt.Errorf("refresh_token %q after the refresh, want the one sent (%q): %s", newRT, rt, refreshed)
			}
		case refreshNew, refreshRotate:
			if newRT == "" || newRT == rt {
				return fmt.Errorf("refresh_token %q after the refresh, want the provider's new one: %s", newRT, refreshed)
			}
		}
		if strings.Count(string(refreshed), `"refresh_token"`) != 1 {
			return fmt.Errorf("refresh answer %s: not exactly one refresh token", refreshed)
		}
		if c.fake.refresh == refreshRotate { // the old one is dead now
			// Past REFRESH_REPLAY_TTL, the spent token reaches the
			// provider again instead of the kept answer.
			b.replays.Purge()
			_, err := b.Refresh(ctx, rt)
			if k, code := kindCode(err); k != KindProviderRejected || code != want {
				return fmt.Errorf("refresh with a rotated-away token: %v, want %s", err, want)
			}
		}
	}

	// The provider's refusals, in its own shape, reach the plugin as codes
	// it can act on.
	l2 := b.Authorize()
	resp, err = noFollow.Get(l2.URL)
	if err != nil {
		return err
	}
	resp.Body.Close()
	back2, _ := url.Parse(resp.Header.Get("Location"))
	err = b.Redirect(ctx, Callback{State: back2.Query().Get("state"), Code: "not-a-code"})
	if k, code := kindCode(err); k != KindProviderRejected || code != want {
		return fmt.Errorf("redirect with a bad code: %v, want %s", err, want)
	}
	_, err = b.Poll(l2.ReadKey, PollOptions{})
	if k, code := kindCode(err); k != KindGone || code != want {
		return fmt.Errorf("poll after a bad code: %v, want 410 %s", err, want)
	}
	if c.fake.refresh != refreshNone {
		_, err = b.Refresh(ctx, "not-a-refresh-token")
		if k, code := kindCode(err); k != KindProviderRejected || code != want {
			return fmt.Errorf("refresh with a bad token: %v, want %s", err, want)
		}
	}
	return nil
}

// Every preset has at least one case.
func TestPresetFakesCoverEveryPreset(t *testing.T) {
	t.Parallel()
	for _, name := range PresetNames() {
		if !slices.ContainsFunc(presetCases, func(c presetCase) bool { return c.preset == name }) {
			t.Errorf("preset %q has no fake provider in this test", name)
		}
	}
	for _, c := range presetCases {
		if c.fake.doc == "" {
			t.Errorf("%s: the fake names no documentation", c.name)
		}
	}
}

func TestPresetsAgainstFakeProviders(t *testing.T) {
	t.Parallel()
	for _, c := range presetCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newPresetFake(t, c.fake)
			b := newBroker(t, presetConfig(t, c, f.srv.URL))
			if err := presetScenario(c, f, b); err != nil {
				t.Error(err)
			}
			for _, p := range f.problemList() {
				t.Errorf("the fake of %s: %s", c.name, p)
			}
		})
	}
}

// The revocation endpoints of the presets, against the fakes' documented
// ones: method, path, credentials and body as each provider says.
func TestPresetRevokeAgainstFakeProviders(t *testing.T) {
	t.Parallel()
	documented := map[string]bool{}
	for _, c := range presetCases {
		documented[c.preset] = documented[c.preset] || c.fake.revokePath != ""
	}
	for _, name := range PresetNames() {
		if p, _ := LookupPreset(name); p.RevokeEndpoint != "" && !documented[name] {
			t.Errorf("preset %s revokes at %q, but no fake documents it", name, p.RevokeEndpoint)
		}
	}
	for _, c := range presetCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p, _ := LookupPreset(c.preset)
			if c.fake.revokePath != "" && p.RevokeEndpoint == "" {
				t.Fatalf("the fake documents revocation at %q, the preset has no revoke endpoint", c.fake.revokePath)
			}
			if c.fake.revokePath == "" {
				return // another case of the same preset documents it (checked below)
			}
			f := newPresetFake(t, c.fake)
			b := newBroker(t, presetConfig(t, c, f.srv.URL))
			if err := b.Revoke(context.Background(), "token-to-revoke", "", nil); err != nil {
				t.Errorf("revoke: %v", err)
			}
			for _, pr := range f.problemList() {
				t.Errorf("the fake of %s: %s", c.name, pr)
			}
		})
	}
}

// Provider error codes mapped per preset, stated here independently of
// presets.go: the plugin's error is the RFC 6749 code, the provider's code
// leads error_description, at /poll (410) and at /refresh (the JSON passed
// on says the same).
func TestPresetErrorCodes(t *testing.T) {
	t.Parallel()
	mapped := map[string]map[string]string{
		"github (GitHub App, expiring user tokens)": {
			"bad_verification_code":        "invalid_grant",
			"incorrect_client_credentials": "invalid_client",
			"redirect_uri_mismatch":        "invalid_request",
			"unverified_user_email":        "invalid_grant",
			"bad_refresh_token":            "invalid_grant",
		},
		"slack (bot scopes)": {
			"invalid_code":                     "invalid_grant",
			"invalid_refresh_token":            "invalid_grant",
			"bad_client_secret":                "invalid_client",
			"invalid_client_id":                "invalid_client",
			"bad_redirect_uri":                 "invalid_request",
			"oauth_authorization_url_mismatch": "invalid_request",
			"invalid_grant_type":               "unsupported_grant_type",
			"invalid_grant":                    "invalid_grant", // an RFC code passes as it is
		},
		"google":                     {"redirect_uri_mismatch": "invalid_request", "invalid_grant": "invalid_grant"},
		"microsoft (offline_access)": {"interaction_required": "invalid_grant", "consent_required": "invalid_grant", "invalid_client": "invalid_client"},
		"salesforce":                 {"invalid_client_id": "invalid_client", "invalid_client_credentials": "invalid_client", "redirect_uri_mismatch": "invalid_request"},
	}
	for name, codes := range mapped {
		i := slices.IndexFunc(presetCases, func(c presetCase) bool { return c.name == name })
		if i < 0 {
			t.Fatalf("no case %q", name)
		}
		c := presetCases[i]
		for own, want := range codes {
			t.Run(name+"/"+own, func(t *testing.T) {
				t.Parallel()
				f := newPresetFake(t, c.fake)
				b := newBroker(t, presetConfig(t, c, f.srv.URL))
				f.refuse = own
				l, _, err := login(t, b)
				e := ferr(t, err, KindProviderRejected, want)
				if own != want && !strings.HasPrefix(e.Description, own) {
					t.Errorf("error_description %q does not name the provider's %s", e.Description, own)
				}
				_, err = b.Poll(l.ReadKey, PollOptions{})
				if e := ferr(t, err, KindGone, want); own != want && !strings.HasPrefix(e.Description, own) {
					t.Errorf("the 410's error_description %q does not name %s", e.Description, own)
				}

				// /refresh passes the provider's JSON on, saying the same.
				f.refuse = ""
				l, _, err = login(t, b)
				if err != nil {
					t.Fatal(err)
				}
				m, _ := tokensIn(mustPoll(t, b, l.ReadKey), c.fake.tokensAt)
				rt, _ := m["refresh_token"].(string)
				f.refuse = own
				_, err = b.Refresh(context.Background(), rt)
				e = ferr(t, err, KindProviderRejected, want)
				body := jsonObject(t, e.Body)
				if body["error"] != want || own != want && !strings.HasPrefix(fmt.Sprint(body["error_description"]), own) {
					t.Errorf("/refresh would pass on %s", e.Body)
				}
			})
		}
	}
}

// The fakes catch a preset that sends the wrong request: change one field
// of a preset's Config at a time, and the fake refuses, or the login,
// refresh or refusal codes come out wrong.
func TestPresetFakesCatchWrongRequests(t *testing.T) {
	t.Parallel()
	mutations := []struct {
		name, caseName string
		mutate         func(*Config)
	}{
		{"google without access_type=offline", "google", func(c *Config) { delete(c.AuthorizeParams, "access_type") }},
		{"notion as a form", "notion", func(c *Config) { c.BodyFormat = BodyForm }},
		{"notion with post credentials", "notion", func(c *Config) { c.AuthStyle = AuthPost }},
		{"notion without owner=user", "notion", func(c *Config) { delete(c.AuthorizeParams, "owner") }},
		{"airtable without PKCE", "airtable", func(c *Config) { c.PKCE = false }},
		{"airtable with post credentials", "airtable", func(c *Config) { c.AuthStyle = AuthPost }},
		{"github with Basic", "github (GitHub App, expiring user tokens)", func(c *Config) { c.AuthStyle = AuthBasic }},
		{"github without its error codes", "github (GitHub App, expiring user tokens)", func(c *Config) { c.ErrorCodes = nil }},
		{"slack with space scopes", "slack (bot scopes)", func(c *Config) { c.Scope = strings.ReplaceAll(c.Scope, ",", " ") }},
		{"slack without its error codes", "slack (bot scopes)", func(c *Config) { c.ErrorCodes = nil }},
		{"slack user tokens without TokensAt", "slack (user scopes only)", func(c *Config) { c.TokensAt = "" }},
		{"dropbox without token_access_type", "dropbox", func(c *Config) { delete(c.AuthorizeParams, "token_access_type") }},
		{"microsoft at common for a single-tenant app", "microsoft (offline_access)", func(c *Config) {
			c.AuthorizeEndpoint = strings.Replace(c.AuthorizeEndpoint, "contoso.onmicrosoft.com", "common", 1)
			c.TokenEndpoint = strings.Replace(c.TokenEndpoint, "contoso.onmicrosoft.com", "common", 1)
		}},
		{"linear with space scopes", "linear", func(c *Config) { c.Scope = strings.ReplaceAll(c.Scope, ",", " ") }},
		{"figma with post credentials", "figma", func(c *Config) { c.AuthStyle = AuthPost }},
		{"figma at the retired token path", "figma", func(c *Config) {
			c.TokenEndpoint = strings.Replace(c.TokenEndpoint, "/v1/oauth/token", "/api/oauth/token", 1)
		}},
		{"spotify with post credentials", "spotify", func(c *Config) { c.AuthStyle = AuthPost }},
		{"shopify without expiring=1", "shopify", func(c *Config) { c.TokenParams = nil }},
		{"shopify with space scopes", "shopify", func(c *Config) { c.Scope = strings.ReplaceAll(c.Scope, ",", " ") }},
		{"atlassian without audience", "atlassian", func(c *Config) { delete(c.AuthorizeParams, "audience") }},
		{"atlassian as a form", "atlassian", func(c *Config) { c.BodyFormat = BodyForm }},
		{"zendesk as a form", "zendesk", func(c *Config) { c.BodyFormat = BodyForm }},
		{"x without PKCE", "x", func(c *Config) { c.PKCE = false }},
		{"x with post credentials", "x", func(c *Config) { c.AuthStyle = AuthPost }},
		{"canva without PKCE", "canva", func(c *Config) { c.PKCE = false }},
		{"reddit without duration=permanent", "reddit", func(c *Config) { delete(c.AuthorizeParams, "duration") }},
		{"reddit with post credentials", "reddit", func(c *Config) { c.AuthStyle = AuthPost }},
		{"zoom with post credentials", "zoom", func(c *Config) { c.AuthStyle = AuthPost }},
		{"pinterest with post credentials", "pinterest", func(c *Config) { c.AuthStyle = AuthPost }},
		{"hubspot with Basic", "hubspot", func(c *Config) { c.AuthStyle = AuthBasic }},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			i := slices.IndexFunc(presetCases, func(c presetCase) bool { return c.name == m.caseName })
			if i < 0 {
				t.Fatalf("no case %q", m.caseName)
			}
			c := presetCases[i]
			f := newPresetFake(t, c.fake)
			cfg := presetConfig(t, c, f.srv.URL)
			m.mutate(&cfg)
			err := presetScenario(c, f, newBroker(t, cfg))
			if err == nil && len(f.problemList()) == 0 {
				t.Error("the mutated preset went through the fake unnoticed")
			}
			t.Logf("caught: %v %q", err, f.problemList())
		})
	}
}
