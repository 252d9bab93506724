package multiapp

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
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
	out, err := testkit.RunToExit(testkit.Command(t, testkit.RaceBinary(t), env), 10*time.Second)
	var ee *exec.ExitError
	switch {
	case errors.Is(err, testkit.ErrStillRunning):
		t.Fatalf("handoff started although the configuration is invalid:\n%s", out)
	case errors.As(err, &ee):
		return ee.ExitCode(), out
	case err != nil:
		t.Fatal(err)
	}
	return 0, out
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

// httpClient never follows redirects: the browser steps are explicit.
var httpClient = &http.Client{
	Timeout:       15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("not JSON (%d): %q", r.status, r.body)
	}
	return m
}

func (r response) errorCode() string { return testkit.ErrorCode(r.body) }
func (r response) outcome() string   { return testkit.Outcome(r.body) }

func do(t testing.TB, method, u string, header http.Header, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// plugin talks to handoff as a Framer plugin written for the
// framer/plugin-oauth worker does: it knows a base URL and appends
// /authorize, /poll?readKey= and /refresh?code= to it, with body-less POSTs
// (CORS simple requests) from its plugin origin. Nothing in it knows about
// apps: with APPS, only the base URL changes.
type plugin struct {
	base   string
	origin string
}

func (p plugin) header() http.Header {
	h := http.Header{}
	if p.origin != "" {
		h.Set("Origin", p.origin)
	}
	return h
}

// authorize starts a login: the provider's URL and the read key.
func (p plugin) authorize(t testing.TB) (authURL, readKey string) {
	t.Helper()
	r := do(t, "POST", p.base+"/authorize", p.header(), "")
	if r.status != http.StatusOK {
		t.Fatalf("authorize: %d %s", r.status, r.body)
	}
	var v struct{ URL, ReadKey string }
	if err := json.Unmarshal(r.body, &v); err != nil || v.URL == "" || v.ReadKey == "" {
		t.Fatalf("authorize: %s", r.body)
	}
	return v.URL, v.ReadKey
}

func (p plugin) poll(t testing.TB, readKey string) response {
	t.Helper()
	return do(t, "POST", p.base+"/poll?readKey="+url.QueryEscape(readKey), p.header(), "")
}

func (p plugin) refresh(t testing.TB, refreshToken string) response {
	t.Helper()
	return do(t, "POST", p.base+"/refresh?code="+url.QueryEscape(refreshToken), p.header(), "")
}

// consent plays the user's browser at the provider: it opens the authorize
// URL and returns where the provider sends the browser back to (the
// redirect URI with code and state).
func consent(t testing.TB, authURL string) string {
	t.Helper()
	r := do(t, "GET", authURL, nil, "")
	if r.status != http.StatusFound {
		t.Fatalf("provider authorize: %d %s", r.status, r.body)
	}
	return r.header.Get("Location")
}

// login runs the plugin's whole journey: authorize, poll while the user
// logs in, the provider's redirect to handoff, then the poll that gets the
// tokens, and a last poll that must say they were already delivered.
// wantRedirect is the redirect URI handoff must have sent to the provider.
func login(t testing.TB, p plugin, wantRedirect string) map[string]any {
	t.Helper()
	authURL, readKey := p.authorize(t)
	if r := p.poll(t, readKey); r.status != http.StatusNotFound || r.errorCode() != "authorization_pending" {
		t.Fatalf("poll before the login: %d %s", r.status, r.body)
	}
	back := consent(t, authURL)
	if !strings.HasPrefix(back, wantRedirect+"?") {
		t.Fatalf("the provider sent the browser to %q, want %s?…", back, wantRedirect)
	}
	page := do(t, "GET", back, nil, "")
	if page.status != http.StatusOK || page.outcome() != "authenticated" {
		t.Fatalf("redirect page: %d %s", page.status, page.body)
	}
	r := p.poll(t, readKey)
	if r.status != http.StatusOK {
		t.Fatalf("poll after the login: %d %s", r.status, r.body)
	}
	tokens := r.json(t)
	if again := p.poll(t, readKey); again.status != http.StatusGone || again.errorCode() != "already_delivered" {
		t.Fatalf("second poll: %d %s", again.status, again.body)
	}
	return tokens
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
