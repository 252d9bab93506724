//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

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
