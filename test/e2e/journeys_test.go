//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ---------------------------------------------------------------------------
// Journey 1: the happy path, with refresh and userinfo.

func TestJourney1HappyPath(t *testing.T) {
	defer journey(t)()
	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	defer cancel()
	s := newSetup(t, ctx, setupOptions{style: "basic"})
	s.openPlugin(t, "")

	pop, st := s.runHappyLogin(t, "alice", "success")
	checkTokens(t, st)
	if err := waitJS(s.plugin, `document.getElementById("tokens").textContent.includes(window.plugin.tokens.access_token)`, stepTimeout); err != nil {
		t.Errorf("the plugin page does not show the tokens: %v", err)
	}
	if st.ReadKey == "" || !strings.HasPrefix(st.AuthorizeURL, s.prov.Discovery.AuthorizationEndpoint) {
		t.Errorf("authorize: readKey %q, url %q", st.ReadKey, redactURL(st.AuthorizeURL))
	}
	for _, p := range []string{"client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method", "prompt"} {
		if queryParam(st.AuthorizeURL, p) == "" {
			t.Errorf("authorize URL has no %s: %s", p, redactURL(st.AuthorizeURL))
		}
	}
	access, _ := st.Tokens["access_token"].(string)
	refresh, _ := st.Tokens["refresh_token"].(string)

	// Delivered once: the next poll is 410, not 404 and not the tokens again.
	again, err := evalAsync[fetchResult](s.plugin, `pollOnce(window.plugin.readKey)`)
	if err != nil {
		t.Fatalf("second poll: %v", err)
	}
	if again.Status != 410 || again.JSON["error"] != "already_delivered" {
		t.Errorf("second poll: %d %s, want 410 already_delivered", again.Status, again.Text)
	}

	// The access token works at the provider.
	if info, code := s.prov.Userinfo(t, access); code != 200 || info["sub"] != "alice" {
		t.Errorf("userinfo with the access token: %d %v", code, info)
	}

	// Refresh from the plugin page (form body).
	if err := click(s.plugin, "#refresh"); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if err := waitJS(s.plugin, `/^refresh(ed| failed)/.test(document.getElementById("refresh-status").textContent)`, stepTimeout); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	st = readPlugin(t, s.plugin)
	if st.Refresh == nil || st.Refresh.Status != 200 {
		t.Fatalf("refresh: %+v", st.Refresh)
	}
	newAccess, _ := st.Refresh.JSON["access_token"].(string)
	newRefresh, _ := st.Refresh.JSON["refresh_token"].(string)
	if newAccess == "" || newAccess == access {
		t.Errorf("refresh: access_token %q, want a new one", newAccess)
	}
	if newRefresh == "" {
		t.Errorf("refresh: no refresh_token in %v", keys(st.Refresh.JSON))
	}
	if !strings.Contains(st.Refresh.CacheControl, "no-store") {
		t.Errorf("refresh: Cache-Control %q, want no-store", st.Refresh.CacheControl)
	}
	if info, code := s.prov.Userinfo(t, newAccess); code != 200 || info["sub"] != "alice" || info["name"] != "Test User alice" {
		t.Errorf("userinfo with the refreshed access token: %d %v", code, info)
	}
	screenshot(t, s.browser, s.plugin, "plugin-authenticated")

	// The provider saw exactly the code exchange and the refresh, as asked.
	checkTokenRequests(t, s.prov.TokenRequests(t), basicClientID, "basic", "authorization_code", "refresh_token")

	// The redirect replayed (the user reloads the success page): the used state
	// is refused with the invalid-or-expired page, and nothing reaches the
	// provider.
	redirect := s.redirectURL(pop)
	if redirect == "" {
		t.Fatalf("no /redirect document in the popup: %v", pop.Docs())
	}
	before := len(s.prov.TokenRequests(t))
	nctx, ncancel := context.WithTimeout(pop.ctx, stepTimeout)
	err = chromedp.Do(nctx, chromedp.Navigate(redirect))
	ncancel()
	if err != nil {
		t.Fatalf("replay the redirect: %v", err)
	}
	if err := waitText(pop, "expired", stepTimeout); err != nil {
		t.Errorf("replayed redirect: %v", err)
	}
	if got := pop.DocStatus(s.handoff.Base + "/redirect"); got != 400 {
		t.Errorf("replayed redirect: status %d, want 400", got)
	}
	screenshot(t, s.browser, pop, "error-invalid-link")
	if after := len(s.prov.TokenRequests(t)); after != before {
		t.Errorf("replayed redirect reached the provider's token endpoint (%d requests, was %d)", after, before)
	}

	// The rotated (old) refresh token is refused by the provider; the plugin
	// gets the provider's 400 invalid_grant so it knows to log in again.
	old, err := evalAsync[fetchResult](s.plugin, `refreshWith(window.plugin.tokens.refresh_token)`)
	if err != nil {
		t.Fatalf("refresh with the old token: %v", err)
	}
	if old.Status != 400 || old.JSON["error"] != "invalid_grant" {
		t.Errorf("refresh with the rotated token: %d %s, want 400 invalid_grant", old.Status, old.Text)
	}

	assertNoCSPViolations(t, pop)
	assertPageHeaders(t, pop, s.handoff.Base)
	assertNotInLog(t, s.handoff, map[string]string{
		"client secret":         basicClientSecret,
		"access token":          access,
		"refresh token":         refresh,
		"refreshed access":      newAccess,
		"refreshed refresh":     newRefresh,
		"id token":              fmt.Sprint(st.Tokens["id_token"]),
		"read key":              st.ReadKey,
		"state":                 queryParam(st.AuthorizeURL, "state"),
		"authorization code":    queryParam(redirect, "code"),
		"PKCE challenge":        queryParam(st.AuthorizeURL, "code_challenge"),
		"rotated refresh token": refresh,
	})
}

// ---------------------------------------------------------------------------
// Journey 2: the user denies consent.

func TestJourney2DenyConsent(t *testing.T) {
	defer journey(t)()
	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	defer cancel()
	s := newSetup(t, ctx, setupOptions{style: "post"})
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
	if !strings.Contains(text, "End-User aborted interaction") {
		t.Errorf("cancelled page does not show the provider's error_description: %q", text)
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
