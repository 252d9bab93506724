package multiapp

import (
	"fmt"
	"strings"
	"testing"
)

// validApp is a complete app configuration under prefix (e.g. HUBSPOT_PLUGIN_).
func validApp(env map[string]string, prefix, name string) {
	env[prefix+"CLIENT_ID"] = "id-" + name
	env[prefix+"CLIENT_SECRET"] = "SECRETVALUE-" + name + "+Zq8r4Lx" // machine-generated enough to be the seal key's source
	env[prefix+"REDIRECT_URI"] = "https://handoff.example.com/" + name + "/redirect"
	env[prefix+"AUTHORIZE_ENDPOINT"] = "https://provider.example.com/authorize"
	env[prefix+"TOKEN_ENDPOINT"] = "https://provider.example.com/token"
}

// TestConfigErrors: a bad multi-app configuration stops start-up with exit
// status 2 and one message naming every problem by its prefixed variable.
func TestConfigErrors(t *testing.T) {
	type env = map[string]string
	cases := []struct {
		name string
		env  func() env
		want []string // lines the message must contain
		deny []string // text it must not contain
	}{
		{
			name: "missing prefixed variables, all named at once",
			env: func() env {
				e := env{"APPS": "hubspot-plugin,google-sheets-plugin"}
				validApp(e, "GOOGLE_SHEETS_PLUGIN_", "google-sheets-plugin")
				delete(e, "GOOGLE_SHEETS_PLUGIN_TOKEN_ENDPOINT")
				return e
			},
			want: []string{
				"HUBSPOT_PLUGIN_CLIENT_ID: missing",
				"HUBSPOT_PLUGIN_CLIENT_SECRET: missing",
				"HUBSPOT_PLUGIN_REDIRECT_URI: missing",
				"HUBSPOT_PLUGIN_AUTHORIZE_ENDPOINT: missing",
				"HUBSPOT_PLUGIN_TOKEN_ENDPOINT: missing",
				"GOOGLE_SHEETS_PLUGIN_TOKEN_ENDPOINT: missing",
			},
			deny: []string{"SECRETVALUE"},
		},
		{
			name: "unprefixed variables are not defaults with APPS",
			env: func() env {
				e := env{"APPS": "hubspot-plugin"}
				validApp(e, "", "hubspot-plugin") // CLIENT_ID, CLIENT_SECRET, … unprefixed
				return e
			},
			want: []string{
				"HUBSPOT_PLUGIN_CLIENT_ID: missing",
				"HUBSPOT_PLUGIN_CLIENT_SECRET: missing",
				"HUBSPOT_PLUGIN_REDIRECT_URI: missing",
			},
			deny: []string{"SECRETVALUE", "\n  CLIENT_ID:"},
		},
		{
			name: "redirect path outside the app",
			env: func() env {
				e := env{"APPS": "hubspot-plugin,google-sheets-plugin"}
				validApp(e, "HUBSPOT_PLUGIN_", "hubspot-plugin")
				validApp(e, "GOOGLE_SHEETS_PLUGIN_", "google-sheets-plugin")
				e["HUBSPOT_PLUGIN_REDIRECT_URI"] = "https://handoff.example.com/redirect"
				e["GOOGLE_SHEETS_PLUGIN_REDIRECT_URI"] = "https://handoff.example.com/hubspot-plugin/sheets-redirect"
				return e
			},
			want: []string{
				"HUBSPOT_PLUGIN_REDIRECT_URI: its path must start with /hubspot-plugin/",
				"GOOGLE_SHEETS_PLUGIN_REDIRECT_URI: its path must start with /google-sheets-plugin/",
			},
		},
		{
			name: "redirect path on one of the app's own routes",
			env: func() env {
				e := env{"APPS": "hubspot-plugin"}
				validApp(e, "HUBSPOT_PLUGIN_", "hubspot-plugin")
				e["HUBSPOT_PLUGIN_REDIRECT_URI"] = "https://handoff.example.com/hubspot-plugin/poll"
				return e
			},
			want: []string{"HUBSPOT_PLUGIN_REDIRECT_URI: its path is one of handoff's own routes"},
		},
		{
			name: "per-app values are checked under their prefixed names",
			env: func() env {
				e := env{"APPS": "hubspot-plugin"}
				validApp(e, "HUBSPOT_PLUGIN_", "hubspot-plugin")
				e["HUBSPOT_PLUGIN_TOKEN_TTL"] = "soon"
				e["HUBSPOT_PLUGIN_PKCE"] = "maybe"
				e["HUBSPOT_PLUGIN_SEAL_KEY"] = "short"
				e["HUBSPOT_PLUGIN_PROVIDER"] = "nosuchprovider"
				e["HUBSPOT_PLUGIN_ALLOWED_ORIGINS"] = "https://example.com/path"
				return e
			},
			want: []string{
				"HUBSPOT_PLUGIN_TOKEN_TTL:",
				"HUBSPOT_PLUGIN_PKCE:",
				"HUBSPOT_PLUGIN_SEAL_KEY:",
				"HUBSPOT_PLUGIN_PROVIDER: unknown provider",
				"HUBSPOT_PLUGIN_ALLOWED_ORIGINS:",
			},
			deny: []string{"short", "SECRETVALUE"},
		},
	}
	for _, name := range []string{"HubSpot", "healthz", "hub_spot", "-hubspot", "hub spot", "hubspot/x", ""} {
		name := name
		cases = append(cases, struct {
			name string
			env  func() env
			want []string
			deny []string
		}{
			name: fmt.Sprintf("bad app name %q", name),
			env: func() env {
				e := env{"APPS": "good-app," + name}
				validApp(e, "GOOD_APP_", "good-app")
				return e
			},
			want: []string{"APPS: " + fmt.Sprintf("%q", name)},
		})
	}
	cases = append(cases, struct {
		name string
		env  func() env
		want []string
		deny []string
	}{
		name: "an app listed twice",
		env: func() env {
			e := env{"APPS": "good-app,good-app"}
			validApp(e, "GOOD_APP_", "good-app")
			return e
		},
		want: []string{`APPS: "good-app" is listed twice`},
	})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out := runToExit(t, c.env())
			if code != 2 {
				t.Errorf("exit status %d, want 2:\n%s", code, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("the message lacks %q:\n%s", w, out)
				}
			}
			for _, d := range c.deny {
				if strings.Contains(out, d) {
					t.Errorf("the message contains %q:\n%s", d, out)
				}
			}
		})
	}
}

// TestPerAppPresets: PROVIDER and the variables that override it are per
// app; the global variables stay global.
func TestPerAppPresets(t *testing.T) {
	srv := startServer(t, func(port int) map[string]string {
		e := map[string]string{
			"APPS":                 "sheets,notion-sync",
			"PLUGIN_PARENT_DOMAIN": "plugins.example.net", // global
			"SHEETS_PROVIDER":      "google",
			"NOTION_SYNC_PROVIDER": "notion",
			"SHEETS_SCOPE":         "openid email",
			"SHEETS_PLUGIN_ID":     "sheetsid",
		}
		for _, a := range []string{"SHEETS_", "NOTION_SYNC_"} {
			e[a+"CLIENT_ID"] = "id-" + a
			e[a+"CLIENT_SECRET"] = "k7x2m9qz4w1p8vb-" + a
		}
		e["SHEETS_REDIRECT_URI"] = fmt.Sprintf("http://127.0.0.1:%d/sheets/redirect", port)
		e["NOTION_SYNC_REDIRECT_URI"] = fmt.Sprintf("http://127.0.0.1:%d/notion-sync/redirect", port)
		return e
	})
	sheetsURL, _ := authorize(t, plugin(srv.URL+"/sheets", ""))
	notionURL, _ := authorize(t, plugin(srv.URL+"/notion-sync", ""))
	if !strings.HasPrefix(sheetsURL, "https://accounts.google.com/") || query(t, sheetsURL, "access_type") != "offline" ||
		query(t, sheetsURL, "client_id") != "id-SHEETS_" || query(t, sheetsURL, "code_challenge") == "" {
		t.Errorf("sheets (google preset): %s", sheetsURL)
	}
	if !strings.HasPrefix(notionURL, "https://api.notion.com/") || query(t, notionURL, "client_id") != "id-NOTION_SYNC_" ||
		query(t, notionURL, "code_challenge") != "" || query(t, notionURL, "access_type") != "" {
		t.Errorf("notion-sync (notion preset, no PKCE): %s", notionURL)
	}
	r := do(t, "POST", srv.URL+"/sheets/authorize", map[string][]string{"Origin": {"https://sheetsid.plugins.example.net"}}, "")
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "https://sheetsid.plugins.example.net" {
		t.Errorf("PLUGIN_PARENT_DOMAIN is global: Access-Control-Allow-Origin %q", got)
	}
}
