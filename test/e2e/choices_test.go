//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// TestJourney9ChosenScope: the plugin chooses its scopes
// (docs/protocol.md#authorize), retries a refresh whose answer it lost
// (#refresh), and logs out (#revoke).
func TestJourney9ChosenScope(t *testing.T) {
	// SCOPE asks for the profile; the app allows email too, and revokes at
	// the provider's revocation endpoint.
	s, end := newJourney(t, setupOptions{
		style: "basic",
		env:   map[string]string{"ALLOWED_SCOPES": "openid offline_access profile email"},
		providerEnv: func(p *oidcProvider) map[string]string {
			if p.Discovery.RevocationEndpoint == "" {
				t.Fatal("the provider's discovery names no revocation endpoint")
			}
			return map[string]string{"REVOKE_ENDPOINT": p.Discovery.RevocationEndpoint}
		},
	})
	defer end()

	// A scope the app does not allow: 400 naming it, readable by the plugin
	// (CORS), before anything reaches the provider.
	refused, err := evalAsync[fetchResult](s.plugin, `authorizeWith("scope=openid admin")`)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := refused.JSON["error_description"].(string); refused.Status != 400 || refused.JSON["error"] != "invalid_request" || !strings.HasPrefix(d, "scope: ") {
		t.Errorf("a scope beyond ALLOWED_SCOPES: %d %s", refused.Status, refused.Text)
	}

	// The login asks for email instead of the profile.
	if _, err := evalAsync[string](s.plugin, `Promise.resolve(window.plugin.choices = "scope=openid offline_access email")`); err != nil {
		t.Fatal(err)
	}
	_, st := s.runHappyLogin(t, "carol", "")
	if got := queryParam(st.AuthorizeURL, "scope"); got != "openid offline_access email" {
		t.Errorf("authorize URL scope %q, want exactly the chosen words", got)
	}
	if got, _ := st.Tokens["scope"].(string); !strings.Contains(got, "email") || strings.Contains(got, "profile") {
		t.Errorf("the provider granted %q, want email and not profile", got)
	}
	access, _ := st.Tokens["access_token"].(string)
	info, code := s.prov.Userinfo(t, access)
	if code != 200 || info["email"] != "carol@example.test" || info["name"] != nil {
		t.Errorf("userinfo: %d %v, want the email and no profile claims", code, info)
	}

	// A refresh, then the same (now rotated) token again, as a plugin whose
	// answer was lost: the same answer, and one refresh at the provider.
	refresh, _ := st.Tokens["refresh_token"].(string)
	first, err := evalAsync[fetchResult](s.plugin, `refreshWith(window.plugin.tokens.refresh_token)`)
	if err != nil {
		t.Fatal(err)
	}
	again, err := evalAsync[fetchResult](s.plugin, `refreshWith(window.plugin.tokens.refresh_token)`)
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != 200 || again.Status != 200 || first.Text != again.Text {
		t.Errorf("refresh, then again with the same token: %d %s / %d %s", first.Status, first.Text, again.Status, again.Text)
	}
	checkTokenRequests(t, s.prov.TokenRequests(t), basicClientID, "basic", "authorization_code", "refresh_token")
	newRefresh, _ := first.JSON["refresh_token"].(string)
	if newRefresh == "" || newRefresh == refresh {
		t.Fatalf("the provider did not rotate the refresh token: %v", keys(first.JSON))
	}

	// Log out: /revoke at the provider's revocation endpoint; the revoked
	// refresh token is then refused.
	out, err := evalAsync[fetchResult](s.plugin, `revokeWith(`+jsString(newRefresh)+`, "refresh_token")`)
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != 200 || out.Text != "{}" {
		t.Errorf("revoke: %d %s", out.Status, out.Text)
	}
	after, err := evalAsync[fetchResult](s.plugin, `refreshWith(`+jsString(newRefresh)+`)`)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != 400 || after.JSON["error"] != "invalid_grant" {
		t.Errorf("refresh after revoke: %d %s, want 400 invalid_grant", after.Status, after.Text)
	}

	assertNotInLog(t, s.handoff, map[string]string{
		"client secret":     basicClientSecret,
		"access token":      access,
		"refresh token":     refresh,
		"rotated refresh":   newRefresh,
		"read key":          st.ReadKey,
		"state":             queryParam(st.AuthorizeURL, "state"),
		"refreshed access":  first.JSON["access_token"].(string),
		"revoked refreshed": newRefresh,
	})
}

// jsString quotes s for a JavaScript expression.
func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
