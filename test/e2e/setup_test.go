//go:build e2e

package e2e

import (
	"context"
	"crypto/x509"
	"fmt"
	"testing"

	"handoff/internal/testkit"
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

// begin starts a journey: its time is logged when it ends (journey) and
// its context bounds it (journeyTimeout). Use: ctx, end := begin(t); defer end().
func begin(t *testing.T) (context.Context, func()) {
	logTime := journey(t)
	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	return ctx, func() { cancel(); logTime() }
}

// newJourney is how most journeys start: begin, newSetup, and the plugin
// page open from 127.0.0.1. Use: s, end := newJourney(t, o); defer end().
func newJourney(t *testing.T, o setupOptions) (*setup, func()) {
	t.Helper()
	ctx, end := begin(t)
	s := newSetup(t, ctx, o)
	s.openPlugin(t, "")
	return s, end
}

// openPlugin loads the plugin page (from host, 127.0.0.1 when empty).
func (s *setup) openPlugin(t *testing.T, host string) {
	t.Helper()
	s.openPluginOn(t, host, s.handoff.Base)
}

// openPluginOn loads the plugin page, from host, talking to the handoff at
// base.
func (s *setup) openPluginOn(t *testing.T, host, base string) {
	t.Helper()
	u := s.site.PageURL(host, base)
	if err := navigate(s.plugin, u); err != nil {
		t.Fatalf("open plugin page %s: %v", u, err)
	}
	if err := waitJS(s.plugin, `window.plugin && window.plugin.log.length > 0`, stepTimeout); err != nil {
		t.Fatalf("plugin page: %v", err)
	}
}
