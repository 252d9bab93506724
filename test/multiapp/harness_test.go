package multiapp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"handoff/internal/mockprovider"
	"handoff/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Run(m)) }

// startServer starts handoff with the environment env(port), built with
// -race when the tests are, and waits until /healthz answers. At the end of
// the test it is stopped as Fly does (SIGINT), and a data race it reported
// fails the test.
func startServer(t testing.TB, env func(port int) map[string]string) *testkit.Proc {
	t.Helper()
	return testkit.Start(t, testkit.Options{Env: env, Race: true})
}

// runToExit runs handoff with env and returns its exit status and output.
// It is for configurations that must stop start-up.
func runToExit(t *testing.T, env map[string]string) (int, string) {
	t.Helper()
	if _, ok := env["PORT"]; !ok {
		env["PORT"] = "0" // any free port, should it start after all
	}
	return testkit.ExitStatus(t, testkit.Command(t, testkit.RaceBinary(t), env), 10*time.Second)
}

// provider is a fake OAuth provider: internal/mockprovider, approving at
// once, strict about client authentication, single-use codes and PKCE.
type provider struct {
	*mockprovider.Provider
	URL string
}

func newProvider(t testing.TB, clientID, secret string) *provider {
	t.Helper()
	p := mockprovider.New(mockprovider.Options{ClientID: clientID, ClientSecret: secret, AutoApprove: true})
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return &provider{Provider: p, URL: srv.URL}
}

// response is an answer handoff or a provider gave.
type response = testkit.Response

// do sends one request (the test's own, not the plugin's).
func do(t testing.TB, method, u string, header http.Header, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := (&testkit.Plugin{}).Do(method, u, header, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return r
}

// plugin is a Framer plugin written for framer/plugin-oauth: it
// knows a base URL and nothing of apps (with APPS, only the base URL
// changes). origin is its Origin, or "".
func plugin(base, origin string) *testkit.Plugin {
	return &testkit.Plugin{Base: base, Origin: origin}
}

// authorize starts a login: the provider's URL and the read key.
func authorize(t testing.TB, p *testkit.Plugin) (authURL, readKey string) {
	t.Helper()
	l, err := p.Authorize()
	if err != nil {
		t.Fatal(err)
	}
	return l.URL, l.ReadKey
}

func poll(t testing.TB, p *testkit.Plugin, readKey string) response {
	t.Helper()
	return must(t)(p.Poll(readKey))
}

func refresh(t testing.TB, p *testkit.Plugin, refreshToken string) response {
	t.Helper()
	return must(t)(p.Refresh(refreshToken))
}

// must passes an answer on, failing t when the request got none.
func must(t testing.TB) func(response, error) response {
	return func(r response, err error) response {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

// consent plays the user's browser at the provider: it returns where the
// provider sends the browser back to (the redirect URI with code and state).
func consent(t testing.TB, authURL string) string {
	t.Helper()
	back, err := (&testkit.Plugin{}).Consent(testkit.Login{URL: authURL}, true)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

func jsonOf(t testing.TB, r response) map[string]any {
	t.Helper()
	m, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// query returns one parameter of a URL.
func query(t testing.TB, u, name string) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return pu.Query().Get(name)
}
