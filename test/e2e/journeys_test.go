//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The logins that end with tokens.

// TestJourney1HappyPath: the happy path, with refresh and userinfo.
func TestJourney1HappyPath(t *testing.T) {
	// A short REFRESH_REPLAY_TTL, so that the provider's refusal of the
	// rotated token can be seen below (Journey 9 sees the replay).
	s, end := newJourney(t, setupOptions{style: "basic", env: map[string]string{"REFRESH_REPLAY_TTL": "1s"}})
	defer end()

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
	s.pollAgain(t, "already_delivered")

	// The access token works at the provider.
	if info, code := s.prov.Userinfo(t, access); code != 200 || info["sub"] != "alice" {
		t.Errorf("userinfo with the access token: %d %v", code, info)
	}

	// Refresh from the plugin page (form body).
	st = s.clickRefresh(t)
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
	if err := navigate(pop, redirect); err != nil {
		t.Fatalf("replay the redirect: %v", err)
	}
	s.redirectPage(t, pop, "replayed redirect", "expired", 400)
	screenshot(t, s.browser, pop, "error-invalid-link")
	s.noTokenRequestsSince(t, before, "the replayed redirect")

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

	assertHandoffPages(t, s.handoff.Base, pop)
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

// TestJourney6LocalHTTPS: local HTTPS with TLS_CERT_FILE / TLS_KEY_FILE.
func TestJourney6LocalHTTPS(t *testing.T) {
	s, end := newJourney(t, setupOptions{style: "post", https: makeCert(t)})
	defer end()
	if !strings.HasPrefix(s.handoff.Base, "https://") {
		t.Fatalf("handoff base %s", s.handoff.Base)
	}
	pop, st := s.runHappyLogin(t, "dave", "success-https")
	checkTokens(t, st)
	if !strings.HasPrefix(s.redirectURL(pop), "https://localhost:") {
		t.Errorf("redirect went to %s, want https", redactURL(s.redirectURL(pop)))
	}
	st = s.clickRefresh(t)
	if st.Refresh == nil || st.Refresh.Status != 200 || st.Refresh.JSON["access_token"] == nil {
		t.Fatalf("refresh over https: %+v", st.Refresh)
	}
	if info, code := s.prov.Userinfo(t, st.Refresh.JSON["access_token"].(string)); code != 200 || info["sub"] != "dave" {
		t.Errorf("userinfo: %d %v", code, info)
	}
	checkTokenRequests(t, s.prov.TokenRequests(t), postClientID, "post", "authorization_code", "refresh_token")
	assertHandoffPages(t, s.handoff.Base, pop)
}

// TestAutoAuthStyle: TOKEN_AUTH_STYLE=auto against a provider that only
// takes client_secret_post: handoff tries Basic, gets 401 invalid_client,
// and retries with the body.
func TestAutoAuthStyle(t *testing.T) {
	s, end := newJourney(t, setupOptions{style: "auto"})
	defer end()
	_, st := s.runHappyLogin(t, "erin", "")
	checkTokens(t, st)
	reqs := s.prov.TokenRequests(t)
	got := tokenRequestList(reqs)
	t.Logf("token endpoint saw %v", got)
	if len(reqs) < 2 || reqs[0].Auth != "basic" || reqs[0].Status != 401 || reqs[len(reqs)-1].Auth != "post" || reqs[len(reqs)-1].Status != 200 {
		t.Errorf("auto: token requests %v, want basic/401 then post/200", got)
	}
}
