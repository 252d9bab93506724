package testkit

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Run(m)) }

// TestStartChosenPort: on a port the caller chose, Proc.URL has the scheme
// handoff serves (its "handoff listening" line), and the port is the one
// chosen. With LOG_LEVEL warn, given through Env, no such line comes and
// the URL is HTTP's.
func TestStartChosenPort(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool := WriteCert(t, certFile, keyFile)
	trusting := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	for _, c := range []struct {
		name   string
		o      Options
		scheme string
		host   string
	}{
		{"https", Options{Vars: map[string]string{"TLS_CERT_FILE": certFile, "TLS_KEY_FILE": keyFile}, Client: trusting},
			"https", "localhost"},
		{"http", Options{}, "http", "127.0.0.1"},
		{"http, LOG_LEVEL warn from Env", Options{Env: func(int) map[string]string { return map[string]string{"LOG_LEVEL": "warn"} }},
			"http", "127.0.0.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			port := FreePort(t)
			c.o.Port, c.o.Args = port, []string{"-demo"}
			p := Start(t, c.o)
			if want := fmt.Sprintf("%s://%s:%d", c.scheme, c.host, port); p.URL != want || p.Port != port {
				t.Errorf("URL %s, Port %d; want %s, %d\n%s", p.URL, p.Port, want, port, p.Out)
			}
		})
	}
}
