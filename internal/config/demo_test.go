package config_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"handoff/internal/config"
)

// TestDemo: with -demo no variable is needed (docs/protocol.md#demo-mode); variables given
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

// TestDemoOnFly: -demo signs anyone in, so it refuses to start where
// FLY_APP_NAME says it is deployed (SECURITY.md, property 10); without -demo that
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

// TestMkcert: mkcert's localhost.pem and localhost-key.pem in the working
// directory turn on HTTPS, as a local setup made with "mkcert localhost" has it (docs/protocol.md#configuration).
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
