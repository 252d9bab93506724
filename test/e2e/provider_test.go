//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"handoff/internal/testkit"
)

// The authorization server: oidc-provider in test/e2e/provider.

type oidcProvider struct {
	*child
	Issuer    string
	Port      int
	Discovery struct {
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
		UserinfoEndpoint      string `json:"userinfo_endpoint"`
		RevocationEndpoint    string `json:"revocation_endpoint"`
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

// oidc-provider's development login and consent pages.

// providerLogin fills the dev login form in the popup.
func providerLogin(tb *tab, user string) error {
	if err := waitJS(tb, `document.querySelector('input[name="login"]') && document.querySelector('input[name="password"]')`, stepTimeout); err != nil {
		return fmt.Errorf("provider login page: %w", err)
	}
	if err := fill(tb, `input[name="login"]`, user); err != nil {
		return err
	}
	if err := fill(tb, `input[name="password"]`, "any-password"); err != nil {
		return err
	}
	return click(tb, `button[type="submit"]`)
}

// providerConsentPage waits for the consent page.
func providerConsentPage(tb *tab) error {
	if err := waitJS(tb, `document.querySelector('input[name="prompt"][value="consent"]')`, stepTimeout); err != nil {
		return fmt.Errorf("provider consent page: %w", err)
	}
	return nil
}
