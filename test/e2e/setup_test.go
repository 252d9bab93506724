//go:build e2e

package e2e

import (
	"context"
	"crypto/x509"
	"fmt"
	"testing"

	"handoff/internal/testkit"

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
