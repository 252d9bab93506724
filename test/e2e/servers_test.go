//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"handoff/internal/testkit"
)

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
