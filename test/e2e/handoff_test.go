//go:build e2e

package e2e

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"handoff/internal/testkit"
)

// handoff itself, as testkit.Start runs it, and HTTP clients for it.

type handoffServer struct {
	*testkit.Proc
	Base   string // scheme://localhost:port, the host REDIRECT_URI and the pages name
	client *http.Client
}

// handoffGrace is how long handoff has to stop on SIGTERM (SHUTDOWN_GRACE
// is 3s) before it is killed.
const handoffGrace = 8 * time.Second

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

// startHandoff runs the handoff binary with testkit.Start, on env's PORT
// (which REDIRECT_URI and the provider's registered redirect name), with
// the HTTP client that trusts tlsCert when it serves HTTPS. When the test
// ends handoff is stopped with SIGTERM, and its output is logged if the
// test failed (or with E2E_VERBOSE=1).
func startHandoff(t *testing.T, env map[string]string, tlsCert *x509.Certificate, args ...string) *handoffServer {
	t.Helper()
	port, err := strconv.Atoi(env["PORT"])
	if err != nil {
		t.Fatalf("handoff env needs PORT: %v", err)
	}
	h := &handoffServer{client: httpClient(tlsCert)}
	start := time.Now()
	h.Proc = testkit.Start(t, testkit.Options{Vars: env, Port: port, Args: args, Client: h.client, Bin: handoffBinary(t)})
	scheme, _, _ := strings.Cut(h.URL, ":")
	h.Base = fmt.Sprintf("%s://localhost:%d", scheme, h.Port)
	t.Logf("handoff healthy at %s after %v", h.Base, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if h.Exited() {
			t.Logf("handoff had already exited: %v", h.Cmd.ProcessState)
		}
		h.Stop(syscall.SIGTERM, handoffGrace)
		showOutput(t, "handoff", h.Out)
	})
	return h
}

// Log is what handoff wrote to stdout and stderr so far.
func (h *handoffServer) Log() string { return h.Out.String() }

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

// testCert is a certificate for local HTTPS (testkit.WriteCert's), as
// handoff, the plugin site and Chromium take it.
type testCert struct {
	CertFile, KeyFile string
	Cert              *x509.Certificate
	TLS               tls.Certificate
	SPKI              string // base64 SHA-256 of the public key, for Chromium
}

func makeCert(t *testing.T) *testCert {
	t.Helper()
	dir := t.TempDir()
	c := &testCert{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	testkit.WriteCert(t, c.CertFile, c.KeyFile)
	var err error
	if c.TLS, err = tls.LoadX509KeyPair(c.CertFile, c.KeyFile); err != nil {
		t.Fatal(err)
	}
	c.Cert = c.TLS.Leaf
	sum := sha256.Sum256(c.Cert.RawSubjectPublicKeyInfo)
	c.SPKI = base64.StdEncoding.EncodeToString(sum[:])
	return c
}
