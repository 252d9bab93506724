package config_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"handoff/crypto"
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

// TestVariables: each variable of SPEC §4 with valid and invalid values.
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
		{name: "PORT 0", env: []string{"PORT", "0"}, bad: "PORT"},
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

// TestEveryProblemAtOnce: one error names every problem (SPEC §4), and shows
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

func TestSealKey(t *testing.T) {
	// Bytes whose base64 has '+' and '/' (or '-' and '_'), and padding.
	key := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11)[:crypto.KeySize]
	forms := map[string]string{
		"hex":                 hex.EncodeToString(key),
		"HEX":                 strings.ToUpper(hex.EncodeToString(key)),
		"base64 padded":       base64.StdEncoding.EncodeToString(key),
		"base64 raw":          base64.RawStdEncoding.EncodeToString(key),
		"base64url padded":    base64.URLEncoding.EncodeToString(key),
		"base64url raw":       base64.RawURLEncoding.EncodeToString(key),
		"spaces around":       "  " + hex.EncodeToString(key) + "\n",
		"base64 padded again": base64.StdEncoding.EncodeToString(key),
	}
	var ref *crypto.Sealer
	for name, v := range forms {
		t.Run(name, func(t *testing.T) {
			c := mustLoad(t, "SEAL_KEY", v)
			a := c.Apps[0]
			if a.KeyFromSecret {
				t.Error("KeyFromSecret with SEAL_KEY set")
			}
			if ref == nil {
				ref = a.Flow.Sealer
				return
			}
			interoperate(t, ref, a.Flow.Sealer, true)
		})
	}

	other := make([]byte, crypto.KeySize)
	rand.Read(other)
	for name, v := range map[string]string{
		"31 bytes hex":          hex.EncodeToString(key[:31]),
		"33 bytes hex":          hex.EncodeToString(append(key, 1)),
		"64 non-hex characters": strings.Repeat("zq", 32),
		"31 bytes base64":       base64.StdEncoding.EncodeToString(key[:31]),
		"33 bytes base64":       base64.RawURLEncoding.EncodeToString(append(key, 1)),
		"mixed alphabets":       strings.Replace(base64.RawStdEncoding.EncodeToString(key), "/", "_", 1),
		"a passphrase":          "correct horse battery staple SECRET",
		"space inside":          hex.EncodeToString(key[:16]) + " " + hex.EncodeToString(key[16:]),
		"bad padding":           base64.RawStdEncoding.EncodeToString(key) + "==",
	} {
		t.Run("bad "+name, func(t *testing.T) {
			_, err := load(t, "SEAL_KEY", v)
			if err == nil {
				t.Fatal("accepted")
			}
			if ps := problems(t, err); !hasProblem(ps, "SEAL_KEY") {
				t.Errorf("problems %q", ps)
			}
			for _, part := range []string{v, strings.TrimSpace(v), v[:12]} {
				if strings.Contains(err.Error(), part) {
					t.Errorf("the error shows the key: %v", err)
				}
			}
		})
	}
}

// TestSealKeysOld: during a rotation, states sealed under an old key still
// open; without the old key they do not (SPEC §4).
func TestSealKeysOld(t *testing.T) {
	k1 := hex.EncodeToString(testKey("k1"))
	k2 := base64.StdEncoding.EncodeToString(testKey("k2"))
	k3 := base64.RawURLEncoding.EncodeToString(testKey("k3"))
	before := mustLoad(t, "SEAL_KEY", k1).Apps[0].Flow.Sealer
	rotated := mustLoad(t, "SEAL_KEY", k2, "SEAL_KEYS_OLD", k3+" , "+k1).Apps[0].Flow.Sealer
	forgot := mustLoad(t, "SEAL_KEY", k2).Apps[0].Flow.Sealer
	interoperate(t, before, rotated, true)
	interoperate(t, before, forgot, false)
	// New states are sealed under the new key only.
	sealed := rotated.Seal([]byte("x"), []byte("ad"))
	if _, _, err := before.Open(nil, sealed, []byte("ad")); err == nil {
		t.Error("a state sealed after the rotation opens under the old key alone")
	}

	_, err := load(t, "SEAL_KEY", k2, "SEAL_KEYS_OLD", k1+",not-a-key-OLDSECRET")
	if err == nil {
		t.Fatal("a bad old key was accepted")
	}
	if ps := problems(t, err); !hasProblem(ps, "SEAL_KEYS_OLD") {
		t.Errorf("problems %q", ps)
	}
	if strings.Contains(err.Error(), "OLDSECRET") || strings.Contains(err.Error(), k1) {
		t.Errorf("the error shows a key: %v", err)
	}
}

// TestSealKeyFromSecret: without SEAL_KEY the key comes from CLIENT_SECRET, so
// a restart keeps logins in flight; another secret is another key.
func TestSealKeyFromSecret(t *testing.T) {
	a := mustLoad(t).Apps[0]
	b := mustLoad(t).Apps[0]
	c := mustLoad(t, "CLIENT_SECRET", "q8Vx2mKp9ZrT4wLs7Nb3").Apps[0]
	if !a.KeyFromSecret {
		t.Error("KeyFromSecret not set")
	}
	interoperate(t, a.Flow.Sealer, b.Flow.Sealer, true)
	interoperate(t, a.Flow.Sealer, c.Flow.Sealer, false)
}

// interoperate checks whether what one sealer seals the other opens.
func interoperate(t *testing.T, from, to *crypto.Sealer, want bool) {
	t.Helper()
	ad := []byte("handoff state v1")
	sealed := from.Seal([]byte("login"), ad)
	got, _, err := to.Open(nil, sealed, ad)
	if opened := err == nil && string(got) == "login"; opened != want {
		t.Errorf("opened %t, want %t (err %v)", opened, want, err)
	}
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
	t.Run("figma refresh endpoint", func(t *testing.T) {
		f, _ := flow.LookupPreset("figma")
		a := mustLoad(t, append(base, "PROVIDER", "figma")...).Apps[0]
		eq(t, a.Flow.RefreshEndpoint, f.RefreshEndpoint)
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
			c, err := load(t, append(base, "PROVIDER", name)...)
			if err != nil {
				t.Errorf("PROVIDER=%s: %v", name, err)
				continue
			}
			if _, err := flow.New(c.Apps[0].Flow); err != nil {
				t.Errorf("PROVIDER=%s: flow.New: %v", name, err)
			}
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

// TestApps: APPS with prefixed variables (SPEC §8).
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

// TestDemo: with -demo no variable is needed (SPEC §6); variables given
// still apply.
func TestDemo(t *testing.T) {
	cleanEnv(t)
	c, err := config.Load(true)
	if err != nil {
		t.Fatalf("Load(demo) with an empty environment: %v", err)
	}
	a := c.Apps[0]
	eq(t, c.Demo, true)
	eq(t, c.Port, 8787)
	eq(t, a.Flow.RedirectURI, "http://localhost:8787/redirect")
	eq(t, a.RedirectPath, "/redirect")
	eq(t, a.Flow.AuthorizeEndpoint, "http://localhost:8787"+config.DemoMockPath+"/authorize")
	eq(t, a.Flow.TokenEndpoint, "http://localhost:8787"+config.DemoMockPath+"/token")
	eq(t, a.Flow.ClientID, config.DemoClientID)
	if a.Flow.Sealer == nil {
		t.Fatal("no sealer")
	}
	// The seal key is random, not derived from the published demo secret
	// (nor from one given for a try-out): each start has its own.
	eq(t, a.KeyFromSecret, false)
	again, err := config.Load(true)
	if err != nil {
		t.Fatal(err)
	}
	interoperate(t, again.Apps[0].Flow.Sealer, a.Flow.Sealer, false)
	setEnv(t, "CLIENT_SECRET", "summer2024")
	if c, err := config.Load(true); err != nil || c.Apps[0].KeyFromSecret {
		t.Errorf("-demo with a weak CLIENT_SECRET: %v; want a random key", err)
	}
	// Outside -demo the published secret cannot be the seal key's source.
	_, err = load(t, "CLIENT_SECRET", config.DemoClientSecret)
	if ps := problems(t, err); !hasProblem(ps, "CLIENT_SECRET") {
		t.Errorf("the demo secret as the seal key's source: problems %q", ps)
	}

	cleanEnv(t)
	setEnv(t, "PORT", "9001", "SCOPE", "openid email", "LOGIN_TTL", "2m")
	c, err = config.Load(true)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, c.Apps[0].Flow.RedirectURI, "http://localhost:9001/redirect")
	eq(t, c.Apps[0].Flow.Scope, "openid email")
	eq(t, c.Apps[0].Flow.LoginTTL, 2*time.Minute)

	// Without -demo the empty environment is a config error.
	cleanEnv(t)
	if _, err := config.Load(false); err == nil {
		t.Error("an empty environment loaded without -demo")
	}
}

// testKey is a 32-byte key of the tests, one per name.
func testKey(name string) []byte {
	sum := sha256.Sum256([]byte("handoff config test key " + name))
	return sum[:]
}

// TestMkcert: mkcert's localhost.pem and localhost-key.pem in the working
// directory turn on HTTPS, as the worker's local setup has it (SPEC §4).
func TestMkcert(t *testing.T) {
	cleanEnv(t) // now in an empty directory
	setEnv(t, minimal...)
	write := func(name string) {
		if err := os.WriteFile(name, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	c, err := config.Load(false)
	if err != nil || c.TLSCertFile != "" || c.TLSFromMkcert {
		t.Fatalf("no files: %v %+v", err, c)
	}
	write(config.MkcertCert)
	c, err = config.Load(false)
	if err != nil || c.TLSCertFile != "" {
		t.Fatalf("only the certificate: %v, TLS %q", err, c.TLSCertFile)
	}
	write(config.MkcertKey)
	c, err = config.Load(false)
	if err != nil {
		t.Fatal(err)
	}
	if !c.TLSFromMkcert || c.TLSCertFile != "localhost.pem" || c.TLSKeyFile != "localhost-key.pem" {
		t.Errorf("mkcert files not picked up: %q %q %t", c.TLSCertFile, c.TLSKeyFile, c.TLSFromMkcert)
	}
	// Demo mode then points the mock at https.
	setEnv(t, "AUTHORIZE_ENDPOINT", "", "TOKEN_ENDPOINT", "", "REDIRECT_URI", "")
	c, err = config.Load(true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Apps[0].Flow.AuthorizeEndpoint, "https://localhost:8787/") ||
		c.Apps[0].Flow.RedirectURI != "https://localhost:8787/redirect" {
		t.Errorf("demo with mkcert files: authorize endpoint %s", c.Apps[0].Flow.AuthorizeEndpoint)
	}

	// Explicit files win over mkcert's.
	setEnv(t, minimal...)
	write("other.pem")
	write("other-key.pem")
	setEnv(t, "TLS_CERT_FILE", "other.pem", "TLS_KEY_FILE", "other-key.pem")
	c, err = config.Load(false)
	if err != nil {
		t.Fatal(err)
	}
	if c.TLSFromMkcert || c.TLSCertFile != "other.pem" || c.TLSKeyFile != "other-key.pem" {
		t.Errorf("explicit files: %q %q %t", c.TLSCertFile, c.TLSKeyFile, c.TLSFromMkcert)
	}
}

func TestPrefix(t *testing.T) {
	for app, want := range map[string]string{"": "", "hubspot-plugin": "HUBSPOT_PLUGIN_", "sheets2": "SHEETS2_"} {
		if got := config.Prefix(app); got != want {
			t.Errorf("Prefix(%q) = %q, want %q", app, got, want)
		}
	}
}

func TestCanonicalOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://Example.COM":      "https://example.com",
		"https://example.com:443":  "https://example.com",
		"http://example.com:80":    "http://example.com",
		"http://example.com:8080/": "http://example.com:8080",
		"http://[::1]:5173":        "http://[::1]:5173",
		"https://example.com/path": "",
		"https://example.com?x=1":  "",
		"https://u@example.com":    "",
		"example.com":              "",
		"ftp://example.com":        "",
		"null":                     "",
	} {
		got, ok := config.CanonicalOrigin(in)
		if ok != (want != "") || got != want {
			t.Errorf("CanonicalOrigin(%q) = %q, %t; want %q", in, got, ok, want)
		}
	}
}

// TestSealKeySource: without SEAL_KEY, a CLIENT_SECRET that could be guessed
// offline stops start-up with a problem that asks for SEAL_KEY and never
// shows the secret (SPEC §5.10); with SEAL_KEY the secret may be anything.
func TestSealKeySource(t *testing.T) {
	key := hex.EncodeToString(testKey("source"))
	for _, secret := range []string{"summer2024", "Correcthorsebattery2024", "Summer2024Summer2024", "XXXX"} {
		t.Run(secret, func(t *testing.T) {
			_, err := load(t, "CLIENT_SECRET", secret, "PORT", "0")
			ps := problems(t, err)
			if !hasProblem(ps, "CLIENT_SECRET") || !hasProblem(ps, "PORT") {
				t.Errorf("problems %q: want CLIENT_SECRET and, at once, PORT", ps)
			}
			msg := err.Error()
			if !strings.Contains(msg, "SEAL_KEY") || !strings.Contains(msg, "openssl rand -hex 32") {
				t.Errorf("the problem does not ask for SEAL_KEY with the command to make one:\n%s", msg)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("the error shows the secret:\n%s", msg)
			}
			c := mustLoad(t, "CLIENT_SECRET", secret, "SEAL_KEY", key)
			if c.Apps[0].KeyFromSecret {
				t.Error("KeyFromSecret with SEAL_KEY set")
			}
		})
	}
	t.Run("a Dropbox-like secret", func(t *testing.T) {
		if a := mustLoad(t, "CLIENT_SECRET", "k7x2m9qz4w1p8vb").Apps[0]; !a.KeyFromSecret || a.Flow.Sealer == nil {
			t.Error("the seal key was not derived from a machine-generated secret")
		}
	})
	t.Run("APPS name the prefixed variables", func(t *testing.T) {
		cleanEnv(t)
		setEnv(t, "APPS", "hubspot-plugin,sheets",
			"HUBSPOT_PLUGIN_CLIENT_ID", "h", "HUBSPOT_PLUGIN_CLIENT_SECRET", "hubspot2024",
			"HUBSPOT_PLUGIN_REDIRECT_URI", "https://h.example/hubspot-plugin/redirect", "HUBSPOT_PLUGIN_PROVIDER", "hubspot",
			"SHEETS_CLIENT_ID", "s", "SHEETS_CLIENT_SECRET", "k7x2m9qz4w1p8vb",
			"SHEETS_REDIRECT_URI", "https://h.example/sheets/redirect", "SHEETS_PROVIDER", "google")
		_, err := config.Load(false)
		ps := problems(t, err)
		if len(ps) != 1 || !hasProblem(ps, "HUBSPOT_PLUGIN_CLIENT_SECRET") || !strings.Contains(ps[0], "HUBSPOT_PLUGIN_SEAL_KEY") {
			t.Errorf("problems %q: want one, naming HUBSPOT_PLUGIN_CLIENT_SECRET and HUBSPOT_PLUGIN_SEAL_KEY", ps)
		}
		if strings.Contains(err.Error(), "hubspot2024") {
			t.Errorf("the error shows the secret: %v", err)
		}
	})
}

// TestSealKeyOneByte: a SEAL_KEY or SEAL_KEYS_OLD entry that is one byte
// repeated (64 zeros, a placeholder) is refused in each encoding.
func TestSealKeyOneByte(t *testing.T) {
	good := hex.EncodeToString(testKey("good"))
	for name, v := range map[string]string{
		"64 zeros":          strings.Repeat("0", 64),
		"ff in hex":         strings.Repeat("FF", 32),
		"base64 of 0x00":    base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"base64url of 0x41": base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0x41}, 32)),
	} {
		t.Run(name, func(t *testing.T) {
			for _, kv := range [][]string{{"SEAL_KEY", v}, {"SEAL_KEY", good, "SEAL_KEYS_OLD", good + "," + v}} {
				_, err := load(t, kv...)
				bad := kv[len(kv)-2]
				if ps := problems(t, err); len(ps) != 1 || !hasProblem(ps, bad) {
					t.Errorf("%s: problems %q, want one naming %s", bad, ps, bad)
				}
			}
		})
	}
}

// TestDemoOnFly: -demo signs anyone in, so it refuses to start where
// FLY_APP_NAME says it is deployed (SPEC §5.10); without -demo that
// variable only changes the logs and the client IP.
func TestDemoOnFly(t *testing.T) {
	cleanEnv(t)
	setEnv(t, "FLY_APP_NAME", "handoff")
	_, err := config.Load(true)
	if ps := problems(t, err); len(ps) != 1 || !hasProblem(ps, "FLY_APP_NAME") || !strings.Contains(ps[0], "-demo") {
		t.Errorf("problems %q: want one naming FLY_APP_NAME and -demo", ps)
	}
	if _, err := load(t, "FLY_APP_NAME", "handoff"); err != nil {
		t.Errorf("without -demo: %v", err)
	}
}

// TestProviderConcurrencyPerApp: PROVIDER_CONCURRENCY is per app, prefixed
// under APPS like PROVIDER_TIMEOUT (SPEC §5.11, §8).
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
	_, err = config.Load(false)
	if ps := problems(t, err); len(ps) != 1 || !hasProblem(ps, "TWO_PROVIDER_CONCURRENCY") {
		t.Errorf("problems %q", ps)
	}
}
