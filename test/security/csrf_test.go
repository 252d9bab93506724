package security

// Login CSRF / code injection (issue 3, property 3): an attacker who gets a
// code from their own login and submits it with a victim's state must not
// make handoff deliver the attacker's tokens to the victim's read key. The
// PKCE verifier sealed in the victim's state does not match the challenge the
// attacker's code is bound to, so a provider that enforces PKCE refuses the
// exchange. The provider here is internal/mockprovider, an independent strict
// implementation, with RequirePKCE (codes are single use).

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"handoff/internal/mockprovider"
	"handoff/internal/testkit"
)

func TestInjectedCodeIsRefusedByPKCE(t *testing.T) {
	p := newFakeProvider(t, &testkit.Secrets{}, func(o *mockprovider.Options) { o.RequirePKCE = true })
	h := startHandoff(t, p, nil)
	consent := func(l login) url.Values {
		t.Helper()
		u, err := url.Parse(h.client.consent(t, l, false))
		if err != nil {
			t.Fatal(err)
		}
		return u.Query()
	}

	// The attacker logs in with their own account, keeps the code and never
	// lets it reach handoff.
	attacker := h.authorize(t)
	attackerCode := consent(attacker).Get("code")

	// The victim starts a login; the attacker gets the victim's browser to
	// the callback with the victim's state and the attacker's code.
	victim := h.authorize(t)
	r := h.client.get(t, h.redirectURL(url.Values{"state": {victim.state}, "code": {attackerCode}}))
	wantPage(t, "victim's state with the attacker's code", r, http.StatusBadGateway, "provider_error")
	if n := p.TokenRequests(); n != 1 {
		t.Errorf("the provider saw %d token requests, want 1 (refused)", n)
	}
	r = h.poll(t, victim.readKey)
	wantCode(t, "victim's poll", r, http.StatusGone, "invalid_grant")
	if strings.Contains(r.body, "access_token") {
		t.Fatalf("the victim's read key got tokens: %v", r)
	}
	wantCode(t, "the attacker's own poll", h.poll(t, attacker.readKey), http.StatusNotFound, "authorization_pending")

	// The refused exchange spent the attacker's code at the provider (codes
	// are single use) and the victim's state at handoff: neither can be
	// tried again.
	r = h.client.get(t, h.redirectURL(url.Values{"state": {attacker.state}, "code": {attackerCode}}))
	wantPage(t, "the attacker's code with their own state, after the attack", r, http.StatusBadGateway, "provider_error")
	wantCode(t, "the attacker's poll", h.poll(t, attacker.readKey), http.StatusGone, "invalid_grant")
	victimCode := consent(victim).Get("code")
	r = h.client.get(t, h.redirectURL(url.Values{"state": {victim.state}, "code": {victimCode}}))
	wantPage(t, "the victim's own code after the attack", r, http.StatusBadRequest, "invalid")

	// A clean login on the same server still works end to end.
	l := h.authorize(t)
	q := consent(l)
	r = h.client.get(t, h.redirectURL(q))
	wantPage(t, "a clean login", r, http.StatusOK, "authenticated")
	if r := h.poll(t, l.readKey); r.status != http.StatusOK {
		t.Errorf("poll of a clean login: %v", r)
	}
}
