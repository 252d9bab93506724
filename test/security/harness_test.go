package security

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"handoff/flow"
	"handoff/internal/app"
	"handoff/internal/config"
	"handoff/internal/testkit"
	"handoff/web"
)

// handoff is one server, wired from the environment exactly as main.go wires
// it, serving on a loopback port in this process.
type handoff struct {
	URL      string
	brokers  []*flow.Broker
	logs     *testkit.Buffer
	secrets  *testkit.Secrets
	client   *client
	provider *fakeProvider
}

// startHandoff runs handoff against p with p's credentials, debug logs, rate
// limits off, and env on top (env wins). Each server's log is checked for
// every secret of the test when the test ends.
func startHandoff(t *testing.T, p *fakeProvider, env map[string]string, opts ...func(*web.Options)) *handoff {
	t.Helper()
	owned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	vars := p.env(base, map[string]string{"LOG_LEVEL": "debug", "RATE_LIMIT": "off"}, env)
	for k, v := range vars {
		t.Setenv(k, v)
	}
	cfg, err := config.Load(false)
	if err != nil {
		ln.Close()
		t.Fatalf("config: %v", err)
	}
	h := &handoff{URL: base, logs: &testkit.Buffer{}, secrets: p.secrets, provider: p}
	for _, k := range []string{"SEAL_KEY", "SEAL_KEYS_OLD"} {
		h.secrets.Add(vars[k])
	}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: cfg.LogLevel}))
	server, err := app.Build(cfg, log, opts...)
	if err != nil {
		ln.Close()
		t.Fatalf("build: %v", err)
	}
	h.brokers = server.Brokers
	server.Fiber.Server().MaxIdleWorkerDuration = idleWorkers
	served := make(chan struct{})
	go func() {
		defer close(served)
		server.Fiber.Listener(ln)
	}()
	h.client = newClient(h.secrets)
	t.Cleanup(func() {
		h.client.close()
		if err := server.Fiber.ShutdownWithTimeout(10 * time.Second); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
		server.Close()
		if leaked := h.secrets.Leaks(h.logs.String()); len(leaked) > 0 {
			t.Errorf("the log holds %d secret(s) (e.g. %.12s…):\n%s", len(leaked), leaked[0], h.logs.String())
		}
		h.client.checkPages(t)
	})
	return h
}

// resp is an answer handoff gave.
type resp struct {
	status int
	header http.Header
	body   string
}

func (r resp) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// client talks to handoff like a plugin or a browser would, without
// following redirects, and keeps every body that must carry no secret.
type client struct {
	hc      *http.Client
	secrets *testkit.Secrets

	mu    sync.Mutex
	clean []cleanBody // answers that must not hold any secret
}

func newClient(secrets *testkit.Secrets) *client {
	tr := &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true}
	return &client{secrets: secrets, hc: &http.Client{
		Transport:     tr,
		Timeout:       60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// do sends req and fails the test if no answer comes. Unless the answer
// is one that carries secrets by design (an /authorize or token response),
// its body is kept to be searched for secrets at the end of the test.
func (c *client) do(t testing.TB, req *http.Request) resp {
	t.Helper()
	r, err := c.send(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	return r
}

// send is do for goroutines other than the test's: an error is returned.
func (c *client) send(req *http.Request) (resp, error) {
	res, err := c.hc.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, fmt.Errorf("reading the body: %w", err)
	}
	r := resp{status: res.StatusCode, header: res.Header, body: string(body)}
	carrier := r.status == http.StatusOK && (strings.HasSuffix(req.URL.Path, "/authorize") ||
		strings.HasSuffix(req.URL.Path, "/poll") || strings.HasSuffix(req.URL.Path, "/refresh"))
	if carrier {
		// Whatever tokens it carries are secrets from now on.
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if jsonUnmarshal(r.body, &tok) == nil {
			c.secrets.Add(tok.AccessToken, tok.RefreshToken)
		}
	} else {
		c.mu.Lock()
		c.clean = append(c.clean, cleanBody{req.Method + " " + req.URL.Path, r})
		c.mu.Unlock()
	}
	return r, nil
}

// checkBody keeps a body obtained some other way for the same search.
func (c *client) checkBody(r resp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clean = append(c.clean, cleanBody{"(raw request)", r})
}

type cleanBody struct {
	what string // not searched: the request itself may carry secrets
	r    resp
}

// checkPages fails the test if an error page or error body held a secret.
func (c *client) checkPages(t *testing.T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.clean {
		var hdr strings.Builder
		b.r.header.Write(&hdr)
		if leaked := c.secrets.Leaks(hdr.String() + "\n" + b.r.body); len(leaked) > 0 {
			t.Errorf("the answer to %.80s holds a secret (%.12s…): %.300s", b.what, leaked[0], b.r)
		}
	}
}

func (c *client) get(t testing.TB, u string, hdr ...string) resp {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.do(t, req)
}

func (c *client) post(t testing.TB, u, contentType, body string, hdr ...string) resp {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.do(t, req)
}

// login is one started login, as the plugin and the browser see it.
type login struct {
	authURL string
	readKey string
	state   string
}

// authorize starts a login at base (an app's root URL) and records its read
// key and state as secrets.
func (h *handoff) authorize(t testing.TB) login {
	t.Helper()
	return authorizeAt(t, h.client, h.URL, h.secrets)
}

func authorizeAt(t testing.TB, c *client, base string, secrets *testkit.Secrets) login {
	t.Helper()
	l, err := (&testkit.Plugin{Base: base, Client: c.hc, Secrets: secrets}).Authorize()
	if err != nil {
		t.Fatal(err)
	}
	if l.State == "" {
		t.Fatalf("POST /authorize: no state: %v", l.Answer)
	}
	return login{authURL: l.URL, readKey: l.ReadKey, state: l.State}
}

// consent plays the user at the provider: it opens the authorize URL,
// approves (or denies) on the consent page, and returns where the provider
// sends the browser back (the /redirect URL), its code among the secrets.
// The provider's answers carry the code by design: they are not searched
// for secrets.
func (c *client) consent(t testing.TB, l login, deny bool) string {
	t.Helper()
	back, err := (&testkit.Plugin{Client: c.hc, Secrets: c.secrets}).Consent(testkit.Login{URL: l.authURL}, !deny)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

func (h *handoff) poll(t testing.TB, readKey string) resp {
	t.Helper()
	return h.client.post(t, h.URL+"/poll?readKey="+url.QueryEscape(readKey), "", "")
}

// pollAsync is poll for other goroutines: a failure to get an answer is
// status 0 with the error as body.
func (h *handoff) pollAsync(readKey string) resp {
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/poll?readKey="+url.QueryEscape(readKey), nil)
	r, err := h.client.send(req)
	if err != nil {
		return resp{body: err.Error()}
	}
	return r
}

// redirectURL is the URL the provider would send the browser to.
func (h *handoff) redirectURL(params url.Values) string {
	return h.URL + "/redirect?" + params.Encode()
}

// fullLogin runs a login to the end and returns the tokens the plugin got.
func (h *handoff) fullLogin(t testing.TB) (login, resp) {
	t.Helper()
	l := h.authorize(t)
	if r := h.client.get(t, h.client.consent(t, l, false)); r.status != http.StatusOK {
		t.Fatalf("GET /redirect: %v", r)
	}
	r := h.poll(t, l.readKey)
	if r.status != http.StatusOK {
		t.Fatalf("POST /poll: %v", r)
	}
	return l, r
}

// wantCode checks a JSON error answer.
func wantCode(t testing.TB, what string, r resp, status int, code string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if r.status != status || jsonUnmarshal(r.body, &e) != nil || e.Error != code {
		t.Errorf("%s: got %v, want %d %q", what, r, status, code)
	}
}

// wantPage checks an HTML page of the redirect route: status, content type
// and the outcome it names.
func wantPage(t testing.TB, what string, r resp, status int, outcome string) {
	t.Helper()
	if r.status != status || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(r.body, `data-outcome="`+outcome+`"`) {
		t.Errorf("%s: got %d %s %.200q, want a %d page %q", what, r.status, r.header.Get("Content-Type"), r.body, status, outcome)
	}
}
