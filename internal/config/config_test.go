package config_test

import (
	"log/slog"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"handoff/flow"
	"handoff/internal/config"
)

func TestDefaults(t *testing.T) {
	c := mustLoad(t)
	for name, c := range map[string]struct{ got, want any }{
		"Port":               {c.Port, 8787},
		"LogLevel":           {c.LogLevel, slog.LevelInfo},
		"ShutdownGrace":      {c.ShutdownGrace, 15 * time.Second},
		"RateLimit":          {c.RateLimit, true},
		"MaxPending":         {c.MaxPending, 10000},
		"PluginParentDomain": {c.PluginParentDomain, "plugins.framercdn.com"},
		"TLSCertFile":        {c.TLSCertFile, ""},
		"OnFly":              {c.OnFly, false},
		"Demo":               {c.Demo, false},
		"Apps[0].Name":       {c.Apps[0].Name, ""},
		"RedirectPath":       {c.Apps[0].RedirectPath, "/redirect"},
		"PluginID":           {c.Apps[0].PluginID, ""},
		"AllowedOrigins":     {len(c.Apps[0].AllowedOrigins), 0},
		"KeyFromSecret":      {c.Apps[0].KeyFromSecret, true},
		"ClientID":           {c.Apps[0].Flow.ClientID, "client-123"},
		"Scope":              {c.Apps[0].Flow.Scope, ""},
		"AuthorizeParams":    {len(c.Apps[0].Flow.AuthorizeParams), 0},
		"PKCE":               {c.Apps[0].Flow.PKCE, true},
		"AuthStyle":          {c.Apps[0].Flow.AuthStyle, flow.AuthPost},
		"BodyFormat":         {c.Apps[0].Flow.BodyFormat, flow.BodyForm},
		"RefreshEndpoint":    {c.Apps[0].Flow.RefreshEndpoint, ""}, // flow uses TOKEN_ENDPOINT
		"LoginTTL":           {c.Apps[0].Flow.LoginTTL, 10 * time.Minute},
		"TokenTTL":           {c.Apps[0].Flow.TokenTTL, 60 * time.Second},
		"ProviderTimeout":    {c.Apps[0].Flow.ProviderTimeout, 10 * time.Second},
		"Concurrency":        {c.Apps[0].Flow.ProviderConcurrency, flow.DefaultProviderConcurrency},
		"Flow.MaxPending":    {c.Apps[0].Flow.MaxPending, 10000},
		"PollLimit":          {c.Apps[0].Flow.PollLimit, 10},
		"MachineID":          {c.Apps[0].Flow.MachineID, ""},
		"Sealer":             {c.Apps[0].Flow.Sealer != nil, true},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", name, c.got, c.want)
		}
	}
	// The config is what flow.New accepts.
	b, err := flow.New(c.Apps[0].Flow)
	if err != nil {
		t.Fatalf("flow.New: %v", err)
	}
	b.Close()
}

// TestVariables: each variable of docs/protocol.md#configuration with valid and invalid values.
func TestVariables(t *testing.T) {
	type check func(t *testing.T, c *config.Config)
	app := func(c *config.Config) config.App { return c.Apps[0] }
	cases := []struct {
		name   string
		env    []string
		bad    string // the variable a problem must name; "" for none
		check  check
		hidden string // a value the error must not contain
	}{
		{name: "PORT", env: []string{"PORT", "8080"}, check: func(t *testing.T, c *config.Config) { eq(t, c.Port, 8080) }},
		{name: "PORT spaces", env: []string{"PORT", " 9000 "}, check: func(t *testing.T, c *config.Config) { eq(t, c.Port, 9000) }},
		{name: "PORT 0: any free port", env: []string{"PORT", "0"}, check: func(t *testing.T, c *config.Config) { eq(t, c.Port, 0) }},
		{name: "PORT negative", env: []string{"PORT", "-1"}, bad: "PORT"},
		{name: "PORT too big", env: []string{"PORT", "65536"}, bad: "PORT"},
		{name: "PORT word", env: []string{"PORT", "http"}, bad: "PORT"},

		{name: "LOG_LEVEL debug", env: []string{"LOG_LEVEL", "debug"}, check: func(t *testing.T, c *config.Config) { eq(t, c.LogLevel, slog.LevelDebug) }},
		{name: "LOG_LEVEL WARN", env: []string{"LOG_LEVEL", "WARN"}, check: func(t *testing.T, c *config.Config) { eq(t, c.LogLevel, slog.LevelWarn) }},
		{name: "LOG_LEVEL error", env: []string{"LOG_LEVEL", "error"}, check: func(t *testing.T, c *config.Config) { eq(t, c.LogLevel, slog.LevelError) }},
		{name: "LOG_LEVEL bad", env: []string{"LOG_LEVEL", "loud"}, bad: "LOG_LEVEL"},

		{name: "SHUTDOWN_GRACE", env: []string{"SHUTDOWN_GRACE", "30s"}, check: func(t *testing.T, c *config.Config) { eq(t, c.ShutdownGrace, 30*time.Second) }},
		{name: "SHUTDOWN_GRACE 0", env: []string{"SHUTDOWN_GRACE", "0"}, bad: "SHUTDOWN_GRACE"},
		{name: "SHUTDOWN_GRACE bad", env: []string{"SHUTDOWN_GRACE", "soon"}, bad: "SHUTDOWN_GRACE"},

		{name: "RATE_LIMIT off", env: []string{"RATE_LIMIT", "off"}, check: func(t *testing.T, c *config.Config) {
			eq(t, c.RateLimit, false)
			eq(t, app(c).Flow.PollLimit, 0)
		}},
		{name: "RATE_LIMIT false", env: []string{"RATE_LIMIT", "false"}, check: func(t *testing.T, c *config.Config) { eq(t, c.RateLimit, false) }},
		{name: "RATE_LIMIT ON", env: []string{"RATE_LIMIT", "ON"}, check: func(t *testing.T, c *config.Config) { eq(t, c.RateLimit, true) }},
		{name: "RATE_LIMIT bad", env: []string{"RATE_LIMIT", "sometimes"}, bad: "RATE_LIMIT"},

		{name: "MAX_PENDING", env: []string{"MAX_PENDING", "500"}, check: func(t *testing.T, c *config.Config) {
			eq(t, c.MaxPending, 500)
			eq(t, app(c).Flow.MaxPending, 500)
		}},
		{name: "MAX_PENDING 0", env: []string{"MAX_PENDING", "0"}, bad: "MAX_PENDING"},
		{name: "MAX_PENDING negative", env: []string{"MAX_PENDING", "-5"}, bad: "MAX_PENDING"},
		{name: "MAX_PENDING word", env: []string{"MAX_PENDING", "many"}, bad: "MAX_PENDING"},

		{name: "PLUGIN_PARENT_DOMAIN", env: []string{"PLUGIN_PARENT_DOMAIN", "Plugins.Example.COM"}, check: func(t *testing.T, c *config.Config) {
			eq(t, c.PluginParentDomain, "plugins.example.com")
		}},
		{name: "PLUGIN_PARENT_DOMAIN bad", env: []string{"PLUGIN_PARENT_DOMAIN", "https://plugins.example.com"}, bad: "PLUGIN_PARENT_DOMAIN"},

		{name: "PLUGIN_ID", env: []string{"PLUGIN_ID", "ab12cd"}, check: func(t *testing.T, c *config.Config) { eq(t, app(c).PluginID, "ab12cd") }},
		{name: "PLUGIN_ID bad", env: []string{"PLUGIN_ID", "ab.cd"}, bad: "PLUGIN_ID"},
		{name: "PLUGIN_ID url", env: []string{"PLUGIN_ID", "https://ab12cd.plugins.framercdn.com"}, bad: "PLUGIN_ID"},

		{name: "ALLOWED_ORIGINS", env: []string{"ALLOWED_ORIGINS", " https://A.example.com:443 ,http://localhost:3000,, https://b.example:8443/"},
			check: func(t *testing.T, c *config.Config) {
				eq(t, app(c).AllowedOrigins, []string{"https://a.example.com", "http://localhost:3000", "https://b.example:8443"})
			}},
		{name: "ALLOWED_ORIGINS path", env: []string{"ALLOWED_ORIGINS", "https://a.example.com/app"}, bad: "ALLOWED_ORIGINS"},
		{name: "ALLOWED_ORIGINS host only", env: []string{"ALLOWED_ORIGINS", "a.example.com"}, bad: "ALLOWED_ORIGINS"},
		{name: "ALLOWED_ORIGINS userinfo", env: []string{"ALLOWED_ORIGINS", "https://u:p-HIDDEN@a.example.com"}, bad: "ALLOWED_ORIGINS", hidden: "p-HIDDEN"},

		{name: "CLIENT_ID missing", env: []string{"CLIENT_ID", ""}, bad: "CLIENT_ID"},
		{name: "CLIENT_SECRET missing", env: []string{"CLIENT_SECRET", "  "}, bad: "CLIENT_SECRET"},

		{name: "REDIRECT_URI path", env: []string{"REDIRECT_URI", "https://h.example/oauth/callback"}, check: func(t *testing.T, c *config.Config) {
			eq(t, app(c).RedirectPath, "/oauth/callback")
			eq(t, app(c).Flow.RedirectURI, "https://h.example/oauth/callback")
		}},
		{name: "REDIRECT_URI localhost http", env: []string{"REDIRECT_URI", "http://localhost:8787/redirect"}, check: func(t *testing.T, c *config.Config) {
			eq(t, app(c).RedirectPath, "/redirect")
		}},
		{name: "REDIRECT_URI missing", env: []string{"REDIRECT_URI", ""}, bad: "REDIRECT_URI"},
		{name: "REDIRECT_URI relative", env: []string{"REDIRECT_URI", "/redirect"}, bad: "REDIRECT_URI"},
		{name: "REDIRECT_URI ftp", env: []string{"REDIRECT_URI", "ftp://h.example/redirect"}, bad: "REDIRECT_URI"},
		{name: "REDIRECT_URI query", env: []string{"REDIRECT_URI", "https://h.example/redirect?x=1"}, bad: "REDIRECT_URI"},
		{name: "REDIRECT_URI fragment", env: []string{"REDIRECT_URI", "https://h.example/redirect#x"}, bad: "REDIRECT_URI"},
		{name: "REDIRECT_URI root", env: []string{"REDIRECT_URI", "https://h.example/"}, bad: "REDIRECT_URI"},
		{name: "REDIRECT_URI no path", env: []string{"REDIRECT_URI", "https://h.example"}, bad: "REDIRECT_URI"},
		{name: "REDIRECT_URI is /poll", env: []string{"REDIRECT_URI", "https://h.example/poll"}, bad: "REDIRECT_URI"},
		{name: "REDIRECT_URI is /healthz", env: []string{"REDIRECT_URI", "https://h.example/healthz"}, bad: "REDIRECT_URI"},
		// Fiber routes ignore case and a trailing slash: /HEALTHZ would be
		// served by /healthz, and the callback never reached.
		{name: "REDIRECT_URI is /HEALTHZ", env: []string{"REDIRECT_URI", "https://h.example/HEALTHZ"}, bad: "REDIRECT_URI"},
		{name: "REDIRECT_URI is /Poll/", env: []string{"REDIRECT_URI", "https://h.example/Poll/"}, bad: "REDIRECT_URI"},
		{name: "REDIRECT_URI is /healthz/", env: []string{"REDIRECT_URI", "https://h.example/healthz/"}, bad: "REDIRECT_URI"},
		{name: "REDIRECT_URI under /MOCK/", env: []string{"REDIRECT_URI", "https://h.example/MOCK/cb"}, bad: "REDIRECT_URI"},
		{name: "REDIRECT_URI credentials", env: []string{"REDIRECT_URI", "https://u:pw-HIDDEN@h.example/redirect"}, bad: "REDIRECT_URI", hidden: "pw-HIDDEN"},

		{name: "AUTHORIZE_ENDPOINT missing", env: []string{"AUTHORIZE_ENDPOINT", ""}, bad: "AUTHORIZE_ENDPOINT"},
		{name: "AUTHORIZE_ENDPOINT bad", env: []string{"AUTHORIZE_ENDPOINT", "provider.example/authorize"}, bad: "AUTHORIZE_ENDPOINT"},
		{name: "AUTHORIZE_ENDPOINT with query", env: []string{"AUTHORIZE_ENDPOINT", "https://p.example/auth?tenant=x"}, check: func(t *testing.T, c *config.Config) {
			eq(t, app(c).Flow.AuthorizeEndpoint, "https://p.example/auth?tenant=x")
		}},
		{name: "TOKEN_ENDPOINT missing", env: []string{"TOKEN_ENDPOINT", ""}, bad: "TOKEN_ENDPOINT"},
		{name: "TOKEN_ENDPOINT bad", env: []string{"TOKEN_ENDPOINT", "javascript:alert(1)"}, bad: "TOKEN_ENDPOINT"},
		{name: "REFRESH_ENDPOINT", env: []string{"REFRESH_ENDPOINT", "https://p.example/refresh"}, check: func(t *testing.T, c *config.Config) {
			eq(t, app(c).Flow.RefreshEndpoint, "https://p.example/refresh")
		}},
		{name: "REFRESH_ENDPOINT bad", env: []string{"REFRESH_ENDPOINT", "::"}, bad: "REFRESH_ENDPOINT"},

		{name: "SCOPE", env: []string{"SCOPE", "  openid   profile\temail "}, check: func(t *testing.T, c *config.Config) {
			eq(t, app(c).Flow.Scope, "openid profile email")
		}},

		{name: "AUTHORIZE_PARAMS", env: []string{"AUTHORIZE_PARAMS", "access_type=offline&prompt=consent"}, check: func(t *testing.T, c *config.Config) {
			eq(t, app(c).Flow.AuthorizeParams, url.Values{"access_type": {"offline"}, "prompt": {"consent"}})
		}},
		{name: "AUTHORIZE_PARAMS leading ?", env: []string{"AUTHORIZE_PARAMS", "?owner=user"}, check: func(t *testing.T, c *config.Config) {
			eq(t, app(c).Flow.AuthorizeParams, url.Values{"owner": {"user"}})
		}},
		{name: "AUTHORIZE_PARAMS state", env: []string{"AUTHORIZE_PARAMS", "state=fixed"}, bad: "AUTHORIZE_PARAMS"},
		{name: "AUTHORIZE_PARAMS code_challenge", env: []string{"AUTHORIZE_PARAMS", "a=b&code_challenge=x"}, bad: "AUTHORIZE_PARAMS"},
		{name: "AUTHORIZE_PARAMS code_challenge_method", env: []string{"AUTHORIZE_PARAMS", "code_challenge_method=plain"}, bad: "AUTHORIZE_PARAMS"},
		{name: "AUTHORIZE_PARAMS client_id", env: []string{"AUTHORIZE_PARAMS", "client_id=other"}, bad: "AUTHORIZE_PARAMS"},
		{name: "AUTHORIZE_PARAMS redirect_uri", env: []string{"AUTHORIZE_PARAMS", "redirect_uri=https://evil.example/"}, bad: "AUTHORIZE_PARAMS"},
		{name: "AUTHORIZE_PARAMS response_type", env: []string{"AUTHORIZE_PARAMS", "response_type=token"}, bad: "AUTHORIZE_PARAMS"},
		{name: "AUTHORIZE_PARAMS malformed", env: []string{"AUTHORIZE_PARAMS", "a=%zz"}, bad: "AUTHORIZE_PARAMS"},

		{name: "PKCE false", env: []string{"PKCE", "false"}, check: func(t *testing.T, c *config.Config) { eq(t, app(c).Flow.PKCE, false) }},
		{name: "PKCE off", env: []string{"PKCE", "off"}, check: func(t *testing.T, c *config.Config) { eq(t, app(c).Flow.PKCE, false) }},
		{name: "PKCE true", env: []string{"PKCE", "true"}, check: func(t *testing.T, c *config.Config) { eq(t, app(c).Flow.PKCE, true) }},
		{name: "PKCE bad", env: []string{"PKCE", "S256"}, bad: "PKCE"},

		{name: "TOKEN_AUTH_STYLE basic", env: []string{"TOKEN_AUTH_STYLE", "basic"}, check: func(t *testing.T, c *config.Config) { eq(t, app(c).Flow.AuthStyle, flow.AuthBasic) }},
		{name: "TOKEN_AUTH_STYLE client_secret_basic", env: []string{"TOKEN_AUTH_STYLE", "client_secret_basic"}, check: func(t *testing.T, c *config.Config) { eq(t, app(c).Flow.AuthStyle, flow.AuthBasic) }},
		{name: "TOKEN_AUTH_STYLE auto", env: []string{"TOKEN_AUTH_STYLE", "Auto"}, check: func(t *testing.T, c *config.Config) { eq(t, app(c).Flow.AuthStyle, flow.AuthAuto) }},
		{name: "TOKEN_AUTH_STYLE post", env: []string{"TOKEN_AUTH_STYLE", "post"}, check: func(t *testing.T, c *config.Config) { eq(t, app(c).Flow.AuthStyle, flow.AuthPost) }},
		{name: "TOKEN_AUTH_STYLE bad", env: []string{"TOKEN_AUTH_STYLE", "private_key_jwt"}, bad: "TOKEN_AUTH_STYLE"},

		{name: "LOGIN_TTL", env: []string{"LOGIN_TTL", "5m"}, check: func(t *testing.T, c *config.Config) { eq(t, app(c).Flow.LoginTTL, 5*time.Minute) }},
		{name: "LOGIN_TTL seconds", env: []string{"LOGIN_TTL", "90"}, check: func(t *testing.T, c *config.Config) { eq(t, app(c).Flow.LoginTTL, 90*time.Second) }},
		{name: "LOGIN_TTL 0", env: []string{"LOGIN_TTL", "0"}, bad: "LOGIN_TTL"},
		{name: "LOGIN_TTL 0s", env: []string{"LOGIN_TTL", "0s"}, bad: "LOGIN_TTL"},
		{name: "LOGIN_TTL negative", env: []string{"LOGIN_TTL", "-1m"}, bad: "LOGIN_TTL"},
		{name: "LOGIN_TTL negative seconds", env: []string{"LOGIN_TTL", "-30"}, bad: "LOGIN_TTL"},
		{name: "TOKEN_TTL", env: []string{"TOKEN_TTL", "2m"}, check: func(t *testing.T, c *config.Config) { eq(t, app(c).Flow.TokenTTL, 2*time.Minute) }},
		{name: "TOKEN_TTL 0", env: []string{"TOKEN_TTL", "0"}, bad: "TOKEN_TTL"},
		{name: "TOKEN_TTL negative", env: []string{"TOKEN_TTL", "-60s"}, bad: "TOKEN_TTL"},
		{name: "TOKEN_TTL bad", env: []string{"TOKEN_TTL", "a minute"}, bad: "TOKEN_TTL"},
		{name: "PROVIDER_TIMEOUT", env: []string{"PROVIDER_TIMEOUT", "3s"}, check: func(t *testing.T, c *config.Config) { eq(t, app(c).Flow.ProviderTimeout, 3*time.Second) }},
		{name: "PROVIDER_TIMEOUT 0", env: []string{"PROVIDER_TIMEOUT", "0ms"}, bad: "PROVIDER_TIMEOUT"},
		{name: "PROVIDER_CONCURRENCY", env: []string{"PROVIDER_CONCURRENCY", " 8 "}, check: func(t *testing.T, c *config.Config) { eq(t, app(c).Flow.ProviderConcurrency, 8) }},
		{name: "PROVIDER_CONCURRENCY empty", env: []string{"PROVIDER_CONCURRENCY", ""}, check: func(t *testing.T, c *config.Config) {
			eq(t, app(c).Flow.ProviderConcurrency, flow.DefaultProviderConcurrency)
		}},
		{name: "PROVIDER_CONCURRENCY 0", env: []string{"PROVIDER_CONCURRENCY", "0"}, bad: "PROVIDER_CONCURRENCY"},
		{name: "PROVIDER_CONCURRENCY negative", env: []string{"PROVIDER_CONCURRENCY", "-4"}, bad: "PROVIDER_CONCURRENCY"},
		{name: "PROVIDER_CONCURRENCY word", env: []string{"PROVIDER_CONCURRENCY", "many"}, bad: "PROVIDER_CONCURRENCY"},

		{name: "TLS_CERT_FILE alone", env: []string{"TLS_CERT_FILE", "cert.pem"}, bad: "TLS_CERT_FILE"},
		{name: "TLS files missing", env: []string{"TLS_CERT_FILE", "nope.pem", "TLS_KEY_FILE", "nope-key.pem"}, bad: "TLS_KEY_FILE"},

		{name: "FLY_APP_NAME", env: []string{"FLY_APP_NAME", "handoff"}, check: func(t *testing.T, c *config.Config) { eq(t, c.OnFly, true) }},
		{name: "FLY_MACHINE_ID", env: []string{"FLY_MACHINE_ID", "148e21ea7e5389"}, check: func(t *testing.T, c *config.Config) {
			eq(t, c.MachineID, "148e21ea7e5389")
			eq(t, app(c).Flow.MachineID, "148e21ea7e5389")
		}},
		{name: "FLY_MACHINE_ID bad", env: []string{"FLY_MACHINE_ID", "not a machine"}, bad: "FLY_MACHINE_ID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := load(t, c.env...)
			if c.bad == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				c.check(t, cfg)
				return
			}
			if err == nil {
				t.Fatalf("Load accepted %v", c.env)
			}
			ps := problems(t, err)
			if !hasProblem(ps, c.bad) {
				t.Errorf("problems %q do not name %s", ps, c.bad)
			}
			if c.hidden != "" && strings.Contains(err.Error(), c.hidden) {
				t.Errorf("the error shows the value %q: %v", c.hidden, err)
			}
			if strings.Contains(err.Error(), "s3cr3t-CLIENTSECRET") {
				t.Errorf("the error shows the client secret: %v", err)
			}
		})
	}
}

func eq(t *testing.T, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

// TestEveryProblemAtOnce: one error names every problem (docs/protocol.md#configuration), and shows
// none of the values, any of which may be a secret.
func TestEveryProblemAtOnce(t *testing.T) {
	cleanEnv(t)
	secrets := map[string]string{
		"CLIENT_SECRET":      "topsecret-VALUE-1",
		"SEAL_KEY":           "not-a-key-VALUE-2",
		"SEAL_KEYS_OLD":      "old-not-a-key-VALUE-3",
		"AUTHORIZE_ENDPOINT": "https://user:pw-VALUE-4@@provider/",
		"REDIRECT_URI":       "redirect-VALUE-5",
		"LOGIN_TTL":          "VALUE-6",
		"PORT":               "VALUE-7",
		"AUTHORIZE_PARAMS":   "state=VALUE-8",
		"PKCE":               "VALUE-9",
		"TOKEN_AUTH_STYLE":   "VALUE-10",
		"TOKEN_TTL":          "-1s",
		"PROVIDER_TIMEOUT":   "0",
		"MAX_PENDING":        "0",
		"RATE_LIMIT":         "VALUE-11",
		"LOG_LEVEL":          "VALUE-12",
		"SHUTDOWN_GRACE":     "VALUE-13",
		"PLUGIN_ID":          "VALUE 14",
		"ALLOWED_ORIGINS":    "VALUE-15",
		"PROVIDER":           "VALUE-16",
	}
	secrets["PROVIDER_CONCURRENCY"] = "0"
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	_, err := config.Load(false)
	if err == nil {
		t.Fatal("Load accepted it all")
	}
	ps := problems(t, err)
	want := []string{"CLIENT_ID", "TOKEN_ENDPOINT"} // missing
	for k := range secrets {
		if k != "CLIENT_SECRET" { // a valid value: only checked for absence below
			want = append(want, k)
		}
	}
	for _, name := range want {
		if !hasProblem(ps, name) {
			t.Errorf("no problem names %s", name)
		}
	}
	msg := err.Error()
	for k, v := range secrets {
		if len(v) > 3 && strings.Contains(msg, v) || strings.Contains(msg, "VALUE") || strings.Contains(msg, "pw-") {
			t.Errorf("the error shows the value of %s:\n%s", k, msg)
		}
	}
	t.Log(msg)
}
