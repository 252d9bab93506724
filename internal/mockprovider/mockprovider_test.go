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

	"handoff/internal/pagestyle"
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

// The consent page and the mock provider's error pages wear handoff's style
// sheet (internal/pagestyle), allowed by its hash, and an error page says what
// the mock refused as text, not a bare text/plain line.
func TestPagesLookLikeHandoffs(t *testing.T) {
	p := New(Options{ClientID: "c", ClientSecret: "s", RedirectURIs: []string{"http://localhost/cb"}})
	srv := httptest.NewServer(p)
	defer srv.Close()
	cases := []struct {
		name, method, target string
		status               int
		want                 []string
	}{
		{"consent", "GET", "/authorize?client_id=c&response_type=code&redirect_uri=http://localhost/cb&state=x", 200,
			[]string{"Sign in to Mock Provider", `id="approve"`, `class="secondary"`}},
		{"unknown client", "GET", "/authorize?client_id=other&response_type=code&redirect_uri=http://localhost/cb&state=x", 400,
			[]string{`class="bad"`, "The mock provider refused this request", "mock provider:</strong> unknown client_id"}},
		{"unregistered redirect", "GET", "/authorize?client_id=c&response_type=code&redirect_uri=http://evil.example/cb&state=x", 400,
			[]string{`class="bad"`, "redirect_uri is not registered"}},
		{"consent form for another client", "POST", "/authorize", 400,
			[]string{`class="bad"`, "unknown client_id"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader
			if c.method == "POST" {
				body = strings.NewReader("client_id=other&decision=approve")
			}
			req, _ := http.NewRequest(c.method, srv.URL+c.target, body)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindSubmatch(b)
			if m == nil || string(m[1]) != pagestyle.CSS {
				t.Fatalf("the page does not carry handoff's style sheet:\n%s", b)
			}
			sum := sha256.Sum256(m[1])
			csp := resp.Header.Get("Content-Security-Policy")
			if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
			for _, w := range c.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("the page lacks %q:\n%s", w, b)
				}
			}
		})
	}
}
