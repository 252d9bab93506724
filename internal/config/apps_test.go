package config_test

import (
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"handoff/flow"
	"handoff/internal/config"
)

// TestApps: APPS with prefixed variables (docs/protocol.md#several-apps).
func TestApps(t *testing.T) {
	const sharedSecret = "hX7qL2vN9pK4mR8s"
	apps := func(extra ...string) []string {
		return append([]string{
			"APPS", "hubspot-plugin, sheets",
			"HUBSPOT_PLUGIN_CLIENT_ID", "hub-id",
			"HUBSPOT_PLUGIN_CLIENT_SECRET", sharedSecret,
			"HUBSPOT_PLUGIN_REDIRECT_URI", "https://h.example/hubspot-plugin/redirect",
			"HUBSPOT_PLUGIN_PROVIDER", "hubspot",
			"HUBSPOT_PLUGIN_PLUGIN_ID", "hub123",
			"SHEETS_CLIENT_ID", "sheets-id",
			"SHEETS_CLIENT_SECRET", sharedSecret,
			"SHEETS_REDIRECT_URI", "https://h.example/sheets/oauth/callback",
			"SHEETS_PROVIDER", "google",
			"SHEETS_LOGIN_TTL", "5m",
		}, extra...)
	}
	cleanOnly := func(t *testing.T, kv ...string) (*config.Config, error) {
		cleanEnv(t)
		setEnv(t, kv...)
		return config.Load(false)
	}

	t.Run("two apps", func(t *testing.T) {
		c, err := cleanOnly(t, apps("PORT", "8080", "MAX_PENDING", "99", "HUBSPOT_PLUGIN_PORT", "1")...)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Apps) != 2 {
			t.Fatalf("%d apps", len(c.Apps))
		}
		hub, sheets := c.Apps[0], c.Apps[1]
		eq(t, hub.Name, "hubspot-plugin")
		eq(t, sheets.Name, "sheets")
		eq(t, hub.Flow.ClientID, "hub-id")
		eq(t, hub.PluginID, "hub123")
		eq(t, sheets.PluginID, "")
		eq(t, hub.RedirectPath, "/hubspot-plugin/redirect")
		eq(t, sheets.RedirectPath, "/sheets/oauth/callback")
		eq(t, hub.Flow.LoginTTL, 10*time.Minute)
		eq(t, sheets.Flow.LoginTTL, 5*time.Minute)
		eq(t, c.Port, 8080)
		eq(t, hub.Flow.MaxPending, 99)
		eq(t, sheets.Flow.MaxPending, 99)
		// The same client secret, yet each app has its own key.
		interoperate(t, hub.Flow.Sealer, sheets.Flow.Sealer, false)
		// And a single app with that secret has yet another.
		single := mustLoad(t, "CLIENT_SECRET", sharedSecret).Apps[0]
		interoperate(t, single.Flow.Sealer, hub.Flow.Sealer, false)
	})
	t.Run("same SEAL_KEY, different keys", func(t *testing.T) {
		k := hex.EncodeToString(testKey("shared"))
		c, err := cleanOnly(t, apps("HUBSPOT_PLUGIN_SEAL_KEY", k, "SHEETS_SEAL_KEY", k)...)
		if err != nil {
			t.Fatal(err)
		}
		interoperate(t, c.Apps[0].Flow.Sealer, c.Apps[1].Flow.Sealer, false)
	})
	t.Run("unprefixed variables are not defaults", func(t *testing.T) {
		_, err := cleanOnly(t, append(minimal, "APPS", "hubspot-plugin", "SCOPE", "x")...)
		if err == nil {
			t.Fatal("accepted")
		}
		ps := problems(t, err)
		for _, v := range []string{"CLIENT_ID", "CLIENT_SECRET", "REDIRECT_URI", "AUTHORIZE_ENDPOINT", "TOKEN_ENDPOINT"} {
			if !hasProblem(ps, "HUBSPOT_PLUGIN_"+v) {
				t.Errorf("no problem names HUBSPOT_PLUGIN_%s: %q", v, ps)
			}
			if hasProblem(ps, v) {
				t.Errorf("a problem names the unprefixed %s: %q", v, ps)
			}
		}
	})
	t.Run("unprefixed values do not leak into an app", func(t *testing.T) {
		c, err := cleanOnly(t, apps("SCOPE", "leaked", "PLUGIN_ID", "leaked", "LOGIN_TTL", "1s", "PKCE", "false")...)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range c.Apps {
			if a.Flow.Scope == "leaked" || a.PluginID == "leaked" || a.Flow.LoginTTL == time.Second || !a.Flow.PKCE {
				t.Errorf("app %s took an unprefixed variable: %+v", a.Name, a)
			}
		}
	})
	t.Run("redirect path under /{app}/", func(t *testing.T) {
		for _, uri := range []string{"https://h.example/redirect", "https://h.example/hubspot-plugin", "https://h.example/hubspot-pluginx/redirect",
			"https://h.example/sheets/redirect", "https://h.example/hubspot-plugin/poll", "https://h.example/hubspot-plugin/"} {
			_, err := cleanOnly(t, apps("HUBSPOT_PLUGIN_REDIRECT_URI", uri)...)
			if err == nil {
				t.Errorf("%s accepted", uri)
				continue
			}
			if ps := problems(t, err); !hasProblem(ps, "HUBSPOT_PLUGIN_REDIRECT_URI") {
				t.Errorf("%s: problems %q", uri, ps)
			}
		}
	})
	t.Run("problems name the prefixed variable", func(t *testing.T) {
		_, err := cleanOnly(t, apps("SHEETS_TOKEN_TTL", "0", "HUBSPOT_PLUGIN_SEAL_KEY", "short-HIDDEN", "SHEETS_AUTHORIZE_PARAMS", "state=1")...)
		ps := problems(t, err)
		for _, v := range []string{"SHEETS_TOKEN_TTL", "HUBSPOT_PLUGIN_SEAL_KEY", "SHEETS_AUTHORIZE_PARAMS"} {
			if !hasProblem(ps, v) {
				t.Errorf("no problem names %s: %q", v, ps)
			}
		}
		if strings.Contains(err.Error(), "short-HIDDEN") {
			t.Errorf("the error shows a key: %v", err)
		}
	})
	t.Run("a tenant per app", func(t *testing.T) {
		c, err := cleanOnly(t, apps("HUBSPOT_PLUGIN_PROVIDER", "microsoft", "HUBSPOT_PLUGIN_TENANT", "contoso.onmicrosoft.com",
			"SHEETS_PROVIDER", "microsoft", "TENANT", "ignored.example")...)
		if err != nil {
			t.Fatal(err)
		}
		eq(t, c.Apps[0].Flow.TokenEndpoint, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token")
		eq(t, c.Apps[1].Flow.TokenEndpoint, "https://login.microsoftonline.com/common/oauth2/v2.0/token")
		_, err = cleanOnly(t, apps("SHEETS_TENANT", "x/y")...)
		if ps := problems(t, err); !hasProblem(ps, "SHEETS_TENANT") {
			t.Errorf("problems %q", ps)
		}
	})
	t.Run("bad names", func(t *testing.T) {
		for _, names := range []string{"Hub", "healthz", "mock", "a_b", "a,a", "-a", "a b", "a/b", strings.Repeat("a", 64)} {
			_, err := cleanOnly(t, "APPS", names)
			if err == nil {
				t.Errorf("APPS=%s accepted", names)
				continue
			}
			if ps := problems(t, err); !hasProblem(ps, "APPS") {
				t.Errorf("APPS=%s: problems %q", names, ps)
			}
		}
	})
}

func TestPrefix(t *testing.T) {
	for app, want := range map[string]string{"": "", "hubspot-plugin": "HUBSPOT_PLUGIN_", "sheets2": "SHEETS2_"} {
		if got := config.Prefix(app); got != want {
			t.Errorf("Prefix(%q) = %q, want %q", app, got, want)
		}
	}
}

// TestProviderConcurrencyPerApp: PROVIDER_CONCURRENCY is per app, prefixed
// under APPS like PROVIDER_TIMEOUT (SECURITY.md property 11; docs/protocol.md#several-apps).
func TestProviderConcurrencyPerApp(t *testing.T) {
	cleanEnv(t)
	base := []string{"APPS", "one,two",
		"ONE_CLIENT_ID", "1", "ONE_CLIENT_SECRET", "k7x2m9qz4w1p8vb", "ONE_REDIRECT_URI", "https://h.example/one/redirect", "ONE_PROVIDER", "google",
		"TWO_CLIENT_ID", "2", "TWO_CLIENT_SECRET", "q8Vx2mKp9ZrT4wLs", "TWO_REDIRECT_URI", "https://h.example/two/redirect", "TWO_PROVIDER", "google",
		"PROVIDER_CONCURRENCY", "1"} // unprefixed: not a default under APPS
	setEnv(t, append(base, "ONE_PROVIDER_CONCURRENCY", "5")...)
	c, err := config.Load(false)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, c.Apps[0].Flow.ProviderConcurrency, 5)
	eq(t, c.Apps[1].Flow.ProviderConcurrency, flow.DefaultProviderConcurrency)
	setEnv(t, "TWO_PROVIDER_CONCURRENCY", "0")
	wantOneProblem(t, "TWO_PROVIDER_CONCURRENCY")
}
func TestProviderPreset(t *testing.T) {
	base := []string{"AUTHORIZE_ENDPOINT", "", "TOKEN_ENDPOINT", ""}
	t.Run("google", func(t *testing.T) {
		g, _ := flow.LookupPreset("google")
		a := mustLoad(t, append(base, "PROVIDER", "google")...).Apps[0]
		eq(t, a.Provider, "google")
		eq(t, a.Flow.AuthorizeEndpoint, g.AuthorizeEndpoint)
		eq(t, a.Flow.TokenEndpoint, g.TokenEndpoint)
		eq(t, a.Flow.AuthorizeParams, url.Values{"access_type": {"offline"}, "prompt": {"consent"}})
		eq(t, a.Flow.PKCE, true)
	})
	t.Run("case and spaces", func(t *testing.T) {
		a := mustLoad(t, append(base, "PROVIDER", " GitHub ")...).Apps[0]
		eq(t, a.Provider, "github")
	})
	t.Run("notion quirks", func(t *testing.T) {
		a := mustLoad(t, append(base, "PROVIDER", "notion")...).Apps[0]
		eq(t, a.Flow.PKCE, false)
		eq(t, a.Flow.AuthStyle, flow.AuthBasic)
		eq(t, a.Flow.BodyFormat, flow.BodyJSON)
		eq(t, a.Flow.AuthorizeParams, url.Values{"owner": {"user"}})
	})
	t.Run("slack joins scopes with commas", func(t *testing.T) {
		a := mustLoad(t, append(base, "PROVIDER", "slack", "SCOPE", "channels:read  chat:write")...).Apps[0]
		eq(t, a.Flow.Scope, "channels:read,chat:write")
	})
	t.Run("figma refreshes at its token endpoint", func(t *testing.T) {
		f, _ := flow.LookupPreset("figma")
		a := mustLoad(t, append(base, "PROVIDER", "figma")...).Apps[0]
		eq(t, a.Flow.RefreshEndpoint, "")
		eq(t, a.Flow.TokenEndpoint, f.TokenEndpoint)
	})
	t.Run("explicit variables override", func(t *testing.T) {
		a := mustLoad(t, "PROVIDER", "notion",
			"AUTHORIZE_ENDPOINT", "https://proxy.example/authorize",
			"TOKEN_ENDPOINT", "https://proxy.example/token",
			"REFRESH_ENDPOINT", "https://proxy.example/refresh",
			"AUTHORIZE_PARAMS", "owner=workspace",
			"PKCE", "true",
			"TOKEN_AUTH_STYLE", "post",
		).Apps[0]
		eq(t, a.Flow.AuthorizeEndpoint, "https://proxy.example/authorize")
		eq(t, a.Flow.TokenEndpoint, "https://proxy.example/token")
		eq(t, a.Flow.RefreshEndpoint, "https://proxy.example/refresh")
		eq(t, a.Flow.AuthorizeParams, url.Values{"owner": {"workspace"}})
		eq(t, a.Flow.PKCE, true)
		eq(t, a.Flow.AuthStyle, flow.AuthPost)
		eq(t, a.Flow.BodyFormat, flow.BodyJSON) // no variable for it: the preset's
	})
	t.Run("AUTHORIZE_PARAMS adds to the preset's", func(t *testing.T) {
		a := mustLoad(t, append(base, "PROVIDER", "google", "AUTHORIZE_PARAMS", "login_hint=a@b.example&prompt=select_account")...).Apps[0]
		eq(t, a.Flow.AuthorizeParams, url.Values{"access_type": {"offline"}, "prompt": {"select_account"}, "login_hint": {"a@b.example"}})
	})
	t.Run("every preset loads", func(t *testing.T) {
		for _, name := range flow.PresetNames() {
			t.Run(name, func(t *testing.T) {
				c, err := load(t, append(base, "PROVIDER", name)...)
				if err != nil {
					t.Fatalf("PROVIDER=%s: %v", name, err)
				}
				if _, err := flow.New(c.Apps[0].Flow); err != nil {
					t.Errorf("PROVIDER=%s: flow.New: %v", name, err)
				}
			})
		}
	})
	t.Run("a preset's token params, tokens' place, error codes and name", func(t *testing.T) {
		a := mustLoad(t, append(base, "PROVIDER", "slack")...).Apps[0]
		eq(t, a.Flow.TokensAt, "authed_user")
		eq(t, a.Flow.ErrorCodes["invalid_code"], "invalid_grant")
		eq(t, a.Flow.ProviderName, "Slack")
		s, _ := flow.LookupPreset("shopify")
		want, _ := url.ParseQuery(s.TokenParams)
		if len(want) == 0 {
			t.Fatal("shopify has no TokenParams to test with")
		}
		// Loading needs shopify's {shop} filled (the Vars mechanism), so
		// explicit endpoints stand in for the preset's.
		a = mustLoad(t, "PROVIDER", "shopify",
			"AUTHORIZE_ENDPOINT", "https://handoff-test.myshopify.com/admin/oauth/authorize",
			"TOKEN_ENDPOINT", "https://handoff-test.myshopify.com/admin/oauth/access_token").Apps[0]
		eq(t, a.Flow.TokenParams, want)
	})
	t.Run("microsoft's tenant", func(t *testing.T) {
		a := mustLoad(t, append(base, "PROVIDER", "microsoft")...).Apps[0]
		eq(t, a.Flow.AuthorizeEndpoint, "https://login.microsoftonline.com/common/oauth2/v2.0/authorize")
		eq(t, a.Flow.TokenEndpoint, "https://login.microsoftonline.com/common/oauth2/v2.0/token")
		a = mustLoad(t, append(base, "PROVIDER", "microsoft", "TENANT", "contoso.onmicrosoft.com")...).Apps[0]
		eq(t, a.Flow.AuthorizeEndpoint, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize")
		eq(t, a.Flow.TokenEndpoint, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token")
		a = mustLoad(t, append(base, "PROVIDER", "microsoft", "TENANT", " 72f988bf-86f1-41af-91ab-2d7cd011db47 ")...).Apps[0]
		eq(t, a.Flow.TokenEndpoint, "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token")
		for _, bad := range []string{"a/b", "contoso.com/../x", "-x", "a b", "x?y"} {
			_, err := load(t, append(base, "PROVIDER", "microsoft", "TENANT", bad)...)
			if ps := problems(t, err); len(ps) != 1 || !hasProblem(ps, "TENANT") {
				t.Errorf("TENANT=%q: problems %q, want TENANT's alone", bad, ps)
			}
		}
		_, err := load(t, append(base, "PROVIDER", "google", "TENANT", "contoso.onmicrosoft.com")...)
		if ps := problems(t, err); !hasProblem(ps, "TENANT") {
			t.Errorf("TENANT for google: problems %q", ps)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		_, err := load(t, append(base, "PROVIDER", "myspace")...)
		if err == nil {
			t.Fatal("accepted")
		}
		ps := problems(t, err)
		if !hasProblem(ps, "PROVIDER") || !strings.Contains(err.Error(), "google") {
			t.Errorf("problems %q: want PROVIDER named, with the known presets", ps)
		}
	})
	t.Run("no preset, no endpoints", func(t *testing.T) {
		_, err := load(t, base...)
		ps := problems(t, err)
		if !hasProblem(ps, "AUTHORIZE_ENDPOINT") || !hasProblem(ps, "TOKEN_ENDPOINT") {
			t.Errorf("problems %q", ps)
		}
	})
}
