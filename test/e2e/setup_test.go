//go:build e2e

package e2e

import (
	"context"
	"crypto/x509"
	"fmt"
	"handoff/internal/testkit"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// setup is one journey's world: provider, handoff, plugin site and browser.
type setup struct {
	prov    *oidcProvider
	handoff *handoffServer
	site    *pluginSite
	browser *browser
	plugin  *tab
}

type setupOptions struct {
	style string            // TOKEN_AUTH_STYLE and which client: basic, post, auto (post client)
	env   map[string]string // extra handoff variables
	// providerEnv gives more handoff variables once the provider is up.
	providerEnv func(*oidcProvider) map[string]string
	https       *testCert
	hostRules   []string
}

func newSetup(t *testing.T, ctx context.Context, o setupOptions) *setup {
	t.Helper()
	hport := testkit.FreePort(t)
	scheme := "http"
	if o.https != nil {
		scheme = "https"
	}
	redirect := fmt.Sprintf("%s://localhost:%d/redirect", scheme, hport)
	s := &setup{}
	s.prov = startProvider(t, redirect)
	env := handoffEnv(s.prov, hport, o.style)
	if o.style == "auto" {
		env["CLIENT_ID"], env["CLIENT_SECRET"] = postClientID, postClientSecret
	}
	env["REDIRECT_URI"] = redirect
	var cert *x509.Certificate
	if o.https != nil {
		env["TLS_CERT_FILE"] = o.https.CertFile
		env["TLS_KEY_FILE"] = o.https.KeyFile
		cert = o.https.Cert
	}
	for k, v := range o.env {
		env[k] = v
	}
	if o.providerEnv != nil {
		for k, v := range o.providerEnv(s.prov) {
			env[k] = v
		}
	}
	s.handoff = startHandoff(t, env, cert)
	if o.https != nil {
		s.site = startPluginSite(t, &o.https.TLS)
		s.browser = newBrowser(t, ctx, o.hostRules, o.https.SPKI)
	} else {
		s.site = startPluginSite(t, nil)
		s.browser = newBrowser(t, ctx, o.hostRules, "")
	}
	s.plugin = s.browser.Plugin()
	return s
}

// openPlugin loads the plugin page (from host, 127.0.0.1 when empty).
func (s *setup) openPlugin(t *testing.T, host string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(s.plugin.ctx, stepTimeout)
	defer cancel()
	u := s.site.PageURL(host, s.handoff.Base)
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		t.Fatalf("open plugin page %s: %v", u, err)
	}
	if err := waitJS(s.plugin, `window.plugin && window.plugin.log.length > 0`, stepTimeout); err != nil {
		t.Fatalf("plugin page: %v", err)
	}
}

// loginThroughConsent clicks Log in, signs in at the provider and stops on its
// consent page. It returns the popup.
func (s *setup) loginToConsent(t *testing.T, user string) *tab {
	t.Helper()
	pop, err := s.browser.clickAndCatchPopup(s.plugin, "#login")
	if err != nil {
		st := readPlugin(t, s.plugin)
		t.Fatalf("log in: %v (plugin status %q, error %q)", err, st.Status, st.Error)
	}
	if err := providerLogin(pop, user); err != nil {
		t.Fatalf("%v", err)
	}
	if err := providerConsentPage(pop); err != nil {
		t.Fatalf("%v", err)
	}
	return pop
}

// redirectURL is the /redirect URL the provider sent the popup to.
func (s *setup) redirectURL(pop *tab) string {
	prefix := s.handoff.Base + "/redirect"
	docs := pop.Docs()
	for i := len(docs) - 1; i >= 0; i-- {
		if strings.HasPrefix(docs[i].URL, prefix) {
			return docs[i].URL
		}
	}
	return ""
}

// runHappyLogin: log in, consent, success page, tokens in the plugin.
func (s *setup) runHappyLogin(t *testing.T, user, shot string) (*tab, *pluginState) {
	t.Helper()
	if err := waitJS(s.plugin, `true`, stepTimeout); err != nil {
		t.Fatal(err)
	}
	pop := s.loginToConsent(t, user)
	if err := click(pop, `button[type="submit"]`); err != nil {
		t.Fatalf("consent: %v", err)
	}
	if err := waitText(pop, "You're authenticated", stepTimeout); err != nil {
		t.Fatalf("success page: %v", err)
	}
	if got := pop.DocStatus(s.handoff.Base + "/redirect"); got != 200 {
		t.Errorf("success page: status %d, want 200", got)
	}
	if shot != "" {
		screenshot(t, s.browser, pop, shot)
	}
	st, err := pluginWait(t, s.plugin, `^authenticated$`, stepTimeout)
	if err != nil {
		t.Fatalf("plugin: %v (log %q)", err, st.Log)
	}
	return pop, st
}

// checkTokens checks the token response the plugin got from /poll.
func checkTokens(t *testing.T, st *pluginState) {
	t.Helper()
	for _, k := range []string{"access_token", "refresh_token", "id_token", "token_type"} {
		if v, _ := st.Tokens[k].(string); v == "" {
			t.Errorf("poll 200: no %s in %v", k, keys(st.Tokens))
		}
	}
	if _, ok := st.Tokens["expires_in"].(float64); !ok {
		t.Errorf("poll 200: expires_in is %T %v, want a number", st.Tokens["expires_in"], st.Tokens["expires_in"])
	}
	if tt, _ := st.Tokens["token_type"].(string); tt != "Bearer" {
		t.Errorf("poll 200: token_type %q, want the provider's %q untouched", tt, "Bearer")
	}
	if !strings.Contains(st.TokensCacheControl, "no-store") {
		t.Errorf("poll 200: Cache-Control %q, want no-store", st.TokensCacheControl)
	}
	for i, p := range st.Polls[:max(0, len(st.Polls)-1)] {
		if p.Status != 404 || p.Error != "authorization_pending" {
			t.Errorf("poll %d before the tokens: %d %q, want 404 authorization_pending", i, p.Status, p.Error)
		}
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// checkTokenRequests checks what handoff sent to the provider's token endpoint.
func checkTokenRequests(t *testing.T, reqs []tokenRequest, clientID, auth string, wantGrants ...string) {
	t.Helper()
	var got []string
	for _, r := range reqs {
		got = append(got, fmt.Sprintf("%s/%s/%d", r.GrantType, r.Auth, r.Status))
	}
	if len(reqs) != len(wantGrants) {
		t.Errorf("token endpoint got %d requests %v, want %d (%v)", len(reqs), got, len(wantGrants), wantGrants)
	}
	for i, r := range reqs {
		if i < len(wantGrants) && r.GrantType != wantGrants[i] {
			t.Errorf("token request %d: grant_type %q, want %q", i, r.GrantType, wantGrants[i])
		}
		if r.Method != "POST" || r.Query {
			t.Errorf("token request %d: %s with query=%v, want POST with no query (secret never in a URL)", i, r.Method, r.Query)
		}
		if !strings.HasPrefix(r.ContentType, "application/x-www-form-urlencoded") {
			t.Errorf("token request %d: Content-Type %q, want a form body", i, r.ContentType)
		}
		if !strings.Contains(r.Accept, "application/json") {
			t.Errorf("token request %d: Accept %q, want application/json", i, r.Accept)
		}
		if r.ClientID != clientID {
			t.Errorf("token request %d: client %q, want %q", i, r.ClientID, clientID)
		}
		if auth != "" && r.Auth != auth {
			t.Errorf("token request %d: client authentication %q, want %q", i, r.Auth, auth)
		}
		if r.GrantType == "authorization_code" && !r.HasCodeVerifier {
			t.Errorf("token request %d: no code_verifier (PKCE)", i)
		}
		if r.Rejected != "" {
			t.Errorf("token request %d rejected by the provider: %s", i, r.Rejected)
		}
	}
}
