package config_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"handoff/internal/config"
)

// serverVars and appVars are every variable of docs/protocol.md#configuration and #several-apps.
var (
	serverVars = []string{"PORT", "LOG_LEVEL", "TLS_CERT_FILE", "TLS_KEY_FILE", "SHUTDOWN_GRACE",
		"RATE_LIMIT", "MAX_PENDING", "PLUGIN_PARENT_DOMAIN", "METRICS_ADDR", "APPS", "FLY_APP_NAME", "FLY_MACHINE_ID",
		"API_MAX_BODY", "API_TIMEOUT"}
	appVars = []string{"CLIENT_ID", "CLIENT_SECRET", "REDIRECT_URI", "AUTHORIZE_ENDPOINT", "TOKEN_ENDPOINT",
		"REFRESH_ENDPOINT", "SCOPE", "PROVIDER", "AUTHORIZE_PARAMS", "PLUGIN_ID", "PLUGIN_NAME", "PLUGIN_URI", "ALLOWED_ORIGINS",
		"SEAL_KEY", "SEAL_KEYS_OLD", "PKCE", "TOKEN_AUTH_STYLE", "LOGIN_TTL", "TOKEN_TTL", "PROVIDER_TIMEOUT",
		"PROVIDER_CONCURRENCY", "TENANT", "ALLOWED_SCOPES", "REFRESH_REPLAY_TTL", "REVOKE_ENDPOINT", "API_ORIGINS"}
)

// cleanEnv unsets every variable handoff reads, prefixed or not, for the
// length of the test (t.Setenv restores them after), and moves into an
// empty directory so no mkcert or dotenv file is found.
func cleanEnv(t *testing.T) {
	t.Helper()
	t.Chdir(t.TempDir())
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if ours(name) {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	// Variables the tests set through dotenv files: unset now, restored
	// (to unset) by t.Setenv's cleanup.
	for _, name := range append(append([]string{}, serverVars...), appVars...) {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
}

func ours(name string) bool {
	for _, v := range serverVars {
		if name == v {
			return true
		}
	}
	for _, v := range appVars {
		if name == v || strings.HasSuffix(name, "_"+v) {
			return true
		}
	}
	return false
}

// setEnv sets pairs of name, value.
func setEnv(t *testing.T, kv ...string) {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		t.Setenv(kv[i], kv[i+1])
	}
}

// minimal is the least a custom provider needs.
var minimal = []string{
	"CLIENT_ID", "client-123",
	"CLIENT_SECRET", "s3cr3t-CLIENTSECRET",
	"REDIRECT_URI", "https://handoff.example.com/redirect",
	"AUTHORIZE_ENDPOINT", "https://provider.example/oauth/authorize",
	"TOKEN_ENDPOINT", "https://provider.example/oauth/token",
}

func load(t *testing.T, kv ...string) (*config.Config, error) {
	t.Helper()
	cleanEnv(t)
	setEnv(t, minimal...)
	setEnv(t, kv...)
	return config.Load(false)
}

func mustLoad(t *testing.T, kv ...string) *config.Config {
	t.Helper()
	c, err := load(t, kv...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(c.Apps) != 1 {
		t.Fatalf("%d apps", len(c.Apps))
	}
	return c
}

// minimalApps cleans the environment and sets APPS to apps, each with the
// minimal variables under its prefix and a redirect route under its path.
func minimalApps(t *testing.T, apps ...string) {
	t.Helper()
	cleanEnv(t)
	setEnv(t, "APPS", strings.Join(apps, ","))
	for _, app := range apps {
		prefix := strings.ToUpper(app) + "_"
		for i := 0; i+1 < len(minimal); i += 2 {
			v := minimal[i+1]
			if minimal[i] == "REDIRECT_URI" {
				v = "https://handoff.example.com/" + app + "/redirect"
			}
			setEnv(t, prefix+minimal[i], v)
		}
	}
}

// reload loads the environment as it is now, which must be valid.
func reload(t *testing.T) *config.Config {
	t.Helper()
	c, err := config.Load(false)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantOneProblem loads the environment as it is now and checks that it is
// refused with one problem, about variable name.
func wantOneProblem(t *testing.T, name string) {
	t.Helper()
	_, err := config.Load(false)
	if ps := problems(t, err); len(ps) != 1 || !hasProblem(ps, name) {
		t.Errorf("problems %q, want one naming %s", ps, name)
	}
}

// problems returns the problem lines of a config error.
func problems(t *testing.T, err error) []string {
	t.Helper()
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	return cerr.Problems
}

// hasProblem reports whether a problem line is about variable name.
func hasProblem(ps []string, name string) bool {
	for _, p := range ps {
		if strings.HasPrefix(p, name+":") {
			return true
		}
	}
	return false
}
