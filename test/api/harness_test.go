package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"handoff/internal/mockprovider"
	"handoff/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Run(m)) }

// Credentials of the deployment under test. Neither may ever reach an API
// upstream.
const (
	clientID     = "api-test-client"
	clientSecret = "CLIENTSECRET-q7Zx2mP9vL4wR8sKd3"
	sealKey      = "5ea10f2d8e4b6a0c7f1e9d3b5a2c8e6f4a1d7b9c3e5f0a2b4d6c8e1f3a5b7c9d"
	pluginID     = "apiplugin1"
	pluginOrigin = "https://" + pluginID + ".plugins.framercdn.com"
)

// upstream is a fake provider API on a loopback port.
type upstream struct {
	addr   string // 127.0.0.1:port
	origin string // http://127.0.0.1:port
	conns  atomic.Int64
	reqs   atomic.Int64

	mu      sync.Mutex
	raw     bytes.Buffer
	seen    []seen
	handler http.HandlerFunc
}

type seen struct {
	method, requestURI, host string
	header                   http.Header
	body                     []byte
}

func newUpstream(t testing.TB, h http.HandlerFunc) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{addr: ln.Addr().String(), handler: h}
	u.origin = "http://" + u.addr
	srv := &http.Server{Handler: u, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(&countingListener{Listener: ln, u: u})
	t.Cleanup(func() { srv.Close() })
	return u
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.reqs.Add(1)
	var body []byte
	if r.Header.Get("X-Test-Discard") == "" {
		body, _ = io.ReadAll(r.Body)
	} else {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Received", strconv.FormatInt(n, 10))
	}
	u.mu.Lock()
	u.seen = append(u.seen, seen{r.Method, r.RequestURI, r.Host, r.Header.Clone(), body})
	h := u.handler
	u.mu.Unlock()
	if h == nil {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
		return
	}
	h(w, r)
}

func (u *upstream) last(t testing.TB) seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("the upstream received no request")
	}
	return u.seen[len(u.seen)-1]
}

func (u *upstream) received() []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	return bytes.Clone(u.raw.Bytes())
}

type countingListener struct {
	net.Listener
	u *upstream
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.u.conns.Add(1)
		c = &teeConn{Conn: c, u: l.u}
	}
	return c, err
}

// teeConn keeps what the upstream reads, but not the bulk of large bodies
// (the memory test sends 10 MiB).
type teeConn struct {
	net.Conn
	u *upstream
}

func (c *teeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.u.mu.Lock()
	if c.u.raw.Len() < 64<<20 {
		c.u.raw.Write(p[:n])
	}
	c.u.mu.Unlock()
	return n, err
}

// provider is the deployment's OAuth provider: internal/mockprovider,
// approving at once.
func newProvider(t testing.TB) *httptest.Server {
	t.Helper()
	p := mockprovider.New(mockprovider.Options{ClientID: clientID, ClientSecret: clientSecret, AutoApprove: true})
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv
}

// baseEnv is a single-app deployment against prov with the passthrough to
// origins, and extra on top.
func baseEnv(prov *httptest.Server, origins string, extra map[string]string) func(port int) map[string]string {
	return func(port int) map[string]string {
		env := map[string]string{
			"CLIENT_ID":          clientID,
			"CLIENT_SECRET":      clientSecret,
			"SEAL_KEY":           sealKey,
			"REDIRECT_URI":       fmt.Sprintf("http://127.0.0.1:%d/redirect", port),
			"AUTHORIZE_ENDPOINT": prov.URL + "/authorize",
			"TOKEN_ENDPOINT":     prov.URL + "/token",
			"PLUGIN_ID":          pluginID,
			"API_ORIGINS":        origins,
			"RATE_LIMIT":         "off",
		}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
}

// start runs handoff (built with -race when the tests are).
func start(t testing.TB, env func(port int) map[string]string) *testkit.Proc {
	t.Helper()
	return testkit.Start(t, testkit.Options{Env: env, Race: true})
}

// client never follows redirects and never asks for compression itself
// (so it never inflates what handoff passes on).
var client = &http.Client{
	Timeout:       60 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{DisableCompression: true},
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request; headers come in pairs.
func do(t testing.TB, method, u string, body io.Reader, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// raw sends a GET request line and headers as written (no client library
// normalises them) and reads the answer.
func raw(t testing.TB, base, target string, headers ...string) response {
	t.Helper()
	return rawMethod(t, base, "GET", target, headers...)
}

// rawMethod is raw with another method. A body is never sent: a request
// that declares one is answered from its headers.
func rawMethod(t testing.TB, base, method, target string, headers ...string) response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n")
	for i := 0; i+1 < len(headers); i += 2 {
		b.WriteString(headers[i] + ": " + headers[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, body}
}

// checkError asserts a JSON error answer with the plugin's CORS origin.
func checkError(t testing.TB, r response, status int, code string) {
	t.Helper()
	if r.status != status || testkit.ErrorCode(r.body) != code {
		t.Errorf("%d %s, want %d %s", r.status, r.body, status, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

// login runs a whole login as the plugin and the user's browser do and
// returns the token answer.
func login(t testing.TB, base string) map[string]any {
	t.Helper()
	r := do(t, "POST", base+"/authorize", nil, "Origin", pluginOrigin)
	var l struct{ URL, ReadKey string }
	if err := json.Unmarshal(r.body, &l); err != nil || r.status != 200 {
		t.Fatalf("authorize: %d %s", r.status, r.body)
	}
	r = do(t, "GET", l.URL, nil)
	if r.status != http.StatusFound {
		t.Fatalf("provider authorize: %d %s", r.status, r.body)
	}
	if r = do(t, "GET", r.header.Get("Location"), nil); r.status != 200 {
		t.Fatalf("redirect: %d %s", r.status, r.body)
	}
	r = do(t, "POST", base+"/poll?readKey="+url.QueryEscape(l.ReadKey), nil, "Origin", pluginOrigin)
	var tokens map[string]any
	if err := json.Unmarshal(r.body, &tokens); err != nil || r.status != 200 {
		t.Fatalf("poll: %d %s", r.status, r.body)
	}
	return tokens
}

// runToExit runs handoff with env to its end and returns its exit status
// and output, for configurations that must stop start-up.
func runToExit(t *testing.T, env map[string]string) (int, string) {
	t.Helper()
	env["PORT"] = strconv.Itoa(testkit.FreePort(t))
	return testkit.ExitStatus(t, testkit.Command(t, testkit.Binary(t), env), 20*time.Second)
}
