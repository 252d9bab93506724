//go:build e2e

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"handoff/internal/testkit"
)

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
