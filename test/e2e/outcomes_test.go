//go:build e2e

package e2e

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// The logins that end without tokens: denied by the user, refused by the
// provider, expired. Each ends in a 410 that every later poll repeats, and
// none reaches the provider's token endpoint.

// TestJourney2DenyConsent: the user denies consent.
func TestJourney2DenyConsent(t *testing.T) {
	s, end := newJourney(t, setupOptions{style: "post", env: map[string]string{"PLUGIN_NAME": "Acme Sync"}})
	defer end()

	pop := s.loginToConsent(t, "bob")
	// oidc-provider's "[ Cancel ]" link aborts the interaction: the provider
	// redirects with error=access_denied.
	if err := click(pop, `a[href*="/abort"]`); err != nil {
		t.Fatalf("deny consent: %v", err)
	}
	s.redirectPage(t, pop, "cancelled page", "cancel", 200)
	if r := s.redirectURL(pop); queryParam(r, "error") != "access_denied" {
		t.Errorf("the provider's redirect %s has no error=access_denied", redactURL(r))
	}
	text := pop.bodyText()
	if n := strings.Count(text, "End-User aborted interaction"); n != 1 {
		t.Errorf("cancelled page shows the provider's error_description %d times, want once: %q", n, text)
	}
	assertSays(t, "cancelled page", text, "Login cancelled", "The login was cancelled at the provider, so Acme Sync is not connected.", "start again from Acme Sync")
	screenshot(t, s.browser, pop, "error-cancelled")

	st := s.waitOutcome(t, stepTimeout)
	if !strings.HasPrefix(st.Status, "login cancelled") {
		t.Errorf("plugin shows %q, want login cancelled", st.Status)
	}
	if st.PollOutcome == nil || st.PollOutcome.Status != 410 || st.PollOutcome.Error != "access_denied" {
		t.Errorf("poll outcome %+v, want 410 access_denied", st.PollOutcome)
	}
	// Stop means stop: the next poll says the same, not 404.
	s.pollAgain(t, "access_denied")
	screenshot(t, s.browser, s.plugin, "plugin-cancelled")
	s.noTokenRequestsSince(t, 0, "a denied login")
	assertHandoffPages(t, s.handoff.Base, pop)
}

// TestJourney7ProviderRefuses: the provider refuses the login
// (invalid_scope) instead of the user cancelling it. The browser arrives at
// /redirect as the provider sends it, with the login's real state.
func TestJourney7ProviderRefuses(t *testing.T) {
	s, end := newJourney(t, setupOptions{style: "basic", env: map[string]string{"PLUGIN_NAME": "Acme Sync"}})
	defer end()

	pop := s.clickLogin(t)
	st := readPlugin(t, s.plugin)
	state := queryParam(st.AuthorizeURL, "state")
	if state == "" {
		t.Fatalf("no state in the authorize URL %s", redactURL(st.AuthorizeURL))
	}
	const said = "The scope <admin> is not enabled for this client"
	back := s.handoff.Base + "/redirect?" + url.Values{
		"state": {state}, "error": {"invalid_scope"}, "error_description": {said},
	}.Encode()
	if err := navigate(pop, back); err != nil {
		t.Fatalf("the provider's redirect: %v", err)
	}
	s.redirectPage(t, pop, "refused page", "refused the login", 200)
	text := pop.bodyText()
	assertSays(t, "refused page", text,
		"The provider refused the login",
		"Acme Sync is not connected.",
		"Error: invalid_scope — the app asks for a scope the provider does not allow: check SCOPE",
		"The provider said: "+said)
	if strings.Contains(strings.ToLower(text), "cancel") {
		t.Errorf("a refusal reads as a cancellation: %q", text)
	}
	if n := strings.Count(text, said); n != 1 {
		t.Errorf("the provider's description appears %d times, want once", n)
	}
	screenshot(t, s.browser, pop, "error-refused")
	screenshotDark(t, s.browser, pop, "error-refused-dark")

	st = s.waitOutcome(t, stepTimeout)
	if st.Status != "login failed (invalid_scope)" || st.PollOutcome == nil || st.PollOutcome.Status != 410 {
		t.Errorf("plugin %q, outcome %+v, want login failed / 410 invalid_scope", st.Status, st.PollOutcome)
	}
	if d := st.PollOutcome.ErrorDescription; strings.Contains(strings.ToLower(d), "cancel") || !strings.Contains(d, "refused the login (invalid_scope)") {
		t.Errorf("poll error_description %q, want the refusal, never a cancellation", d)
	}
	s.noTokenRequestsSince(t, 0, "a refused login")
	assertHandoffPages(t, s.handoff.Base, pop)
}

// TestJourney3LoginExpired: the user takes longer than LOGIN_TTL.
func TestJourney3LoginExpired(t *testing.T) {
	const ttl = 3 * time.Second
	s, end := newJourney(t, setupOptions{style: "basic", env: map[string]string{"LOGIN_TTL": ttl.String()}})
	defer end()

	start := time.Now()
	pop := s.clickLogin(t)
	// The plugin keeps polling; once LOGIN_TTL has passed, /poll says 410.
	st := s.waitOutcome(t, ttl+15*time.Second)
	elapsed := time.Since(start)
	if !strings.HasPrefix(st.Status, "login expired") || st.PollOutcome == nil || st.PollOutcome.Status != 410 || st.PollOutcome.Error != "expired_token" {
		t.Errorf("plugin: %q, outcome %+v, want login expired / 410 expired_token", st.Status, st.PollOutcome)
	}
	if elapsed < ttl {
		t.Errorf("the login expired after %v, before LOGIN_TTL %v", elapsed, ttl)
	}
	t.Logf("poll said expired_token %v after /authorize (LOGIN_TTL %v)", elapsed.Round(10*time.Millisecond), ttl)
	// A wide margin past LOGIN_TTL, then the user finishes at the provider.
	time.Sleep(time.Second)
	signIn(t, pop, "carol")
	consent(t, pop)
	s.redirectPage(t, pop, "expired page", "expired", 400)
	if strings.Contains(strings.ToLower(pop.bodyText()), "you're authenticated") {
		t.Errorf("expired page says authenticated")
	}
	screenshot(t, s.browser, pop, "error-expired")
	s.noTokenRequestsSince(t, 0, "an expired state")
	s.pollAgain(t, "expired_token")
	assertHandoffPages(t, s.handoff.Base, pop)
}
