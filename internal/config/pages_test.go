package config_test

import (
	"slices"
	"strings"
	"testing"

	"handoff/flow"
	"handoff/internal/config"
)

// TestPluginName: PLUGIN_NAME (per app, optional) names the plugin on the
// pages; the preset's Name names the provider (docs/protocol.md#configuration).
func TestPluginName(t *testing.T) {
	t.Run("unset: generic pages", func(t *testing.T) {
		a := mustLoad(t).Apps[0]
		eq(t, a.PluginName, "")
		eq(t, a.ProviderName, "")
	})
	t.Run("set, trimmed", func(t *testing.T) {
		eq(t, mustLoad(t, "PLUGIN_NAME", "  Acme Sync ").Apps[0].PluginName, "Acme Sync")
	})
	t.Run("the preset's name", func(t *testing.T) {
		for _, name := range flow.PresetNames() {
			preset, _ := flow.LookupPreset(name)
			a := mustLoad(t, "PROVIDER", name, "AUTHORIZE_ENDPOINT", "", "TOKEN_ENDPOINT", "").Apps[0]
			if a.ProviderName != preset.Name {
				t.Errorf("PROVIDER=%s: ProviderName %q, want the preset's %q", name, a.ProviderName, preset.Name)
			}
		}
	})
	for _, bad := range []struct{ name, value, problem string }{
		{"two lines", "Acme\nSync", "one line"},
		{"a control character", "Acme\x07", "one line"},
		{"too long", strings.Repeat("n", 61), "at most 60"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			_, err := load(t, "PLUGIN_NAME", bad.value)
			ps := problems(t, err)
			if len(ps) != 1 || !hasProblem(ps, "PLUGIN_NAME") || !strings.Contains(ps[0], bad.problem) {
				t.Errorf("problems %q, want one about PLUGIN_NAME saying %q", ps, bad.problem)
			}
			if strings.Contains(ps[0], bad.value) {
				t.Errorf("the problem quotes the value: %q", ps[0])
			}
		})
	}
	t.Run("per app, prefixed", func(t *testing.T) {
		minimalApps(t, "one", "two")
		setEnv(t, "ONE_PLUGIN_NAME", "Acme Sync", "PLUGIN_NAME", "not a default under APPS", "TWO_PLUGIN_NAME", strings.Repeat("n", 61))
		wantOneProblem(t, "TWO_PLUGIN_NAME")
		setEnv(t, "TWO_PLUGIN_NAME", "")
		c := reload(t)
		eq(t, c.Apps[0].PluginName, "Acme Sync")
		eq(t, c.Apps[1].PluginName, "")
	})
	t.Run("demo", func(t *testing.T) {
		cleanEnv(t)
		c, err := config.Load(true)
		if err != nil {
			t.Fatal(err)
		}
		eq(t, c.Apps[0].PluginName, config.DemoPluginName)
		eq(t, c.Apps[0].ProviderName, config.DemoProviderName)
		// A real provider in -demo is not called the mock.
		setEnv(t, "AUTHORIZE_ENDPOINT", "https://provider.example/authorize", "PLUGIN_NAME", "Acme Sync")
		c, err = config.Load(true)
		if err != nil {
			t.Fatal(err)
		}
		eq(t, c.Apps[0].ProviderName, "")
		eq(t, c.Apps[0].PluginName, "Acme Sync")
	})
}

// TestPluginURI: PLUGIN_URI, older plugin backends' name for the plugin's
// origin, keeps such a setup working: a plugin origin is read as PLUGIN_ID,
// any other origin as an ALLOWED_ORIGINS entry, and anything else is a
// problem that names it.
func TestPluginURI(t *testing.T) {
	cases := []struct {
		name      string
		env       []string
		pluginID  string
		allowed   []string
		problem   string // "" for none
		forbidden string // a value the problem must not quote
	}{
		{"a plugin origin is PLUGIN_ID", []string{"PLUGIN_URI", "https://qjx3k9.plugins.framercdn.com"}, "qjx3k9", nil, "", ""},
		{"with a trailing slash and upper case", []string{"PLUGIN_URI", "https://QJX3K9.plugins.framercdn.com/"}, "qjx3k9", nil, "", ""},
		{"another parent domain", []string{"PLUGIN_PARENT_DOMAIN", "plugins.example.com", "PLUGIN_URI", "https://abc.plugins.example.com"}, "abc", nil, "", ""},
		{"PLUGIN_ID wins; another origin is allowed too", []string{"PLUGIN_ID", "mine", "PLUGIN_URI", "https://old.plugins.framercdn.com"}, "mine", []string{"https://old.plugins.framercdn.com"}, "", ""},
		{"the same as PLUGIN_ID", []string{"PLUGIN_ID", "mine", "PLUGIN_URI", "https://mine.plugins.framercdn.com"}, "mine", nil, "", ""},
		{"a local dev origin", []string{"PLUGIN_URI", "https://localhost:5173"}, "", []string{"https://localhost:5173"}, "", ""},
		{"another origin, once", []string{"ALLOWED_ORIGINS", "https://site.example", "PLUGIN_URI", "https://site.example"}, "", []string{"https://site.example"}, "", ""},
		{"any origin", []string{"PLUGIN_URI", "*"}, "", nil, "set PLUGIN_ID", ""},
		{"not an origin", []string{"PLUGIN_URI", "https://x.example/plugin?k=SECRETISH"}, "", nil, "not an origin", "SECRETISH"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := load(t, c.env...)
			if c.problem != "" {
				ps := problems(t, err)
				if len(ps) != 1 || !hasProblem(ps, "PLUGIN_URI") || !strings.Contains(ps[0], c.problem) {
					t.Errorf("problems %q, want one naming PLUGIN_URI and saying %q", ps, c.problem)
				}
				if c.forbidden != "" && strings.Contains(ps[0], c.forbidden) {
					t.Errorf("the problem quotes the value: %q", ps[0])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a := cfg.Apps[0]
			eq(t, a.PluginID, c.pluginID)
			if !slices.Equal(a.AllowedOrigins, c.allowed) {
				t.Errorf("allowed origins %q, want %q", a.AllowedOrigins, c.allowed)
			}
		})
	}
	t.Run("per app, prefixed", func(t *testing.T) {
		minimalApps(t, "one")
		setEnv(t, "ONE_PLUGIN_URI", "*")
		wantOneProblem(t, "ONE_PLUGIN_URI")
		setEnv(t, "ONE_PLUGIN_URI", "https://abc.plugins.framercdn.com")
		c := reload(t)
		eq(t, c.Apps[0].PluginID, "abc")
	})
}
