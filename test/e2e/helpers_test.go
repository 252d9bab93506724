//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"handoff/internal/testkit"
)

//go:embed testdata/plugin.html
var pluginHTML []byte

// Timeouts. Every wait is bounded; the whole run stays far under 5 minutes.
const (
	startTimeout   = 20 * time.Second // a child process until it is ready
	journeyTimeout = 90 * time.Second // one test: browser, pages, polls
	stepTimeout    = 20 * time.Second // one wait for a page or a DOM state
)

// Client credentials registered in test/e2e/provider/server.js (its defaults). The
// secrets carry characters that form-encoding for HTTP Basic must escape.
const (
	basicClientID     = "handoff-basic"
	basicClientSecret = "basic-secret-with+plus/slash=and:colon"
	postClientID      = "handoff-post"
	postClientSecret  = "post-secret-with+plus/slash=and:colon"
)

var (
	repoRoot = func() string {
		_, file, _, _ := runtime.Caller(0)
		return filepath.Dir(filepath.Dir(filepath.Dir(file)))
	}()
	e2eDir = filepath.Join(repoRoot, "test", "e2e")

	// buildTime is how long the first caller waited for testkit.Binary:
	// the shared build, which each journey's line reports apart.
	buildTimeOnce sync.Once
	buildTime     time.Duration
)

func TestMain(m *testing.M) { os.Exit(testkit.Run(m)) }

// handoffBinary builds handoff from the repository root once per run (or uses
// HANDOFF_BIN).
func handoffBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HANDOFF_BIN"); p != "" {
		return p
	}
	start := time.Now()
	bin := testkit.Binary(t)
	buildTimeOnce.Do(func() { buildTime = time.Since(start) })
	return bin
}

// child is a process that the test started and stops in its cleanup.
type child struct {
	name   string
	cmd    *exec.Cmd
	out    *testkit.Buffer
	done   chan struct{}
	err    error // set when done is closed
	grace  time.Duration
	stopMu sync.Once
}

func startChild(t *testing.T, name string, cmd *exec.Cmd, grace time.Duration) *child {
	t.Helper()
	c := &child{name: name, cmd: cmd, out: &testkit.Buffer{}, done: make(chan struct{}), grace: grace}
	if cmd.Stdout == nil {
		cmd.Stdout = c.out
	}
	cmd.Stderr = c.out
	// Its own process group, so that nothing it starts outlives the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.stop(t)
		if t.Failed() || os.Getenv("E2E_VERBOSE") == "1" {
			t.Logf("---- %s output ----\n%s---- end of %s output ----", name, c.out.String(), name)
		}
	})
	return c
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits for the grace period, then kills the group.
func (c *child) stop(t *testing.T) {
	c.stopMu.Do(func() {
		if c.exited() {
			t.Logf("%s had already exited: %v", c.name, c.err)
			return
		}
		pid := c.cmd.Process.Pid
		start := time.Now()
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-c.done:
			t.Logf("%s stopped on SIGTERM in %v (%v)", c.name, time.Since(start).Round(time.Millisecond), exitText(c.err))
		case <-time.After(c.grace):
			t.Logf("%s still running %v after SIGTERM: killing it", c.name, c.grace)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-c.done
		}
		// Anything left in its process group.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	})
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// ---------------------------------------------------------------------------
// The authorization server: oidc-provider in test/e2e/provider.

type oidcProvider struct {
	*child
	Issuer    string
	Port      int
	Discovery struct {
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
		UserinfoEndpoint      string `json:"userinfo_endpoint"`
		RevocationEndpoint    string `json:"revocation_endpoint"`
		Issuer                string `json:"issuer"`
	}
}

// tokenRequest is what the provider recorded of one request to its token
// endpoint (no secrets, codes or tokens).
type tokenRequest struct {
	Method          string `json:"method"`
	Query           bool   `json:"query"`
	ContentType     string `json:"content_type"`
	Accept          string `json:"accept"`
	GrantType       string `json:"grant_type"`
	ClientID        string `json:"client_id"`
	Auth            string `json:"auth"`
	SecretInBody    bool   `json:"secret_in_body"`
	HasCode         bool   `json:"has_code"`
	HasCodeVerifier bool   `json:"has_code_verifier"`
	HasRefreshToken bool   `json:"has_refresh_token"`
	RedirectURI     string `json:"redirect_uri"`
	Status          int    `json:"status"`
	Rejected        string `json:"rejected"`
}

func startProvider(t *testing.T, redirectURIs ...string) *oidcProvider {
	t.Helper()
	dir := filepath.Join(e2eDir, "provider")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		t.Fatalf("test/e2e/provider/node_modules is missing: run .ci/e2e-setup.sh (or `npm ci` in test/e2e/provider) first (%v)", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed to run the oidc-provider test server: %v", err)
	}
	port := testkit.FreePort(t)
	cmd := exec.Command(node, "server.js", strconv.Itoa(port))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REDIRECT_URIS="+strings.Join(redirectURIs, ","), "NODE_ENV=development")
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	p := &oidcProvider{Port: port}
	p.child = startChild(t, "oidc-provider", cmd, 5*time.Second)
	go func() { <-p.child.done; pw.Close() }()

	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			p.child.out.Write([]byte(line + "\n"))
			if !sent && strings.HasPrefix(line, "READY ") {
				ready <- strings.TrimPrefix(line, "READY ")
				sent = true
			}
		}
		if !sent {
			close(ready)
		}
	}()
	select {
	case line, ok := <-ready:
		if !ok {
			t.Fatalf("oidc-provider exited before it was ready: %v\n%s", p.child.err, p.child.out.String())
		}
		var r struct {
			Issuer string `json:"issuer"`
			Port   int    `json:"port"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("oidc-provider ready line %q: %v", line, err)
		}
		p.Issuer = r.Issuer
	case <-time.After(startTimeout):
		t.Fatalf("oidc-provider not ready after %v:\n%s", startTimeout, p.child.out.String())
	}

	body, status := httpGet(t, http.DefaultClient, p.Issuer+"/.well-known/openid-configuration")
	if status != 200 {
		t.Fatalf("provider discovery: %d %s", status, body)
	}
	if err := json.Unmarshal([]byte(body), &p.Discovery); err != nil {
		t.Fatalf("provider discovery: %v", err)
	}
	if p.Discovery.Issuer != p.Issuer || p.Discovery.TokenEndpoint == "" || p.Discovery.AuthorizationEndpoint == "" {
		t.Fatalf("provider discovery incomplete: %s", body)
	}
	return p
}

// TokenRequests returns what the provider's token endpoint received.
func (p *oidcProvider) TokenRequests(t *testing.T) []tokenRequest {
	t.Helper()
	body, status := httpGet(t, http.DefaultClient, p.Issuer+"/_test/token-requests")
	if status != 200 {
		t.Fatalf("provider token requests: %d %s", status, body)
	}
	var reqs []tokenRequest
	if err := json.Unmarshal([]byte(body), &reqs); err != nil {
		t.Fatalf("provider token requests: %v", err)
	}
	return reqs
}

// Userinfo calls the provider's userinfo endpoint with an access token.
func (p *oidcProvider) Userinfo(t *testing.T, accessToken string) (map[string]any, int) {
	t.Helper()
	req, _ := http.NewRequest("GET", p.Discovery.UserinfoEndpoint, nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	res, err := httpClient(nil).Do(req)
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m, res.StatusCode
}

// ---------------------------------------------------------------------------
// handoff itself, as a child process.

type handoffServer struct {
	*child
	Base   string // scheme://localhost:port
	Port   int
	client *http.Client
}

// handoffEnv is the configuration of docs/protocol.md#configuration for a client of the provider.
func handoffEnv(p *oidcProvider, port int, style string) map[string]string {
	id, secret := basicClientID, basicClientSecret
	if style == "post" {
		id, secret = postClientID, postClientSecret
	}
	return map[string]string{
		"CLIENT_ID":          id,
		"CLIENT_SECRET":      secret,
		"REDIRECT_URI":       fmt.Sprintf("http://localhost:%d/redirect", port),
		"AUTHORIZE_ENDPOINT": p.Discovery.AuthorizationEndpoint,
		"TOKEN_ENDPOINT":     p.Discovery.TokenEndpoint,
		"SCOPE":              "openid offline_access profile",
		"AUTHORIZE_PARAMS":   "prompt=consent",
		"TOKEN_AUTH_STYLE":   style,
		"PORT":               strconv.Itoa(port),
		"PLUGIN_ID":          "e2etestplugin",
		"LOG_LEVEL":          "debug",
		"SHUTDOWN_GRACE":     "3s",
	}
}

// startHandoff runs the handoff binary with exactly env (plus PATH and HOME),
// in an empty working directory so that no .env or localhost.pem of the
// repository is picked up, and waits for GET /healthz.
func startHandoff(t *testing.T, env map[string]string, tlsCert *x509.Certificate, args ...string) *handoffServer {
	t.Helper()
	bin := handoffBinary(t)
	port, err := strconv.Atoi(env["PORT"])
	if err != nil {
		t.Fatalf("handoff env needs PORT: %v", err)
	}
	cmd := testkit.Command(t, bin, env, args...)
	cmd.Env = append(cmd.Env, "TMPDIR="+os.TempDir())
	scheme := "http"
	if tlsCert != nil {
		scheme = "https"
	}
	h := &handoffServer{
		Base:   fmt.Sprintf("%s://localhost:%d", scheme, port),
		Port:   port,
		client: httpClient(tlsCert),
	}
	start := time.Now()
	h.child = startChild(t, "handoff", cmd, 8*time.Second)
	deadline := time.Now().Add(startTimeout)
	for {
		if h.child.exited() {
			t.Fatalf("handoff exited during start-up (%v):\n%s", exitText(h.child.err), h.child.out.String())
		}
		res, err := h.client.Get(h.Base + "/healthz")
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == 200 {
				t.Logf("handoff healthy at %s after %v (%s)", h.Base, time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(b)))
				return h
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("handoff not healthy at %s/healthz after %v (last error %v):\n%s", h.Base, startTimeout, err, h.child.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Log is what handoff wrote to stdout and stderr so far.
func (h *handoffServer) Log() string { return h.child.out.String() }

func httpClient(cert *x509.Certificate) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cert != nil {
		pool := x509.NewCertPool()
		pool.AddCert(cert)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func httpGet(t *testing.T, c *http.Client, u string) (string, int) {
	t.Helper()
	if c == http.DefaultClient {
		c = httpClient(nil)
	}
	res, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return string(b), res.StatusCode
}

// ---------------------------------------------------------------------------
// The test plugin page, on its own origin.

type pluginSite struct {
	URL string // scheme://127.0.0.1:port
	srv *http.Server
}

// startPluginSite serves testdata/plugin.html at /plugin.html (HTTPS when
// cert is given).
func startPluginSite(t *testing.T, cert *tls.Certificate) *pluginSite {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/plugin.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(pluginHTML)
	})
	mux.HandleFunc("/favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("plugin site: %v", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	scheme := "http"
	if cert != nil {
		scheme = "https"
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
		l = tls.NewListener(l, srv.TLSConfig)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return &pluginSite{URL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, l.Addr().(*net.TCPAddr).Port), srv: srv}
}

// PageURL is the plugin page that talks to handoff at base, from the origin
// host (127.0.0.1 when empty).
func (s *pluginSite) PageURL(host, base string) string {
	u, _ := url.Parse(s.URL)
	if host != "" {
		u.Host = net.JoinHostPort(host, u.Port())
	}
	u.Path = "/plugin.html"
	u.RawQuery = url.Values{"base": {base}}.Encode()
	return u.String()
}

// Port of the plugin site.
func (s *pluginSite) Port() string {
	u, _ := url.Parse(s.URL)
	return u.Port()
}

// pluginState mirrors window.plugin of testdata/plugin.html.
type pluginState struct {
	Base               string            `json:"base"`
	Status             string            `json:"status"`
	ReadKey            string            `json:"readKey"`
	AuthorizeURL       string            `json:"authorizeUrl"`
	AuthorizeStatus    int               `json:"authorizeStatus"`
	Polls              []pollRecord      `json:"polls"`
	PollOutcome        *pollRecord       `json:"pollOutcome"`
	Tokens             map[string]any    `json:"tokens"`
	TokensRaw          string            `json:"tokensRaw"`
	TokensCacheControl string            `json:"tokensCacheControl"`
	Refresh            *fetchResult      `json:"refresh"`
	PopupOpened        bool              `json:"popupOpened"`
	Error              string            `json:"error"`
	Log                []string          `json:"log"`
	Extra              map[string]string `json:"-"`
}

type pollRecord struct {
	Status           int    `json:"status"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

type fetchResult struct {
	Status       int            `json:"status"`
	Text         string         `json:"text"`
	JSON         map[string]any `json:"json"`
	CacheControl string         `json:"cacheControl"`
	Error        string         `json:"error"`
}

// ---------------------------------------------------------------------------
// The browser.

type browser struct {
	t      *testing.T
	ctx    context.Context // the first tab
	cancel context.CancelFunc
	tabs   []*tab
	mu     sync.Mutex
}

// tab records what a page did: console messages, documents and their statuses.
type tab struct {
	name string
	ctx  context.Context
	mu   sync.Mutex
	// console and browser-log messages, "type: text (url)"
	console []string
	// main-frame document responses, in order
	docs []docResponse
}

type docResponse struct {
	URL     string
	Status  int64
	Headers map[string]string // lower-case names
}

func (tb *tab) addConsole(s string) {
	tb.mu.Lock()
	tb.console = append(tb.console, s)
	tb.mu.Unlock()
}

func (tb *tab) Console() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.console...)
}

func (tb *tab) Docs() []docResponse {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]docResponse(nil), tb.docs...)
}

// DocStatus is the status of the last main-frame document whose URL starts
// with prefix, or 0.
func (tb *tab) DocStatus(prefix string) int64 {
	docs := tb.Docs()
	for i := len(docs) - 1; i >= 0; i-- {
		if strings.HasPrefix(docs[i].URL, prefix) {
			return docs[i].Status
		}
	}
	return 0
}

func (tb *tab) listener(ev any) {
	switch ev := ev.(type) {
	case *network.EventResponseReceived:
		if ev.Type == network.ResourceTypeDocument && ev.Response != nil {
			tb.mu.Lock()
			h := map[string]string{}
			for k, v := range ev.Response.Headers {
				h[strings.ToLower(k)] = fmt.Sprint(v)
			}
			tb.docs = append(tb.docs, docResponse{URL: ev.Response.URL, Status: ev.Response.Status, Headers: h})
			tb.mu.Unlock()
		}
	case *cdplog.EventEntryAdded:
		if e := ev.Entry; e != nil {
			tb.addConsole(fmt.Sprintf("log.%s [%s]: %s (%s)", e.Level, e.Source, e.Text, e.URL))
		}
	case *cdpruntime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			if a == nil {
				continue
			}
			var s string
			if len(a.Value) > 0 && json.Unmarshal(a.Value, &s) == nil {
				parts = append(parts, s)
			} else if len(a.Value) > 0 {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		tb.addConsole(fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " ")))
	case *cdpruntime.EventExceptionThrown:
		if d := ev.ExceptionDetails; d != nil {
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			tb.addConsole(fmt.Sprintf("exception: %s (%s)", desc, d.URL))
		}
	}
}

// cspWatch reports securitypolicyviolation events on the console, where the
// tab's listener records them; it runs in every document of the tab.
const cspWatch = `(() => {
  document.addEventListener("securitypolicyviolation", (e) => {
    console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " in " + e.documentURI);
  });
})();`

func chromiumPath(t *testing.T) string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatalf("chromium not found: run .ci/e2e-setup.sh (apt-get install -y chromium) or set CHROMIUM")
	return ""
}

// newBrowser starts headless Chromium with a fresh profile. hostRules maps
// extra host names to loopback (--host-resolver-rules); spki trusts one
// certificate key (--ignore-certificate-errors-spki-list).
func newBrowser(t *testing.T, ctx context.Context, hostRules []string, spki string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("headless", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-popup-blocking", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(1000, 800),
		chromedp.UserDataDir(t.TempDir()),
	}
	if len(hostRules) > 0 {
		opts = append(opts, chromedp.Flag("host-resolver-rules", strings.Join(hostRules, ", ")))
	}
	if spki != "" {
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", spki))
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	b := &browser{t: t}
	first := &tab{name: "plugin"}
	tctx, tcancel := chromedp.NewContext(actx, chromedp.WithListener(first.listener),
		chromedp.WithLogf(func(string, ...any) {}), chromedp.WithErrorf(func(f string, a ...any) {
			// chromedp reports unhandled protocol noise here; keep it out of
			// the output unless the test fails.
			first.addConsole("chromedp: " + fmt.Sprintf(f, a...))
		}))
	first.ctx = tctx
	b.ctx = tctx
	b.cancel = func() { tcancel(); acancel() }
	b.tabs = append(b.tabs, first)
	if err := chromedp.Do(tctx); err != nil {
		b.cancel()
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(tctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch}); err != nil {
		t.Fatalf("install CSP watch: %v", err)
	}
	t.Cleanup(func() {
		writeConsoleArtifact(t, b.allTabs())
		if t.Failed() {
			for _, tb := range b.allTabs() {
				t.Logf("---- console of tab %q ----\n%s", tb.name, redactText(strings.Join(tb.Console(), "\n")))
				for _, d := range tb.Docs() {
					t.Logf("tab %q document %d %s", tb.name, d.Status, redactURL(d.URL))
				}
			}
		}
		b.cancel()
	})
	return b
}

func (b *browser) allTabs() []*tab {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*tab(nil), b.tabs...)
}

// Plugin is the first tab, where the plugin page runs.
func (b *browser) Plugin() *tab { return b.tabs[0] }

// clickAndCatchPopup clicks sel in tb and attaches to the window it opens.
func (b *browser) clickAndCatchPopup(tb *tab, sel string) (*tab, error) {
	ch := chromedp.WaitNewTarget(tb.ctx, func(info *target.Info) bool { return info.Type == "page" })
	if err := chromedp.Do(tb.ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		return nil, fmt.Errorf("click %s: %w", sel, err)
	}
	var id target.ID
	select {
	case v, ok := <-ch:
		if !ok {
			return nil, errors.New("no popup: the target was lost")
		}
		id = v
	case <-time.After(stepTimeout):
		return nil, fmt.Errorf("no popup opened within %v of clicking %s", stepTimeout, sel)
	}
	pop := &tab{name: "popup"}
	pctx, _ := chromedp.NewContext(b.ctx, chromedp.WithTargetID(id), chromedp.WithListener(pop.listener))
	pop.ctx = pctx
	if err := chromedp.Do(pctx); err != nil {
		return nil, fmt.Errorf("attach to popup: %w", err)
	}
	if _, err := chromedp.Call(pctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch}); err != nil {
		return nil, fmt.Errorf("install CSP watch in popup: %w", err)
	}
	b.mu.Lock()
	pop.name = fmt.Sprintf("popup%d", len(b.tabs))
	b.tabs = append(b.tabs, pop)
	b.mu.Unlock()
	return pop, nil
}

// waitJS evaluates a boolean expression in the tab until it is true. It
// survives navigations (an evaluation that fails is retried).
func waitJS(tb *tab, expr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 3*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("(() => { try { return !!("+expr+"); } catch (e) { return false; } })()"))
		cancel()
		if err == nil && ok {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		if tb.ctx.Err() != nil {
			return fmt.Errorf("waiting for %s: %w", expr, tb.ctx.Err())
		}
		if time.Now().After(deadline) {
			loc, text := tb.snapshot()
			return fmt.Errorf("waiting %v for %s: not true (last error %v); page %s says: %q", timeout, expr, lastErr, redactURL(loc), text)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// snapshot returns the location and the start of the page's text.
func (tb *tab) snapshot() (string, string) {
	ctx, cancel := context.WithTimeout(tb.ctx, 3*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 600) : ""`))
	return loc, text
}

// bodyText is the page's visible text with typographic apostrophes made plain.
func (tb *tab) bodyText() string {
	_, text := tb.snapshotFull()
	return text
}

func (tb *tab) snapshotFull() (string, string) {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.replace(/[\u2018\u2019]/g, "'") : ""`))
	return loc, text
}

// waitText waits until the page's text contains want (case-insensitive,
// typographic apostrophes made plain).
func waitText(tb *tab, want string, timeout time.Duration) error {
	b, _ := json.Marshal(strings.ToLower(want))
	return waitJS(tb, `document.body && document.body.innerText.replace(/[\u2018\u2019]/g, "'").toLowerCase().includes(`+string(b)+`)`, timeout)
}

// waitFor polls cond every 100 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// pluginStatus waits until #status of the plugin page matches re, and
// returns the plugin's state.
func pluginWait(t *testing.T, tb *tab, re string, timeout time.Duration) (*pluginState, error) {
	t.Helper()
	b, _ := json.Marshal(re)
	err := waitJS(tb, `new RegExp(`+string(b)+`).test(window.plugin && window.plugin.status)`, timeout)
	st := readPlugin(t, tb)
	if err != nil {
		return st, fmt.Errorf("plugin status %q never matched %s: %w", st.Status, re, err)
	}
	return st, nil
}

func readPlugin(t *testing.T, tb *tab) *pluginState {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.plugin || {})`))
	st := &pluginState{}
	if err != nil {
		st.Error = "cannot read window.plugin: " + err.Error()
		return st
	}
	if err := json.Unmarshal([]byte(raw), st); err != nil {
		st.Error = "cannot decode window.plugin: " + err.Error()
	}
	return st
}

// evalAsync runs an async expression in the plugin page and decodes its JSON.
func evalAsync[T any](tb *tab, expr string) (T, error) {
	var zero T
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => JSON.stringify(await (`+expr+`)))()`, chromedp.EvalAwaitPromise))
	if err != nil {
		return zero, err
	}
	var v T
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return zero, fmt.Errorf("decode %s: %w", raw, err)
	}
	return v, nil
}

// click clicks the first element that matches a CSS selector.
func click(tb *tab, sel string) error {
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	return chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// fill sets the value of an input.
func fill(tb *tab, sel, value string) error {
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	return chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(sel), value, chromedp.NodeVisible))
}

// ---------------------------------------------------------------------------
// oidc-provider's development login and consent pages.

// providerLogin fills the dev login form in the popup.
func providerLogin(tb *tab, user string) error {
	if err := waitJS(tb, `document.querySelector('input[name="login"]') && document.querySelector('input[name="password"]')`, stepTimeout); err != nil {
		return fmt.Errorf("provider login page: %w", err)
	}
	if err := fill(tb, `input[name="login"]`, user); err != nil {
		return err
	}
	if err := fill(tb, `input[name="password"]`, "any-password"); err != nil {
		return err
	}
	return click(tb, `button[type="submit"]`)
}

// providerConsentPage waits for the consent page.
func providerConsentPage(tb *tab) error {
	if err := waitJS(tb, `document.querySelector('input[name="prompt"][value="consent"]')`, stepTimeout); err != nil {
		return fmt.Errorf("provider consent page: %w", err)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Artifacts.

var artifactsDir = filepath.Join(e2eDir, "artifacts")

// screenshotDark is screenshot with the page in the dark colour scheme
// (prefers-color-scheme: dark), which it then turns off again.
func screenshotDark(t *testing.T, b *browser, tb *tab, name string) {
	t.Helper()
	set := func(scheme string) error {
		ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
		defer cancel()
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	}
	if err := set("dark"); err != nil {
		t.Errorf("dark scheme for %s: %v", name, err)
		return
	}
	defer set("")
	screenshot(t, b, tb, name)
}

// screenshot saves a PNG of the tab to test/e2e/artifacts/NAME.png, and, for
// handoff's pages (names not starting with "plugin-"), to docs/screenshots/
// with E2E_UPDATE_SCREENSHOTS=1.
func screenshot(t *testing.T, b *browser, tb *tab, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	// A tab that is not in front gets no frames: bring it forward first.
	if c := chromedp.FromContext(tb.ctx); c != nil && c.Target != nil {
		_, _ = chromedp.CallBrowser(ctx, target.ActivateTarget, target.ActivateTargetParams{TargetID: c.Target.TargetID})
	}
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		t.Errorf("artifacts: %v", err)
		return
	}
	p := filepath.Join(artifactsDir, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Errorf("artifacts: %v", err)
		return
	}
	t.Logf("screenshot %s (%d bytes)", p, len(buf))
	// handoff's own pages become docs; the test plugin's page does not.
	if os.Getenv("E2E_UPDATE_SCREENSHOTS") == "1" && !strings.HasPrefix(name, "plugin-") {
		docs := filepath.Join(repoRoot, "docs", "screenshots")
		if err := os.MkdirAll(docs, 0o755); err == nil {
			if err := os.WriteFile(filepath.Join(docs, name+".png"), buf, 0o644); err != nil {
				t.Errorf("docs screenshot: %v", err)
			}
		}
	}
}

// writeConsoleArtifact saves every tab's console and documents to
// test/e2e/artifacts/TEST.console.txt (codes and tokens in URLs shortened).
func writeConsoleArtifact(t *testing.T, tabs []*tab) {
	var b strings.Builder
	for _, tb := range tabs {
		fmt.Fprintf(&b, "== tab %s\n", tb.name)
		for _, d := range tb.Docs() {
			fmt.Fprintf(&b, "document %d %s\n", d.Status, redactURL(d.URL))
		}
		for _, m := range tb.Console() {
			fmt.Fprintf(&b, "%s\n", redactText(m))
		}
	}
	if err := os.MkdirAll(artifactsDir, 0o755); err == nil {
		name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
		_ = os.WriteFile(filepath.Join(artifactsDir, name+".console.txt"), []byte(b.String()), 0o644)
	}
}

// ---------------------------------------------------------------------------
// Checks.

// assertPageHeaders checks the headers of SECURITY.md property 4 on every main-frame HTML
// document that handoff served in the tab (URL prefix base).
func assertPageHeaders(t *testing.T, tb *tab, base string) {
	t.Helper()
	n := 0
	for _, d := range tb.Docs() {
		if !strings.HasPrefix(d.URL, base) {
			continue
		}
		n++
		h := d.Headers
		where := fmt.Sprintf("%d %s", d.Status, redactURL(d.URL))
		csp := h["content-security-policy"]
		if csp == "" {
			t.Errorf("%s: no Content-Security-Policy", where)
		} else if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "*") {
			t.Errorf("%s: CSP not strict: %s", where, csp)
		}
		for name, want := range map[string]string{
			"referrer-policy":        "no-referrer",
			"x-content-type-options": "nosniff",
			"x-frame-options":        "DENY",
		} {
			if !strings.EqualFold(strings.TrimSpace(h[name]), want) {
				t.Errorf("%s: %s %q, want %q", where, name, h[name], want)
			}
		}
	}
	if n == 0 {
		t.Errorf("no handoff page (%s) seen in tab %q", base, tb.name)
	}
}

var cspRe = regexp.MustCompile(`(?i)content security policy|CSP violation`)

// assertNoCSPViolations fails on any CSP message in the tabs' consoles. The
// provider's pages and the plugin page have no CSP, so any is handoff's.
func assertNoCSPViolations(t *testing.T, tabs ...*tab) {
	t.Helper()
	for _, tb := range tabs {
		for _, m := range tb.Console() {
			if cspRe.MatchString(m) {
				t.Errorf("CSP violation in tab %q: %s", tb.name, m)
			}
		}
	}
}

// assertNotInLog fails when handoff's log holds any of the secrets.
func assertNotInLog(t *testing.T, h *handoffServer, secrets map[string]string) {
	t.Helper()
	logText := h.Log()
	for name, v := range secrets {
		if len(v) < 8 {
			continue
		}
		if strings.Contains(logText, v) {
			t.Errorf("handoff's log contains the %s (SECURITY.md, property 1)", name)
		}
	}
}

var secretParamRe = regexp.MustCompile(`((?:readKey|code|state|refresh_token|access_token|code_challenge)=)([A-Za-z0-9_.~%-]{6})[A-Za-z0-9_.~%-]*`)

// redactText shortens codes, states, read keys and tokens in URLs inside text.
func redactText(s string) string {
	return secretParamRe.ReplaceAllString(s, "${1}${2}…")
}

// redactURL shortens query values so that logs of a failing test carry no
// codes or tokens in full.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.RawQuery == "" {
		return s
	}
	q := u.Query()
	for k, vs := range q {
		for i, v := range vs {
			if len(v) > 12 && k != "redirect_uri" && k != "iss" && k != "error_description" {
				vs[i] = v[:6] + "…"
			}
		}
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// queryParam returns a parameter of a URL's query.
func queryParam(s, name string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Query().Get(name)
}

// journey times one test and logs it in a form the report can collect.
func journey(t *testing.T) func() {
	handoffBinary(t) // the build is shared, and not part of a journey's time
	start := time.Now()
	return func() {
		status := "ok"
		if t.Failed() {
			status = "FAILED"
		}
		t.Logf("JOURNEY %s %s in %v (shared handoff build: %v)", t.Name(), status, time.Since(start).Round(10*time.Millisecond), buildTime.Round(10*time.Millisecond))
	}
}

// ---------------------------------------------------------------------------
// A certificate for local HTTPS.

type testCert struct {
	CertFile, KeyFile string
	Cert              *x509.Certificate
	TLS               tls.Certificate
	SPKI              string // base64 SHA-256 of the public key, for Chromium
}

func makeCert(t *testing.T) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"handoff e2e"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &testCert{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), Cert: cert}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(c.CertFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.KeyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	c.TLS, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	c.SPKI = base64.StdEncoding.EncodeToString(sum[:])
	return c
}

// keep the cdp import used when helpers change.
var _ = cdp.Empty{}
