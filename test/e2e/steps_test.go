//go:build e2e

package e2e

import (
	"testing"
	"time"
)

// The steps journeys share, in the plugin page, the popup and at the
// provider. Each fails the test when the step cannot be done.

// clickLogin clicks the plugin's Log in and returns the window it opens.
func (s *setup) clickLogin(t *testing.T) *tab {
	t.Helper()
	pop, err := s.browser.clickAndCatchPopup(s.plugin, "#login")
	if err != nil {
		st := readPlugin(t, s.plugin)
		t.Fatalf("log in: %v (plugin status %q, error %q)", err, st.Status, st.Error)
	}
	return pop
}

// loginToConsent clicks Log in, signs in at the provider and stops on its
// consent page. It returns the popup.
func (s *setup) loginToConsent(t *testing.T, user string) *tab {
	t.Helper()
	pop := s.clickLogin(t)
	signIn(t, pop, user)
	return pop
}

// signIn fills the provider's login form in pop and waits for its consent
// page.
func signIn(t *testing.T, pop *tab, user string) {
	t.Helper()
	if err := providerLogin(pop, user); err != nil {
		t.Fatalf("%v", err)
	}
	if err := providerConsentPage(pop); err != nil {
		t.Fatalf("%v", err)
	}
}

// consent clicks the provider's consent button.
func consent(t *testing.T, pop *tab) {
	t.Helper()
	if err := click(pop, `button[type="submit"]`); err != nil {
		t.Fatalf("consent: %v", err)
	}
}

// redirectURL is the /redirect URL the provider sent the popup to.
func (s *setup) redirectURL(pop *tab) string {
	return pop.LastDoc(s.handoff.Base + "/redirect").URL
}

// redirectPage waits until handoff's page at /redirect (name, in messages)
// shows text, and checks its status.
func (s *setup) redirectPage(t *testing.T, pop *tab, name, text string, status int64) {
	t.Helper()
	if err := waitText(pop, text, stepTimeout); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if got := pop.DocStatus(s.handoff.Base + "/redirect"); got != status {
		t.Errorf("%s: status %d, want %d", name, got, status)
	}
}

// runHappyLogin: log in, consent, success page, tokens in the plugin.
func (s *setup) runHappyLogin(t *testing.T, user, shot string) (*tab, *pluginState) {
	t.Helper()
	if err := waitJS(s.plugin, `true`, stepTimeout); err != nil {
		t.Fatal(err)
	}
	pop := s.loginToConsent(t, user)
	consent(t, pop)
	s.redirectPage(t, pop, "success page", "You're authenticated", 200)
	if shot != "" {
		screenshot(t, s.browser, pop, shot)
	}
	st, err := pluginWait(t, s.plugin, `^authenticated$`, stepTimeout)
	if err != nil {
		t.Fatalf("plugin: %v (log %q)", err, st.Log)
	}
	return pop, st
}

// waitOutcome waits until the plugin shows that its login ended without
// tokens (cancelled, expired, failed, or an error) and returns its state.
func (s *setup) waitOutcome(t *testing.T, timeout time.Duration) *pluginState {
	t.Helper()
	st, err := pluginWait(t, s.plugin, `^login (cancelled|expired|failed)|^error`, timeout)
	if err != nil {
		t.Fatalf("plugin: %v", err)
	}
	return st
}

// pollAgain polls once more with the plugin's read key and wants 410 with
// code: after its outcome, a login's every poll says the same
// (docs/protocol.md#poll).
func (s *setup) pollAgain(t *testing.T, code string) {
	t.Helper()
	again, err := evalAsync[fetchResult](s.plugin, `pollOnce(window.plugin.readKey)`)
	if err != nil {
		t.Fatalf("poll again: %v", err)
	}
	if again.Status != 410 || again.JSON["error"] != code {
		t.Errorf("poll again: %d %s, want 410 %s", again.Status, again.Text, code)
	}
}

// clickRefresh clicks the plugin page's Refresh and returns the plugin's
// state once the refresh is done.
func (s *setup) clickRefresh(t *testing.T) *pluginState {
	t.Helper()
	if err := click(s.plugin, "#refresh"); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if err := waitJS(s.plugin, `/^refresh(ed| failed)/.test(document.getElementById("refresh-status").textContent)`, stepTimeout); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	return readPlugin(t, s.plugin)
}

// noTokenRequestsSince fails when the provider's token endpoint got more than
// before requests: what (a denied login, a replayed redirect) must not
// reach it.
func (s *setup) noTokenRequestsSince(t *testing.T, before int, what string) {
	t.Helper()
	if n := len(s.prov.TokenRequests(t)); n != before {
		t.Errorf("%s reached the provider's token endpoint (%d requests, was %d)", what, n, before)
	}
}
