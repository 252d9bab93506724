//go:build e2e

package e2e

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ---------------------------------------------------------------------------
// Journey 2: the user denies consent.

func TestJourney2DenyConsent(t *testing.T) {
	defer journey(t)()
	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	defer cancel()
	s := newSetup(t, ctx, setupOptions{style: "post", env: map[string]string{"PLUGIN_NAME": "Acme Sync"}})
	s.openPlugin(t, "")

	pop := s.loginToConsent(t, "bob")
	// oidc-provider's "[ Cancel ]" link aborts the interaction: the provider
	// redirects with error=access_denied.
	if err := click(pop, `a[href*="/abort"]`); err != nil {
		t.Fatalf("deny consent: %v", err)
	}
	if err := waitText(pop, "cancel", stepTimeout); err != nil {
		t.Fatalf("cancelled page: %v", err)
	}
	if got := pop.DocStatus(s.handoff.Base + "/redirect"); got != 200 {
		t.Errorf("cancelled page: status %d, want 200", got)
	}
	if r := s.redirectURL(pop); queryParam(r, "error") != "access_denied" {
		t.Errorf("the provider's redirect %s has no error=access_denied", redactURL(r))
	}
	text := pop.bodyText()
	if n := strings.Count(text, "End-User aborted interaction"); n != 1 {
		t.Errorf("cancelled page shows the provider's error_description %d times, want once: %q", n, text)
	}
	for _, want := range []string{"Login cancelled", "The login was cancelled at the provider, so Acme Sync is not connected.", "start again from Acme Sync"} {
		if !strings.Contains(text, want) {
			t.Errorf("cancelled page lacks %q: %q", want, text)
		}
	}
	screenshot(t, s.browser, pop, "error-cancelled")

	st, err := pluginWait(t, s.plugin, `^login (cancelled|expired|failed)|^error`, stepTimeout)
	if err != nil {
		t.Fatalf("plugin: %v", err)
	}
	if !strings.HasPrefix(st.Status, "login cancelled") {
		t.Errorf("plugin shows %q, want login cancelled", st.Status)
	}
	if st.PollOutcome == nil || st.PollOutcome.Status != 410 || st.PollOutcome.Error != "access_denied" {
		t.Errorf("poll outcome %+v, want 410 access_denied", st.PollOutcome)
	}
	// Stop means stop: the next poll says the same, not 404.
	again, err := evalAsync[fetchResult](s.plugin, `pollOnce(window.plugin.readKey)`)
	if err != nil {
		t.Fatalf("poll again: %v", err)
	}
	if again.Status != 410 || again.JSON["error"] != "access_denied" {
		t.Errorf("poll after the outcome: %d %s, want 410 access_denied", again.Status, again.Text)
	}
	screenshot(t, s.browser, s.plugin, "plugin-cancelled")
	if n := len(s.prov.TokenRequests(t)); n != 0 {
		t.Errorf("a denied login made %d token requests", n)
	}
	assertNoCSPViolations(t, pop)
	assertPageHeaders(t, pop, s.handoff.Base)
}

// ---------------------------------------------------------------------------
// Journey 7: the provider refuses the login (invalid_scope) instead of the
// user cancelling it. The browser arrives at /redirect as the provider sends
// it, with the login's real state.

func TestJourney7ProviderRefuses(t *testing.T) {
	defer journey(t)()
	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	defer cancel()
	s := newSetup(t, ctx, setupOptions{style: "basic", env: map[string]string{"PLUGIN_NAME": "Acme Sync"}})
	s.openPlugin(t, "")

	pop, err := s.browser.clickAndCatchPopup(s.plugin, "#login")
	if err != nil {
		t.Fatalf("log in: %v", err)
	}
	st := readPlugin(t, s.plugin)
	state := queryParam(st.AuthorizeURL, "state")
	if state == "" {
		t.Fatalf("no state in the authorize URL %s", redactURL(st.AuthorizeURL))
	}
	const said = "The scope <admin> is not enabled for this client"
	back := s.handoff.Base + "/redirect?" + url.Values{
		"state": {state}, "error": {"invalid_scope"}, "error_description": {said},
	}.Encode()
	nctx, ncancel := context.WithTimeout(pop.ctx, stepTimeout)
	err = chromedp.Do(nctx, chromedp.Navigate(back))
	ncancel()
	if err != nil {
		t.Fatalf("the provider's redirect: %v", err)
	}
	if err := waitText(pop, "refused the login", stepTimeout); err != nil {
		t.Fatalf("refused page: %v", err)
	}
	if got := pop.DocStatus(s.handoff.Base + "/redirect"); got != 200 {
		t.Errorf("refused page: status %d, want 200", got)
	}
	text := pop.bodyText()
	for _, want := range []string{
		"The provider refused the login",
		"Acme Sync is not connected.",
		"Error: invalid_scope — the app asks for a scope the provider does not allow: check SCOPE",
		"The provider said: " + said,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("refused page lacks %q: %q", want, text)
		}
	}
	if strings.Contains(strings.ToLower(text), "cancel") {
		t.Errorf("a refusal reads as a cancellation: %q", text)
	}
	if n := strings.Count(text, said); n != 1 {
		t.Errorf("the provider's description appears %d times, want once", n)
	}
	screenshot(t, s.browser, pop, "error-refused")
	screenshotDark(t, s.browser, pop, "error-refused-dark")

	st, err = pluginWait(t, s.plugin, `^login (cancelled|expired|failed)|^error`, stepTimeout)
	if err != nil {
		t.Fatalf("plugin: %v", err)
	}
	if st.Status != "login failed (invalid_scope)" || st.PollOutcome == nil || st.PollOutcome.Status != 410 {
		t.Errorf("plugin %q, outcome %+v, want login failed / 410 invalid_scope", st.Status, st.PollOutcome)
	}
	if d := st.PollOutcome.ErrorDescription; strings.Contains(strings.ToLower(d), "cancel") || !strings.Contains(d, "refused the login (invalid_scope)") {
		t.Errorf("poll error_description %q, want the refusal, never a cancellation", d)
	}
	if n := len(s.prov.TokenRequests(t)); n != 0 {
		t.Errorf("a refused login made %d token requests", n)
	}
	assertNoCSPViolations(t, pop)
	assertPageHeaders(t, pop, s.handoff.Base)
}

// ---------------------------------------------------------------------------
// Journey 3: the user takes longer than LOGIN_TTL.

func TestJourney3LoginExpired(t *testing.T) {
	defer journey(t)()
	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	defer cancel()
	const ttl = 3 * time.Second
	s := newSetup(t, ctx, setupOptions{style: "basic", env: map[string]string{"LOGIN_TTL": ttl.String()}})
	s.openPlugin(t, "")

	start := time.Now()
	pop, err := s.browser.clickAndCatchPopup(s.plugin, "#login")
	if err != nil {
		t.Fatalf("log in: %v", err)
	}
	// The plugin keeps polling; once LOGIN_TTL has passed, /poll says 410.
	st, err := pluginWait(t, s.plugin, `^login (cancelled|expired|failed)|^error`, ttl+15*time.Second)
	if err != nil {
		t.Fatalf("plugin: %v", err)
	}
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
	if err := providerLogin(pop, "carol"); err != nil {
		t.Fatal(err)
	}
	if err := providerConsentPage(pop); err != nil {
		t.Fatal(err)
	}
	if err := click(pop, `button[type="submit"]`); err != nil {
		t.Fatalf("consent: %v", err)
	}
	if err := waitText(pop, "expired", stepTimeout); err != nil {
		t.Fatalf("expired page: %v", err)
	}
	if got := pop.DocStatus(s.handoff.Base + "/redirect"); got != 400 {
		t.Errorf("expired page: status %d, want 400", got)
	}
	if strings.Contains(strings.ToLower(pop.bodyText()), "you're authenticated") {
		t.Errorf("expired page says authenticated")
	}
	screenshot(t, s.browser, pop, "error-expired")
	if n := len(s.prov.TokenRequests(t)); n != 0 {
		t.Errorf("an expired state reached the provider's token endpoint (%d requests)", n)
	}
	again, err := evalAsync[fetchResult](s.plugin, `pollOnce(window.plugin.readKey)`)
	if err != nil {
		t.Fatalf("poll again: %v", err)
	}
	if again.Status != 410 || again.JSON["error"] != "expired_token" {
		t.Errorf("poll after the expired redirect: %d %s, want 410 expired_token", again.Status, again.Text)
	}
	assertNoCSPViolations(t, pop)
	assertPageHeaders(t, pop, s.handoff.Base)
}
