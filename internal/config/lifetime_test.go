package config_test

import (
	"strings"
	"testing"
	"time"

	"handoff/flow"
	"handoff/internal/config"
)

// The variables of per-login choices and the rest of a token's life
// (docs/protocol.md#configuration): ALLOWED_SCOPES, REFRESH_REPLAY_TTL and
// REVOKE_ENDPOINT, each per app.
func TestTokenLifeVariables(t *testing.T) {
	cases := []struct {
		name  string
		env   []string
		bad   string
		check func(t *testing.T, f flow.Config)
	}{
		{"defaults", nil, "", func(t *testing.T, f flow.Config) {
			eq(t, f.AllowedScopes, []string(nil)) // flow: SCOPE's words
			eq(t, f.RefreshReplayTTL, time.Duration(0))
			eq(t, f.RevokeEndpoint, "")
			eq(t, f.ScopeSeparator, " ")
		}},
		{"ALLOWED_SCOPES", []string{"SCOPE", "openid", "ALLOWED_SCOPES", " openid  email\tfiles.read "}, "", func(t *testing.T, f flow.Config) {
			eq(t, f.AllowedScopes, []string{"openid", "email", "files.read"})
		}},
		{"ALLOWED_SCOPES repeated past the cap", []string{"ALLOWED_SCOPES", strings.Repeat("s ", 30) + strings.Repeat("x ", 35) + "y"}, "", nil},
		{"ALLOWED_SCOPES over the cap", []string{"ALLOWED_SCOPES", words(flow.MaxAllowedScopes + 1)}, "ALLOWED_SCOPES", nil},
		{"SCOPE over the cap without ALLOWED_SCOPES", []string{"SCOPE", words(flow.MaxAllowedScopes + 1)}, "ALLOWED_SCOPES", nil},
		{"slack separator", []string{"PROVIDER", "slack", "AUTHORIZE_ENDPOINT", "", "TOKEN_ENDPOINT", ""}, "", func(t *testing.T, f flow.Config) {
			eq(t, f.ScopeSeparator, ",")
		}},
		{"REFRESH_REPLAY_TTL", []string{"REFRESH_REPLAY_TTL", "2m"}, "", func(t *testing.T, f flow.Config) {
			eq(t, f.RefreshReplayTTL, 2*time.Minute)
		}},
		{"REFRESH_REPLAY_TTL seconds", []string{"REFRESH_REPLAY_TTL", "45"}, "", func(t *testing.T, f flow.Config) {
			eq(t, f.RefreshReplayTTL, 45*time.Second)
		}},
		{"REFRESH_REPLAY_TTL 0", []string{"REFRESH_REPLAY_TTL", "0"}, "REFRESH_REPLAY_TTL", nil},
		{"REFRESH_REPLAY_TTL word", []string{"REFRESH_REPLAY_TTL", "long"}, "REFRESH_REPLAY_TTL", nil},
		{"REVOKE_ENDPOINT", []string{"REVOKE_ENDPOINT", "https://provider.example/oauth/revoke"}, "", func(t *testing.T, f flow.Config) {
			eq(t, f.RevokeEndpoint, "https://provider.example/oauth/revoke")
			eq(t, f.RevokeStyle, flow.RevokeRFC7009)
		}},
		{"REVOKE_ENDPOINT with {client_id}", []string{"REVOKE_ENDPOINT", "https://ghe.example/api/v3/applications/{client_id}/grant"}, "", func(t *testing.T, f flow.Config) {
			eq(t, f.RevokeEndpoint, "https://ghe.example/api/v3/applications/{client_id}/grant")
		}},
		{"REVOKE_ENDPOINT relative", []string{"REVOKE_ENDPOINT", "/revoke"}, "REVOKE_ENDPOINT", nil},
		{"REVOKE_ENDPOINT with credentials", []string{"REVOKE_ENDPOINT", "https://u:p@provider.example/revoke"}, "REVOKE_ENDPOINT", nil},
		{"a template variable that is no preset's", []string{"AUTHORIZE_ENDPOINT", "https://{shop}.example/authorize"}, "AUTHORIZE_ENDPOINT", nil},
		{"REDIRECT_URI on /revoke", []string{"REDIRECT_URI", "https://h.example/revoke"}, "REDIRECT_URI", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := load(t, c.env...)
			if c.bad != "" {
				if ps := problems(t, err); !hasProblem(ps, c.bad) {
					t.Errorf("problems %q, want one about %s", ps, c.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.check != nil {
				c.check(t, cfg.Apps[0].Flow)
			}
			// What config accepts, flow accepts.
			b, err := flow.New(cfg.Apps[0].Flow)
			if err != nil {
				t.Fatalf("flow.New: %v", err)
			}
			b.Close()
		})
	}
}

// Under APPS each app has its own, prefixed, and the unprefixed ones are
// not defaults.
func TestTokenLifeVariablesPerApp(t *testing.T) {
	cleanEnv(t)
	setEnv(t, "APPS", "one,two-x",
		"ONE_CLIENT_ID", "1", "ONE_CLIENT_SECRET", "k7x2m9qz4w1p8vb", "ONE_REDIRECT_URI", "https://h.example/one/redirect", "ONE_PROVIDER", "google",
		"TWO_X_CLIENT_ID", "2", "TWO_X_CLIENT_SECRET", "q8Vx2mKp9ZrT4wLs", "TWO_X_REDIRECT_URI", "https://h.example/two-x/redirect", "TWO_X_PROVIDER", "google",
		"ALLOWED_SCOPES", "unprefixed", "REFRESH_REPLAY_TTL", "1s", "REVOKE_ENDPOINT", "https://unprefixed.example/revoke",
		"ONE_ALLOWED_SCOPES", "openid email", "ONE_REFRESH_REPLAY_TTL", "10s", "ONE_REVOKE_ENDPOINT", "https://one.example/revoke",
		"TWO_X_SCOPE", "openid")
	c, err := config.Load(false)
	if err != nil {
		t.Fatal(err)
	}
	one, two := c.Apps[0].Flow, c.Apps[1].Flow
	eq(t, one.AllowedScopes, []string{"openid", "email"})
	eq(t, one.RefreshReplayTTL, 10*time.Second)
	eq(t, one.RevokeEndpoint, "https://one.example/revoke")
	eq(t, two.AllowedScopes, []string(nil))
	eq(t, two.RefreshReplayTTL, time.Duration(0))
	eq(t, two.RevokeEndpoint, "https://oauth2.googleapis.com/revoke") // the preset's

	setEnv(t, "TWO_X_REFRESH_REPLAY_TTL", "never", "TWO_X_REVOKE_ENDPOINT", "revoke")
	_, err = config.Load(false)
	if ps := problems(t, err); !hasProblem(ps, "TWO_X_REFRESH_REPLAY_TTL") || !hasProblem(ps, "TWO_X_REVOKE_ENDPOINT") {
		t.Errorf("problems %q", ps)
	}
}

// The demo's app revokes at the mock provider and may add the email scope.
func TestDemoTokenLife(t *testing.T) {
	cleanEnv(t)
	c, err := config.Load(true)
	if err != nil {
		t.Fatal(err)
	}
	f := c.Apps[0].Flow
	eq(t, f.RevokeEndpoint, "http://localhost:8787"+config.DemoMockPath+"/revoke")
	eq(t, f.Scope, "profile")
	eq(t, f.AllowedScopes, config.DemoScopes)

	// A SCOPE of one's own keeps its words as the allowed ones.
	setEnv(t, "SCOPE", "openid")
	c, err = config.Load(true)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, c.Apps[0].Flow.AllowedScopes, []string(nil))
}

func words(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(" s")
		b.WriteString(strings.Repeat("x", i))
	}
	return b.String()
}
