// Package binary tests the handoff binary as a user runs it: built with go
// build, started with an environment of the test's choosing, in a working
// directory of its own. Package main stays main.go alone.
package binary

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"handoff/flow"
	"handoff/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Run(m)) }

// TestBinary builds handoff once and runs each scenario against it.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	h := harness{bin: testkit.Binary(t)}

	t.Run("config errors", h.configErrors)
	t.Run("bad dotenv file", h.badDotenv)
	t.Run("providers", h.providers)
	t.Run("demo with an empty environment", h.demo)
	t.Run("dotenv file", h.dotenvFile)
	t.Run("TLS files", h.tlsFiles)
	t.Run("mkcert files", h.mkcert)
	t.Run("SIGTERM finishes requests in flight", h.gracefulShutdown)
	t.Run("a Dropbox-like client secret is the seal key's source", h.dropboxSecret)
	t.Run("PROVIDER_CONCURRENCY caps calls to the provider", h.providerConcurrency)
	t.Run("a scoped login, refresh replay and revoke in -demo", h.tokenLife)
	t.Run("refreshes of one token under rotation share one call", h.refreshRotation)
}

// Values the scenarios share: a client secret that looks machine-generated
// (so the seal key may be derived from it, SECURITY.md property 10) and a seal key.
const (
	clientSecret = "cmdtest-Kq7xZ2mP9vL4wR8s"
	sealKey      = "3b7e1c9a5f2d8e4b6a0c7f1e9d3b5a2c8e6f4a1d7b9c3e5f0a2b4d6c8e1f3a5b"
)

// validEnv is a complete configuration for a custom provider at provider.
func validEnv(provider, redirect string) []string {
	return []string{"CLIENT_ID=id", "CLIENT_SECRET=" + clientSecret, "REDIRECT_URI=" + redirect,
		"AUTHORIZE_ENDPOINT=" + provider + "/authorize", "TOKEN_ENDPOINT=" + provider + "/token"}
}

type harness struct{ bin string }

// result is a finished run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// runOnce runs the binary to its end (it must end within 20 s).
func (h harness) runOnce(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(h.bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{}, env...) // never the test's own environment
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code, _ := testkit.ExitStatus(t, cmd, 20*time.Second)
	return result{code, stdout.String(), stderr.String()}
}

func (h harness) configErrors(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		env     []string
		names   []string // every variable the message must name
		says    []string // text the message must hold
		secrets []string // values that must never be printed
	}{
		{
			name:  "empty environment",
			names: []string{"CLIENT_ID", "CLIENT_SECRET", "REDIRECT_URI", "AUTHORIZE_ENDPOINT", "TOKEN_ENDPOINT"},
		},
		{
			name: "invalid values",
			env: []string{
				"CLIENT_SECRET=the-client-secret-VALUE",
				"SEAL_KEY=bad-seal-key-VALUE",
				"SEAL_KEYS_OLD=" + strings.Repeat("ab", 32) + ",old-seal-key-VALUE",
				"REDIRECT_URI=ftp://handoff.example/redirect",
				"AUTHORIZE_ENDPOINT=https://user:endpoint-password-VALUE@@provider.example/",
				"PORT=99999",
				"LOGIN_TTL=0",
				"TOKEN_TTL=-5s",
				"MAX_PENDING=0",
				"PKCE=maybe",
				"TOKEN_AUTH_STYLE=digest",
				"RATE_LIMIT=sometimes",
				"LOG_LEVEL=loud",
				"AUTHORIZE_PARAMS=state=fixed",
				"ALLOWED_ORIGINS=https://example.com/path",
				"PLUGIN_ID=not an id",
			},
			names: []string{"CLIENT_ID", "TOKEN_ENDPOINT", "SEAL_KEY", "SEAL_KEYS_OLD", "REDIRECT_URI",
				"AUTHORIZE_ENDPOINT", "PORT", "LOGIN_TTL", "TOKEN_TTL", "MAX_PENDING", "PKCE",
				"TOKEN_AUTH_STYLE", "RATE_LIMIT", "LOG_LEVEL", "AUTHORIZE_PARAMS", "ALLOWED_ORIGINS", "PLUGIN_ID"},
			secrets: []string{"the-client-secret-VALUE", "bad-seal-key-VALUE", "old-seal-key-VALUE",
				"endpoint-password-VALUE", strings.Repeat("ab", 32)},
		},
		{
			name: "APPS",
			env: []string{
				"APPS=hubspot-plugin,sheets",
				"CLIENT_ID=unprefixed", "CLIENT_SECRET=unprefixed-secret-VALUE",
				"HUBSPOT_PLUGIN_CLIENT_ID=x", "HUBSPOT_PLUGIN_CLIENT_SECRET=hub-secret-VALUE",
				"HUBSPOT_PLUGIN_REDIRECT_URI=https://h.example/redirect",
				"HUBSPOT_PLUGIN_PROVIDER=hubspot",
				"SHEETS_SEAL_KEY=sheets-seal-VALUE",
			},
			names: []string{"HUBSPOT_PLUGIN_REDIRECT_URI", "SHEETS_CLIENT_ID", "SHEETS_CLIENT_SECRET",
				"SHEETS_REDIRECT_URI", "SHEETS_AUTHORIZE_ENDPOINT", "SHEETS_TOKEN_ENDPOINT", "SHEETS_SEAL_KEY"},
			secrets: []string{"unprefixed-secret-VALUE", "hub-secret-VALUE", "sheets-seal-VALUE"},
		},
		{
			// SECURITY.md property 10: guessed offline from a state of /authorize.
			name:    "guessable CLIENT_SECRET without SEAL_KEY",
			env:     append(validEnv("https://p.example", "https://h.example/redirect"), "CLIENT_SECRET=summer2024"),
			names:   []string{"CLIENT_SECRET"},
			says:    []string{"SEAL_KEY", "openssl rand -hex 32"},
			secrets: []string{"summer2024"},
		},
		{
			name: "guessable CLIENT_SECRET under APPS",
			env: []string{"APPS=hubspot-plugin", "HUBSPOT_PLUGIN_CLIENT_ID=x", "HUBSPOT_PLUGIN_CLIENT_SECRET=Correcthorsebattery2024",
				"HUBSPOT_PLUGIN_REDIRECT_URI=https://h.example/hubspot-plugin/redirect", "HUBSPOT_PLUGIN_PROVIDER=hubspot"},
			names:   []string{"HUBSPOT_PLUGIN_CLIENT_SECRET"},
			says:    []string{"HUBSPOT_PLUGIN_SEAL_KEY", "openssl rand -hex 32"},
			secrets: []string{"Correcthorsebattery2024"},
		},
		{
			name: "SEAL_KEY of one repeated byte",
			env: append(validEnv("https://p.example", "https://h.example/redirect"),
				"SEAL_KEY="+strings.Repeat("0", 64), "SEAL_KEYS_OLD="+sealKey+","+strings.Repeat("ff", 32)),
			names:   []string{"SEAL_KEY", "SEAL_KEYS_OLD"},
			secrets: []string{strings.Repeat("0", 64), strings.Repeat("ff", 32), sealKey},
		},
		{
			name:  "-demo on Fly.io",
			args:  []string{"-demo"},
			env:   []string{"FLY_APP_NAME=handoff"},
			names: []string{"FLY_APP_NAME"},
			says:  []string{"-demo"},
		},
		{
			name:  "PROVIDER_CONCURRENCY=0",
			env:   append(validEnv("https://p.example", "https://h.example/redirect"), "PROVIDER_CONCURRENCY=0"),
			names: []string{"PROVIDER_CONCURRENCY"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.runOnce(t, t.TempDir(), c.env, c.args...)
			if r.code != 2 {
				t.Fatalf("exit status %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			for _, name := range c.names {
				if !regexp.MustCompile(`(?m)^\s*` + name + `:`).MatchString(r.stderr) {
					t.Errorf("stderr does not name %s:\n%s", name, r.stderr)
				}
			}
			for _, s := range c.says {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr does not say %q:\n%s", s, r.stderr)
				}
			}
			for _, s := range c.secrets {
				if strings.Contains(r.stderr, s) || strings.Contains(r.stdout, s) {
					t.Errorf("the output shows %q:\n%s%s", s, r.stdout, r.stderr)
				}
			}
			if strings.Contains(r.stderr+r.stdout, "VALUE") {
				t.Errorf("the output shows a value:\n%s%s", r.stdout, r.stderr)
			}
		})
	}
}

func (h harness) badDotenv(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ".dev.vars"), "CLIENT_ID=x\nCLIENT_SECRET=\"dotenv-secret-VALUE\n")
	r := h.runOnce(t, dir, nil)
	if r.code != 2 {
		t.Fatalf("exit status %d, want 2\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, ".dev.vars") || strings.Contains(r.stderr, "VALUE") {
		t.Errorf("stderr should name the file and hide the value:\n%s", r.stderr)
	}
}

func (h harness) providers(t *testing.T) {
	r := h.runOnce(t, t.TempDir(), nil, "-providers")
	if r.code != 0 {
		t.Fatalf("exit status %d\n%s", r.code, r.stderr)
	}
	// One block per preset: its name, then indented lines.
	blocks := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n\n")
	names := flow.PresetNames()
	if len(blocks) != len(names) {
		t.Fatalf("%d blocks for %d presets:\n%s", len(blocks), len(names), r.stdout)
	}
	for i, name := range names {
		p, _ := flow.LookupPreset(name)
		b := blocks[i]
		if !strings.HasPrefix(b, name+" ("+p.Name+")\n") || !strings.Contains(b, p.AuthorizeEndpoint) || !strings.Contains(b, p.TokenEndpoint) {
			t.Errorf("block %d:\n%s\nwant preset %s with its URLs", i, b, name)
		}
		for _, v := range p.Vars {
			if !strings.Contains(b, "per login  "+v.Name) {
				t.Errorf("%s's block does not name its variable %s:\n%s", name, v.Name, b)
			}
		}
		if p.LocalRedirect != "" && !strings.Contains(b, p.LocalRedirect) {
			t.Errorf("%s's block lacks its local redirect note:\n%s", name, b)
		}
		if strings.Contains(p.TokenEndpoint, "{tenant}") && !strings.Contains(b, "TENANT") {
			t.Errorf("%s's block does not say TENANT:\n%s", name, b)
		}
	}
}

// process is a running handoff.
type process struct {
	*testkit.Proc
	base    string // scheme://localhost:PORT, as handoff names itself
	stopped bool
}

// start runs handoff in dir with exactly env (plus PATH, HOME and PORT=0:
// the system picks the port and testkit reads it from the log, so no other
// process can take it first), waits for /healthz through client, and at the
// end checks that SIGTERM stops it with exit status 0. A REDIRECT_URI in env
// need not name the port: its path is the route, and these tests visit the
// route themselves.
func (h harness) start(t *testing.T, dir string, env []string, client *http.Client, args ...string) *process {
	t.Helper()
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	proc := testkit.Start(t, testkit.Options{Vars: vars, Args: args, Dir: dir, Client: client})
	scheme, _, _ := strings.Cut(proc.URL, ":")
	p := &process{Proc: proc, base: fmt.Sprintf("%s://localhost:%d", scheme, proc.Port)}
	t.Cleanup(func() { p.stop(t) }) // before testkit's own cleanup
	resp, body := get(t, client, p.base+"/healthz")
	if resp.StatusCode != 200 || body != `{"status":"ok"}` {
		t.Fatalf("/healthz: %d %s", resp.StatusCode, body)
	}
	return p
}

func (p *process) stop(t *testing.T) {
	t.Helper()
	if p.stopped {
		return
	}
	p.stopped = true
	if p.Exited() {
		t.Errorf("handoff had already exited: %v\n%s", p.Cmd.ProcessState, p.Out)
		return
	}
	p.Signal(syscall.SIGTERM)
	if !p.Wait(20 * time.Second) {
		p.Kill()
		t.Errorf("still running 20 s after SIGTERM")
		return
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("after SIGTERM: exit status %d, want 0\n%s", code, p.Out)
	}
}

func (h harness) demo(t *testing.T) {
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	// Nothing but PORT (the test cannot count on 8787 being free).
	empty := h.start(t, t.TempDir(), nil, client, "-demo")
	if resp, err := client.Get(empty.base + "/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET / in demo mode: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	empty.stop(t)

	// Variables given still apply; the log at debug level shows no secret.
	const secret = "demo-run-secret-VALUE"
	p := h.start(t, t.TempDir(), []string{"LOG_LEVEL=debug", "CLIENT_SECRET=" + secret}, client, "-demo")

	if resp, body := send(t, client, "GET", p.base+"/", nil, ""); resp.StatusCode != 200 || !strings.Contains(body, "DEMO MODE") {
		t.Errorf("GET /: %d, want the demo page", resp.StatusCode)
	}
	// The whole flow through the built-in mock provider and its consent
	// page, as the plugin and the user's browser go through it.
	secrets := &testkit.Secrets{}
	plugin := &testkit.Plugin{Base: p.base, Client: client, Secrets: secrets}
	l, err := plugin.Authorize()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(l.URL, p.base+"/mock/authorize?") {
		t.Fatalf("login URL %s", l.URL)
	}
	back, err := plugin.Consent(l, true)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := plugin.Visit(back); err != nil || r.Status != 200 || r.Outcome() != "authenticated" {
		t.Fatalf("redirect: %v %v", r, err)
	}
	r, err := plugin.Poll(l.ReadKey)
	var tokens struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err != nil || r.Status != 200 || json.Unmarshal(r.Body, &tokens) != nil || tokens.RefreshToken == "" {
		t.Fatalf("poll: %v %v", r, err)
	}
	if r, err := plugin.Refresh(tokens.RefreshToken); err != nil || r.Status != 200 {
		t.Fatalf("refresh: %v %v", r, err)
	}

	p.stop(t)
	out := p.Out.String()
	if !strings.Contains(out, "DEMO MODE") {
		t.Errorf("the log does not say loudly that demo mode is on:\n%s", out)
	}
	secrets.Add(secret)
	if leaked := secrets.Leaks(out); len(leaked) > 0 {
		t.Errorf("the debug log contains %d secrets, among them %q", len(leaked), leaked[0])
	}
	if n := len(secrets.All()); n < 6 { // the secret, read key, state, code, two access tokens, a refresh token
		t.Errorf("only %d secrets collected", n)
	}
	if !strings.Contains(out, "level=DEBUG") && !strings.Contains(out, "level=INFO") {
		t.Errorf("no log lines:\n%s", out)
	}
}

// dotenvFile: a worker user's .dev.vars in the working directory is enough.
func (h harness) dotenvFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ".dev.vars"), "CLIENT_ID=XXXXX\nCLIENT_SECRET=XXXX\n\n# comment\nPLUGIN_ID = \"\"\n"+
		"REDIRECT_URI=https://localhost:8787/redirect\nAUTHORIZE_ENDPOINT=https://accounts.google.com/o/oauth2/v2/auth\n"+
		"TOKEN_ENDPOINT=https://oauth2.googleapis.com/token\nSCOPE=https://www.googleapis.com/auth/userinfo.profile\n")
	client := &http.Client{Timeout: 5 * time.Second}
	// Its placeholder CLIENT_SECRET cannot be the seal key's source.
	p := h.start(t, dir, []string{"SEAL_KEY=" + sealKey}, client)
	login := startLogin(t, client, p.base)
	if !strings.HasPrefix(login.URL, "https://accounts.google.com/o/oauth2/v2/auth?") || !strings.Contains(login.URL, "client_id=XXXXX") {
		t.Errorf("authorize URL %q does not come from .dev.vars", login.URL)
	}
	// The log says where the variables came from (in -demo, a .dev.vars
	// silently replacing the mock provider would otherwise surprise).
	if out := p.Out.String(); !strings.Contains(out, ".dev.vars") || strings.Contains(out, "XXXX\n") {
		t.Errorf("the log does not say .dev.vars was read:\n%s", out)
	}
}

func (h harness) tlsFiles(t *testing.T) {
	dir := t.TempDir()
	pool := testkit.WriteCert(t, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	p := h.start(t, dir, []string{"TLS_CERT_FILE=cert.pem", "TLS_KEY_FILE=" + filepath.Join(dir, "key.pem")}, client, "-demo")
	if !strings.HasPrefix(p.base, "https:") {
		t.Fatalf("handoff says it serves %s, want https", p.base)
	}
	// Plain HTTP on the same port is not served.
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(strings.Replace(p.base, "https:", "http:", 1) + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP served on the TLS port")
		}
	}
}

func (h harness) mkcert(t *testing.T) {
	dir := t.TempDir()
	pool := testkit.WriteCert(t, filepath.Join(dir, "localhost.pem"), filepath.Join(dir, "localhost-key.pem"))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	p := h.start(t, dir, nil, client, "-demo")
	// The demo's mock provider is then on https too.
	login := startLogin(t, client, p.base)
	if !strings.HasPrefix(login.URL, p.base+"/mock/authorize?") ||
		!strings.Contains(login.URL, url.QueryEscape(p.base+"/redirect")) {
		t.Errorf("login URL %s: want the mock and the redirect on https", login.URL)
	}
	if out := p.Out.String(); !strings.Contains(out, "mkcert") {
		t.Errorf("the log does not say mkcert's files are used:\n%s", out)
	}
}

// gracefulShutdown: a token exchange in flight when SIGTERM arrives still
// completes, and handoff then exits 0 (SECURITY.md, property 6). The order
// is made, not hoped for: the provider holds the exchange until handoff has
// logged the signal, and only then answers.
func (h harness) gracefulShutdown(t *testing.T) {
	exchanging, release := make(chan struct{}, 1), make(chan struct{})
	prov := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		exchanging <- struct{}{}
		select {
		case <-release:
		case <-time.After(30 * time.Second): // the test failed; let the server close
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"at","token_type":"bearer","expires_in":3600}`)
	}))
	defer prov.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	client := &http.Client{Timeout: 30 * time.Second}
	p := h.start(t, t.TempDir(), append(validEnv(prov.URL, "http://localhost/redirect"),
		"SHUTDOWN_GRACE=20s", "PROVIDER_TIMEOUT=25s"), client)
	l := startLogin(t, client, p.base)

	type answer struct {
		status int
		body   string
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := client.Get(p.base + "/redirect?code=c&state=" + url.QueryEscape(l.State))
		if err != nil {
			answered <- answer{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- answer{resp.StatusCode, string(b), nil}
	}()
	select {
	case <-exchanging:
	case <-time.After(20 * time.Second):
		t.Fatal("the exchange never reached the provider")
	}
	// The exchange is held at the provider: the signal arrives during it.
	p.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.Out.String(), "shutting down") {
		if time.Now().After(deadline) {
			t.Fatalf("handoff never logged the signal:\n%s", p.Out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case a := <-answered:
		t.Fatalf("the redirect was answered before the provider was (%d %v): the signal did not arrive mid-exchange", a.status, a.err)
	default:
	}
	close(release)
	a := <-answered
	if a.err != nil || a.status != 200 || !strings.Contains(a.body, `data-outcome="authenticated"`) {
		t.Errorf("the request in flight got %d %v; want 200 and the authenticated page", a.status, a.err)
	}
	if !p.Wait(20 * time.Second) {
		t.Fatalf("still running 20 s after SIGTERM:\n%s", p.Out)
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 || strings.Contains(p.Out.String(), "grace ran out") {
		t.Errorf("exit status %d after SIGTERM, want 0 with the grace not used up:\n%s", code, p.Out)
	}
	p.stopped = true
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
