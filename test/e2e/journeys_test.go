//go:build e2e

package e2e

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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

// ---------------------------------------------------------------------------
// Journey 1: the happy path, with refresh and userinfo.

func TestJourney1HappyPath(t *testing.T) {
	defer journey(t)()
	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	defer cancel()
	// A short REFRESH_REPLAY_TTL, so that the provider's refusal of the
	// rotated token can be seen below (Journey 7 sees the replay).
	s := newSetup(t, ctx, setupOptions{style: "basic", env: map[string]string{"REFRESH_REPLAY_TTL": "1s"}})
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
	// Within REFRESH_REPLAY_TTL (1 s here) handoff would give the refresh's
	// answer again; well past it, the provider is asked.
	time.Sleep(3 * time.Second)
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

// ---------------------------------------------------------------------------
// Journey 4: CORS. The same plugin page on an origin that is not allowed
// cannot read /authorize's answer; on an allowed one it can.

func TestJourney4CORSDisallowedOrigin(t *testing.T) {
	defer journey(t)()
	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	defer cancel()
	// evil.test and good.test are loopback for this browser only. Every
	// loopback address is allowed (docs/protocol.md#cors), so the test needs host names.
	rules := []string{"MAP evil.test 127.0.0.1", "MAP good.test 127.0.0.1"}
	// The plugin site's port is not known before the setup, so ALLOWED_ORIGINS
	// is filled in by a second handoff below; the first one allows no extra origin.
	s := newSetup(t, ctx, setupOptions{style: "basic", hostRules: rules})
	evilOrigin := "http://evil.test:" + s.site.Port()
	goodOrigin := "http://good.test:" + s.site.Port()

	// What handoff answers, seen without a browser.
	req, _ := http.NewRequest("POST", s.handoff.Base+"/authorize", nil)
	req.Header.Set("Origin", evilOrigin)
	res, err := s.handoff.client.Do(req)
	if err != nil {
		t.Fatalf("POST /authorize: %v", err)
	}
	res.Body.Close()
	acao := res.Header.Get("Access-Control-Allow-Origin")
	if acao == evilOrigin || acao == "*" {
		t.Errorf("handoff allows %s: Access-Control-Allow-Origin %q", evilOrigin, acao)
	}
	if !strings.Contains(res.Header.Get("Vary"), "Origin") {
		t.Errorf("Vary %q, want Origin", res.Header.Get("Vary"))
	}
	t.Logf("POST /authorize from %s: %d, Access-Control-Allow-Origin %q", evilOrigin, res.StatusCode, acao)

	// In the browser: the fetch fails, no window opens.
	s.openPlugin(t, "evil.test")
	if err := click(s.plugin, "#login"); err != nil {
		t.Fatal(err)
	}
	st, err := pluginWait(t, s.plugin, `^(error|waiting)`, stepTimeout)
	if err != nil {
		t.Fatalf("plugin: %v", err)
	}
	if !strings.HasPrefix(st.Status, "error") || st.ReadKey != "" || st.PopupOpened {
		t.Errorf("from %s the plugin got %q (readKey %q, popup %v), want a failed fetch", evilOrigin, st.Status, st.ReadKey, st.PopupOpened)
	}
	if !strings.Contains(st.Error, "Failed to fetch") {
		t.Errorf("plugin error %q, want the browser's TypeError: Failed to fetch", st.Error)
	}
	blocked := false
	for _, m := range s.plugin.Console() {
		if strings.Contains(m, "blocked by CORS policy") {
			blocked = true
			t.Logf("browser console: %s", m)
			break
		}
	}
	if !blocked {
		t.Errorf("no 'blocked by CORS policy' message in the console: %q", s.plugin.Console())
	}
	screenshot(t, s.browser, s.plugin, "plugin-cors-blocked")
	if infos, err := chromedp.Targets(s.plugin.ctx); err == nil {
		pages := 0
		for _, i := range infos {
			if i.Type == "page" {
				pages++
			}
		}
		if pages != 1 {
			t.Errorf("%d pages open, want only the plugin's", pages)
		}
	}

	// Control: handoff with ALLOWED_ORIGINS naming good.test serves that page.
	hport := testkit.FreePort(t)
	prov2 := startProvider(t, fmt.Sprintf("http://localhost:%d/redirect", hport))
	env := handoffEnv(prov2, hport, "basic")
	env["ALLOWED_ORIGINS"] = goodOrigin
	h2 := startHandoff(t, env, nil)
	nctx, ncancel := context.WithTimeout(s.plugin.ctx, stepTimeout)
	err = chromedp.Do(nctx, chromedp.Navigate(s.site.PageURL("good.test", h2.Base)))
	ncancel()
	if err != nil {
		t.Fatal(err)
	}
	if err := waitJS(s.plugin, `window.plugin && window.plugin.log.length > 0`, stepTimeout); err != nil {
		t.Fatal(err)
	}
	pop, err := s.browser.clickAndCatchPopup(s.plugin, "#login")
	if err != nil {
		t.Fatalf("from the allowed origin %s: %v (plugin %+v)", goodOrigin, err, readPlugin(t, s.plugin).Status)
	}
	st = readPlugin(t, s.plugin)
	if st.ReadKey == "" || !strings.HasPrefix(st.Status, "waiting") {
		t.Errorf("from the allowed origin %s: status %q, readKey %q", goodOrigin, st.Status, st.ReadKey)
	}
	if err := waitJS(pop, `document.querySelector('input[name="login"]')`, stepTimeout); err != nil {
		t.Errorf("the allowed origin's popup did not reach the provider: %v", err)
	}
	// And the evil origin still cannot read that handoff either.
	req, _ = http.NewRequest("POST", h2.Base+"/authorize", nil)
	req.Header.Set("Origin", evilOrigin)
	if res, err := h2.client.Do(req); err == nil {
		res.Body.Close()
		if got := res.Header.Get("Access-Control-Allow-Origin"); got == evilOrigin {
			t.Errorf("ALLOWED_ORIGINS=%s also allows %s", goodOrigin, evilOrigin)
		}
	}
}

// ---------------------------------------------------------------------------
// Journey 5: demo mode. Its page at / plays the plugin; the built-in mock
// authorization server's page opens in the popup.

func TestJourney5DemoMode(t *testing.T) {
	defer journey(t)()
	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	defer cancel()
	hport := testkit.FreePort(t)
	// No variable is needed in demo mode; PORT and REDIRECT_URI only move it
	// off 8787 so that tests never collide with a developer's handoff.
	h := startHandoff(t, map[string]string{
		"PORT":           fmt.Sprint(hport),
		"REDIRECT_URI":   fmt.Sprintf("http://localhost:%d/redirect", hport),
		"SHUTDOWN_GRACE": "3s",
	}, nil, "-demo")
	if !strings.Contains(strings.ToLower(h.Log()), "demo") {
		t.Errorf("the log does not say demo mode is on:\n%s", h.Log())
	}
	b := newBrowser(t, ctx, nil, "")
	demo := b.Plugin()
	nctx, ncancel := context.WithTimeout(demo.ctx, stepTimeout)
	err := chromedp.Do(nctx, chromedp.Navigate(h.Base+"/"))
	ncancel()
	if err != nil {
		t.Fatalf("demo page: %v", err)
	}
	if got := demo.DocStatus(h.Base + "/"); got != 200 {
		t.Errorf("demo page: status %d", got)
	}
	if err := waitJS(demo, `document.querySelector("#login") && !document.querySelector("#login").disabled`, stepTimeout); err != nil {
		t.Fatalf("demo page has no Log in button: %v", err)
	}
	if !strings.Contains(strings.ToLower(demo.bodyText()), "demo") {
		t.Errorf("the demo page does not say it is a demo: %q", demo.bodyText())
	}

	pop, err := b.clickAndCatchPopup(demo, "#login")
	if err != nil {
		t.Fatalf("demo Log in: %v", err)
	}
	if err := waitJS(pop, `document.querySelector("#approve") && document.querySelector("#username")`, stepTimeout); err != nil {
		t.Fatalf("mock provider page: %v", err)
	}
	if !strings.Contains(strings.ToLower(pop.bodyText()), "mock provider") {
		t.Errorf("the mock provider's page is not clearly labelled: %q", pop.bodyText())
	}
	screenshot(t, b, pop, "demo-mock-provider")
	fctx, fcancel := context.WithTimeout(pop.ctx, stepTimeout)
	err = chromedp.Do(fctx, chromedp.Clear(chromedp.CSS("#username")), chromedp.SendKeys(chromedp.CSS("#username"), "e2e-demo"))
	fcancel()
	if err != nil {
		t.Fatalf("mock provider name: %v", err)
	}
	if err := click(pop, "#approve"); err != nil {
		t.Fatalf("mock provider Allow: %v", err)
	}
	if err := waitText(pop, "handoff demo is now connected to Mock Provider", stepTimeout); err != nil {
		t.Fatalf("demo success page: %v", err)
	}
	if got := pop.DocStatus(h.Base + "/redirect"); got != 200 {
		t.Errorf("demo success page: status %d", got)
	}
	screenshot(t, b, pop, "demo-success")
	screenshotDark(t, b, pop, "demo-success-dark")

	// The demo page polls every second and shows the tokens.
	if err := waitJS(demo, `!document.querySelector("#tokens").hidden && document.querySelector("#tokens").textContent.includes("access_token")`, stepTimeout); err != nil {
		t.Fatalf("demo page never showed the tokens: %v", err)
	}
	first, err := evalAsync[map[string]any](demo, `Promise.resolve(JSON.parse(document.querySelector("#tokens").textContent))`)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, b, demo, "demo")

	// Its refresh button goes through /refresh to the mock provider.
	if err := click(demo, "#refresh"); err != nil {
		t.Fatalf("demo refresh: %v", err)
	}
	if err := waitText(demo, "refreshed", stepTimeout); err != nil {
		t.Errorf("demo refresh: %v", err)
	} else {
		second, err := evalAsync[map[string]any](demo, `Promise.resolve(JSON.parse(document.querySelector("#tokens").textContent))`)
		if err != nil {
			t.Fatal(err)
		}
		if second["access_token"] == nil || second["access_token"] == first["access_token"] {
			t.Errorf("demo refresh: access token %v, was %v", second["access_token"], first["access_token"])
		}
	}
	// Log out revokes the grant at the mock provider.
	if err := click(demo, "#logout"); err != nil {
		t.Fatalf("demo log out: %v", err)
	}
	if err := waitText(demo, "Logged out", stepTimeout); err != nil {
		t.Errorf("demo log out: %v", err)
	}
	// "Also allow email": a new login asking for one more scope, which the
	// mock's page lists and its token answer grants.
	// The demo opens its login in one named window, which the first login
	// left on the success page: the new one goes there.
	if err := click(demo, "#more"); err != nil {
		t.Fatalf("demo Also allow email: %v", err)
	}
	if err := waitJS(pop, `document.querySelector("#approve") && document.body.innerText.includes("email")`, stepTimeout); err != nil {
		t.Fatalf("the mock provider's page does not ask for email: %v", err)
	}
	if err := click(pop, "#approve"); err != nil {
		t.Fatalf("mock provider Allow: %v", err)
	}
	if err := waitJS(demo, `!document.querySelector("#tokens").hidden && JSON.parse(document.querySelector("#tokens").textContent).scope === "profile email"`, stepTimeout); err != nil {
		t.Errorf("demo page never showed tokens for profile and email: %v (%q)", err, demo.bodyText())
	}

	// A second login, denied at the provider: the page says so, and the
	// first login's tokens are no longer shown as if they were its result.
	if err := waitJS(demo, `!document.querySelector("#tokens").hidden`, stepTimeout); err != nil {
		t.Fatalf("the first login's tokens are not shown: %v", err)
	}
	// The demo opens its login in one named window: the popup still open
	// from the first login shows the provider again.
	pop2 := pop
	if err := click(demo, "#login"); err != nil {
		t.Fatalf("demo second Log in: %v", err)
	}
	if err := waitJS(pop2, `document.querySelector("#approve")`, stepTimeout); err != nil {
		t.Fatalf("mock provider page: %v", err)
	}
	if err := waitText(demo, "waiting for the login window", stepTimeout); err != nil {
		t.Errorf("demo page while waiting: %v", err)
	}
	if err := click(pop2, `button[value="deny"]`); err != nil {
		t.Fatalf("mock provider Deny: %v", err)
	}
	if err := waitText(pop2, "Login cancelled", stepTimeout); err != nil {
		t.Fatalf("cancelled page: %v", err)
	}
	screenshot(t, b, pop2, "demo-cancelled")
	if err := waitText(demo, "login cancelled at the provider", stepTimeout); err != nil {
		t.Errorf("demo page after Deny: %v", err)
	}
	if err := waitJS(demo, `document.querySelector("#tokens").hidden && document.querySelector("#refresh").disabled`, stepTimeout); err != nil {
		t.Errorf("after a denied second login the first login's tokens are still shown: %v", err)
	}

	// Cancel stops a login the user walked away from: the popup closes,
	// polling stops, the buttons are back as they were.
	pop3 := pop
	if err := click(demo, "#login"); err != nil {
		t.Fatalf("demo third Log in: %v", err)
	}
	if err := waitJS(pop3, `document.querySelector("#approve")`, stepTimeout); err != nil {
		t.Fatalf("mock provider page: %v", err)
	}
	if err := waitJS(demo, `!document.querySelector("#cancel").hidden`, stepTimeout); err != nil {
		t.Fatalf("no Cancel button while waiting: %v", err)
	}
	if err := click(demo, "#cancel"); err != nil {
		t.Fatalf("demo Cancel: %v", err)
	}
	if err := waitText(demo, "login cancelled: stopped waiting", stepTimeout); err != nil {
		t.Fatalf("demo Cancel: %v", err)
	}
	if err := waitJS(demo, `document.querySelector("#cancel").hidden && !document.querySelector("#login").disabled`, stepTimeout); err != nil {
		t.Errorf("after Cancel the buttons are not reset: %v", err)
	}
	if err := waitFor(stepTimeout, func() bool {
		infos, err := chromedp.Targets(demo.ctx)
		if err != nil {
			return false
		}
		for _, i := range infos {
			if i.Type == "page" && strings.Contains(i.URL, "/mock/authorize") {
				return false
			}
		}
		return true
	}); err != nil {
		t.Errorf("the login popup is still open after Cancel")
	}
	polls := strings.Count(h.Log(), "/poll")
	time.Sleep(2500 * time.Millisecond) // more than two poll intervals
	if after := strings.Count(h.Log(), "/poll"); after != polls {
		t.Errorf("the demo page polled %d more times after Cancel", after-polls)
	}

	// Every page here is handoff's: the demo page, the mock provider, the
	// success page.
	assertNoCSPViolations(t, demo, pop)
	assertPageHeaders(t, demo, h.Base)
	assertPageHeaders(t, pop, h.Base)
}

// ---------------------------------------------------------------------------
// The CSP check has teeth: a page whose CSP forbids its inline script and
// style shows up in the console that assertNoCSPViolations reads.

func TestCSPWatchSeesViolations(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>csp</title><style>body{color:red}</style><p>x</p><script>document.title="ran"</script>`)
	}))
	defer srv.Close()
	b := newBrowser(t, ctx, nil, "")
	tb := b.Plugin()
	nctx, ncancel := context.WithTimeout(tb.ctx, stepTimeout)
	err := chromedp.Do(nctx, chromedp.Navigate(srv.URL))
	ncancel()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := 0
		for _, m := range tb.Console() {
			if cspRe.MatchString(m) {
				n++
			}
		}
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the CSP watch saw %d violations, want the inline style and script: %q", n, tb.Console())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Journey 6: local HTTPS with TLS_CERT_FILE / TLS_KEY_FILE.

func TestJourney6LocalHTTPS(t *testing.T) {
	defer journey(t)()
	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	defer cancel()
	cert := makeCert(t)
	s := newSetup(t, ctx, setupOptions{style: "post", https: cert})
	if !strings.HasPrefix(s.handoff.Base, "https://") {
		t.Fatalf("handoff base %s", s.handoff.Base)
	}
	s.openPlugin(t, "")
	pop, st := s.runHappyLogin(t, "dave", "success-https")
	checkTokens(t, st)
	if !strings.HasPrefix(s.redirectURL(pop), "https://localhost:") {
		t.Errorf("redirect went to %s, want https", redactURL(s.redirectURL(pop)))
	}
	if err := click(s.plugin, "#refresh"); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(s.plugin, `/^refresh(ed| failed)/.test(document.getElementById("refresh-status").textContent)`, stepTimeout); err != nil {
		t.Fatal(err)
	}
	st = readPlugin(t, s.plugin)
	if st.Refresh == nil || st.Refresh.Status != 200 || st.Refresh.JSON["access_token"] == nil {
		t.Fatalf("refresh over https: %+v", st.Refresh)
	}
	if info, code := s.prov.Userinfo(t, st.Refresh.JSON["access_token"].(string)); code != 200 || info["sub"] != "dave" {
		t.Errorf("userinfo: %d %v", code, info)
	}
	checkTokenRequests(t, s.prov.TokenRequests(t), postClientID, "post", "authorization_code", "refresh_token")
	assertNoCSPViolations(t, pop)
	assertPageHeaders(t, pop, s.handoff.Base)
}

// ---------------------------------------------------------------------------
// TOKEN_AUTH_STYLE=auto against a provider that only takes client_secret_post:
// handoff tries Basic, gets 401 invalid_client, and retries with the body.

func TestAutoAuthStyle(t *testing.T) {
	defer journey(t)()
	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	defer cancel()
	s := newSetup(t, ctx, setupOptions{style: "auto"})
	s.openPlugin(t, "")
	_, st := s.runHappyLogin(t, "erin", "")
	checkTokens(t, st)
	reqs := s.prov.TokenRequests(t)
	var got []string
	for _, r := range reqs {
		got = append(got, fmt.Sprintf("%s/%s/%d", r.GrantType, r.Auth, r.Status))
	}
	t.Logf("token endpoint saw %v", got)
	if len(reqs) < 2 || reqs[0].Auth != "basic" || reqs[0].Status != 401 || reqs[len(reqs)-1].Auth != "post" || reqs[len(reqs)-1].Status != 200 {
		t.Errorf("auto: token requests %v, want basic/401 then post/200", got)
	}
}
