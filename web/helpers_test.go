package web_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"handoff/crypto"
	"handoff/flow"
	"handoff/internal/metrics"
	"handoff/internal/mockprovider"
	"handoff/internal/testkit"
	"handoff/web"
)

// Credentials of the test provider. The secret carries characters that
// form-encoding must escape, and a marker that the log checks look for.
const (
	testClientID     = "handoff-test-client"
	testClientSecret = "s3cret+with/odd=chars-SECRETMARK"
	testPluginID     = "qjx3k9"
	testPluginOrigin = "https://" + testPluginID + ".plugins.framercdn.com"
	parentDomain     = "plugins.framercdn.com"
)

// provider is the test's authorization server: internal/mockprovider (auto
// approving, strict about client auth, redirect URI and PKCE) behind a
// switch that can make the token endpoint fail in the ways docs/protocol.md lists,
// and that records what the token endpoint received and answered.
type provider struct {
	mock *mockprovider.Provider
	srv  *httptest.Server

	tokenCalls atomic.Int64 // every request to /token, whatever the mode

	mu          sync.Mutex
	mode        string // "", "500", "slow", "garbage", "refuse403", "raw"
	raw         string // the body answered in "raw" mode
	lastAnswer  []byte // the body of the last /token answer
	refreshSeen []string
	verifiers   []string // the PKCE verifiers the token endpoint received
}

func newProvider(t *testing.T, formResponse bool) *provider {
	t.Helper()
	p := &provider{mock: mockprovider.New(mockprovider.Options{
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		AutoApprove:  true,
		RequirePKCE:  true,
		FormResponse: formResponse,
	})}
	p.srv = httptest.NewServer(p)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) setMode(mode, raw string) {
	p.mu.Lock()
	p.mode, p.raw = mode, raw
	p.mu.Unlock()
}

func (p *provider) answer() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.lastAnswer)
}

func (p *provider) verifiersSeen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.verifiers...)
}

func (p *provider) refreshTokensSeen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.refreshSeen...)
}

func (p *provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/token" {
		p.mock.ServeHTTP(w, r)
		return
	}
	p.tokenCalls.Add(1)
	_ = r.ParseForm() // the mock's own ParseForm then keeps this result
	p.mu.Lock()
	mode, raw := p.mode, p.raw
	if r.PostForm.Get("grant_type") == "refresh_token" {
		p.refreshSeen = append(p.refreshSeen, r.PostForm.Get("refresh_token"))
	}
	if v := r.PostForm.Get("code_verifier"); v != "" {
		p.verifiers = append(p.verifiers, v)
	}
	p.mu.Unlock()

	rec := &testkit.ResponseTee{ResponseWriter: w}
	switch {
	case mode == "500":
		http.Error(rec, "internal error", http.StatusInternalServerError)
	case mode == "slow":
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	case mode == "garbage":
		rec.Header().Set("Content-Type", "text/html")
		io.WriteString(rec, "<html>Service temporarily unavailable</html>")
	case mode == "refuse403":
		rec.Header().Set("Content-Type", "application/json")
		rec.WriteHeader(http.StatusForbidden)
		io.WriteString(rec, `{"error":"invalid_grant","error_description":"the refresh token was revoked","hint":"log in again"}`)
	case mode == "raw":
		rec.Header().Set("Content-Type", "application/json")
		io.WriteString(rec, raw)
	case r.PostForm.Get("grant_type") == "refresh_token" && strings.HasPrefix(r.PostForm.Get("refresh_token"), "plus"):
		// A refresh token with '+' and '/', which the mock never issues.
		rec.Header().Set("Content-Type", "application/json")
		io.WriteString(rec, `{"access_token":"at-after-plus","token_type":"bearer","expires_in":3600}`)
	default:
		p.mock.ServeHTTP(rec, r)
	}
	p.mu.Lock()
	p.lastAnswer = rec.Body.Bytes()
	p.mu.Unlock()
}

// server is one handoff web server on a loopback port.
type server struct {
	t      *testing.T
	base   string
	prov   *provider
	broker *flow.Broker
	// client never follows redirects, so each hop can be checked.
	client *http.Client
}

type setup struct {
	// metrics, when set, receives the server's counters.
	metrics      *metrics.Registry
	cors         *web.CORS // nil: the plugin's CORS with testPluginID
	rateLimit    bool
	trustFly     bool
	pollLimit    int
	loginTTL     time.Duration
	timeout      time.Duration
	params       url.Values
	endpointPath string // authorize endpoint path and query on the provider
	logger       *slog.Logger
	sealSecret   string
	demo         bool
	noScope      bool
	formResponse bool // the provider answers form-encoded, as GitHub can
	// pluginName and providerName name the plugin and the provider on the
	// pages (PLUGIN_NAME, the preset's name).
	pluginName, providerName string
	// flow, when set, adjusts the app's flow.Config last (the provider's
	// URL is in its endpoints by then).
	flow       func(*flow.Config)
	apiOrigins []string
	apiSelf    bool // the server's own origin in its API origins
	api        web.APIOptions
	machineID  string
}

// start runs a handoff server for one app on a loopback listener, against
// the provider of the test (or the mock mounted at /mock with demo).
func start(t *testing.T, s setup) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	srv := &server{t: t, base: base, client: noRedirectClient()}

	cfg := flow.Config{
		ClientID:        testClientID,
		ClientSecret:    testClientSecret,
		RedirectURI:     base + "/redirect",
		Scope:           "openid profile",
		AuthorizeParams: s.params,
		PKCE:            true,
		LoginTTL:        orDuration(s.loginTTL, 10*time.Minute),
		TokenTTL:        time.Minute,
		ProviderTimeout: orDuration(s.timeout, 5*time.Second),
		MaxPending:      1000,
		PollLimit:       s.pollLimit,
		Sealer:          sealer(t, or(s.sealSecret, testClientSecret)),
		Logger:          s.logger,
		MachineID:       s.machineID,
	}
	opts := web.Options{
		Logger:           s.logger,
		RateLimit:        s.rateLimit,
		TrustFlyClientIP: s.trustFly,
		API:              s.api,
		Metrics:          s.metrics,
	}
	if s.demo {
		opts.Demo = mockprovider.New(mockprovider.Options{
			ClientID:     testClientID,
			ClientSecret: testClientSecret,
			Prefix:       "/mock",
			RedirectURIs: []string{cfg.RedirectURI},
		})
		opts.DemoPath = "/mock"
		cfg.AuthorizeEndpoint = base + "/mock/authorize"
		cfg.TokenEndpoint = base + "/mock/token"
	} else {
		srv.prov = newProvider(t, s.formResponse)
		cfg.AuthorizeEndpoint = srv.prov.srv.URL + or(s.endpointPath, "/authorize")
		cfg.TokenEndpoint = srv.prov.srv.URL + "/token"
	}
	if s.noScope {
		cfg.Scope = ""
	}
	if s.flow != nil {
		s.flow(&cfg)
	}
	broker, err := flow.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	srv.broker = broker
	cors := web.CORS{PluginID: testPluginID, ParentDomain: parentDomain}
	if s.cors != nil {
		cors = *s.cors
	}
	if s.apiSelf {
		s.apiOrigins = append(s.apiOrigins, base)
	}
	opts.Apps = []web.App{{Broker: broker, RedirectPath: "/redirect", CORS: cors,
		PluginName: s.pluginName, ProviderName: s.providerName, APIOrigins: s.apiOrigins}}
	app := web.New(opts)
	go app.Listener(ln)
	t.Cleanup(func() { app.Shutdown() })
	return srv
}

// startApps runs one handoff server with several apps against one provider
// (docs/protocol.md#several-apps): each of apps, named and with its CORS
// rules, gets its own broker and the redirect route /{name}/redirect. The
// server answers at its root.
func startApps(t *testing.T, apps ...web.App) *server {
	t.Helper()
	prov := newProvider(t, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	for i, a := range apps {
		b, err := flow.New(flow.Config{
			ClientID: testClientID, ClientSecret: testClientSecret,
			RedirectURI:       base + "/" + a.Name + "/redirect",
			AuthorizeEndpoint: prov.srv.URL + "/authorize", TokenEndpoint: prov.srv.URL + "/token",
			PKCE: true, LoginTTL: time.Minute, TokenTTL: time.Minute, ProviderTimeout: 5 * time.Second,
			MaxPending: 100, Sealer: sealer(t, "app "+a.Name),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		apps[i].Broker, apps[i].RedirectPath = b, "/"+a.Name+"/redirect"
	}
	app := web.New(web.Options{Apps: apps})
	go app.Listener(ln)
	t.Cleanup(func() { app.Shutdown() })
	return &server{t: t, base: base, prov: prov, client: noRedirectClient()}
}

// textLogger logs to w from level up, as handoff's LOG_LEVEL does.
func textLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// startLogging is start with the server's log, from level up, kept in the
// returned buffer.
func startLogging(t *testing.T, s setup, level slog.Level) (*server, *testkit.Buffer) {
	t.Helper()
	logs := &testkit.Buffer{}
	s.logger = textLogger(logs, level)
	return start(t, s), logs
}

func sealer(t *testing.T, secret string) *crypto.Sealer {
	t.Helper()
	s, err := crypto.NewSealer(crypto.DeriveKey([]byte(secret), "handoff web test"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func noRedirectClient() *http.Client {
	return &http.Client{
		Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func orDuration(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// do sends one request with testkit.Plugin's Do. target is a path (and raw
// query) on the server, or an absolute URL. Headers come in pairs; a Host
// pair is the request's Host.
func (s *server) do(method, target string, body io.Reader, headers ...string) response {
	s.t.Helper()
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	r, err := s.plugin().Do(method, s.url(target), h, body)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, target, err)
	}
	return response{status: r.Status, header: r.Header, body: r.Body}
}

func (s *server) url(target string) string {
	if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
		return target
	}
	return s.base + target
}

// login is one started login, as testkit.Plugin knows it.
type login = testkit.Login

// plugin is testkit's plugin client on s (the one the black-box suites
// use), with s's client and no Origin, as a test's own requests have.
func (s *server) plugin() *testkit.Plugin {
	return &testkit.Plugin{Base: s.base, Client: s.client}
}

func (s *server) authorize() login {
	s.t.Helper()
	l, err := s.plugin().Authorize()
	if err != nil {
		s.t.Fatal(err)
	}
	return l
}

// consent plays the browser at the provider: it opens the authorize URL and
// returns the redirect back to handoff (with code and state, or error).
func (s *server) consent(l login) string {
	s.t.Helper()
	loc, err := s.plugin().Consent(l, true)
	if err != nil {
		s.t.Fatal(err)
	}
	if !strings.HasPrefix(loc, s.base+"/redirect?") {
		s.t.Fatalf("provider redirected to %q", loc)
	}
	return loc
}

// finish runs a whole login up to tokens waiting for the poll.
func (s *server) finish() login {
	s.t.Helper()
	l := s.authorize()
	r := s.do("GET", s.consent(l), nil)
	if r.status != 200 {
		s.t.Fatalf("redirect: %d %s", r.status, r.body)
	}
	return l
}

// refreshToken runs a whole login with testkit.Plugin (a pending poll, the
// consent, the success page, the tokens, then already_delivered) and
// returns the refresh token it got.
func (s *server) refreshToken(t *testing.T) string {
	t.Helper()
	tokens := s.plugin().Login(t, s.base+"/redirect")
	rt, _ := tokens["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("no refresh token in %v", tokens)
	}
	return rt
}

func (s *server) poll(key string) response {
	s.t.Helper()
	return s.do("POST", "/poll?readKey="+url.QueryEscape(key), nil)
}

// checkError asserts an OAuth-style JSON error: the status, the code, and
// exactly the members error and error_description.
func checkError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != fiber.MIMEApplicationJSON {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	m := r.json(t)
	if len(m) != 2 || m["error"] == nil || m["error_description"] == nil {
		t.Errorf("error body %s: want exactly error and error_description", r.body)
	}
	if m["error"] != code {
		t.Errorf("error %v, want %s", m["error"], code)
	}
	if d, _ := m["error_description"].(string); d == "" {
		t.Errorf("empty error_description in %s", r.body)
	}
}

// checkCORS asserts Vary: Origin and the Access-Control-Allow-Origin value
// (want "" means the header must be absent).
func checkCORS(t *testing.T, r response, want string) {
	t.Helper()
	if !varyHasOrigin(r.header) {
		t.Errorf("Vary %q lacks Origin", r.header.Values("Vary"))
	}
	got, present := r.header.Get("Access-Control-Allow-Origin"), len(r.header.Values("Access-Control-Allow-Origin")) > 0
	if want == "" && present {
		t.Errorf("Access-Control-Allow-Origin %q, want none", got)
	}
	if want != "" && got != want {
		t.Errorf("Access-Control-Allow-Origin %q, want %q", got, want)
	}
}

func varyHasOrigin(h http.Header) bool {
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "Origin") {
				return true
			}
		}
	}
	return false
}
