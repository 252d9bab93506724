package mockprovider

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// The consent page allows its inline style by hash only, and the hash is
// that of the style it serves.
func TestConsentPageCSP(t *testing.T) {
	p := New(Options{ClientID: "c", ClientSecret: "s"})
	srv := httptest.NewServer(p)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/authorize?client_id=c&response_type=code&redirect_uri=http://localhost/cb&state=x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP allows unsafe-inline: %s", csp)
	}
	m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindSubmatch(body)
	if m == nil {
		t.Fatal("no <style> in the consent page")
	}
	sum := sha256.Sum256(m[1])
	if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
		t.Fatalf("CSP %q lacks %q", csp, want)
	}
}
