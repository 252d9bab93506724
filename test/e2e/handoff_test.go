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
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"handoff/internal/testkit"
)

// handoff itself, as a child process, and HTTP clients for it.

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
