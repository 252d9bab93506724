package testkit

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"handoff/internal/mockprovider"
)

// Consent gets through a provider that decides at once and through
// mockprovider's consent page, approving or denying, and collects the code.
func TestConsent(t *testing.T) {
	const redirect = "http://127.0.0.1:1/redirect"
	for _, c := range []struct {
		name        string
		autoApprove bool
		approve     bool
		want        string // the parameter the provider sends back
	}{
		{"decides at once", true, true, "code"},
		{"consent page, approved", false, true, "code"},
		{"consent page, denied", false, false, "error"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(mockprovider.New(mockprovider.Options{ClientID: "c", ClientSecret: "s", AutoApprove: c.autoApprove}))
			defer srv.Close()
			secrets := &Secrets{}
			p := &Plugin{Secrets: secrets}
			q := url.Values{"client_id": {"c"}, "response_type": {"code"}, "redirect_uri": {redirect}, "state": {"st-1"}}
			back, err := p.Consent(Login{URL: srv.URL + "/authorize?" + q.Encode()}, c.approve)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(back)
			if err != nil || !strings.HasPrefix(back, redirect+"?") || u.Query().Get("state") != "st-1" || u.Query().Get(c.want) == "" {
				t.Fatalf("sent back to %q, want %s?…%s=…&state=st-1", back, redirect, c.want)
			}
			if code := u.Query().Get("code"); code != "" && len(secrets.Leaks(code)) != 1 {
				t.Errorf("the code was not collected as a secret")
			}
		})
	}
}

// Leaks finds any 16 characters of a secret in a row, and nothing shorter.
func TestLeaks(t *testing.T) {
	s := &Secrets{}
	s.Add("0123456789abcdefghij", "short", "")
	for text, want := range map[string]int{
		"nothing here":                   0,
		"…3456789abcdefghi…":             1, // 16 characters of the long one
		"…3456789abcdefgh…":              0, // 15
		"a short one":                    1,
		"0123456789abcdefghij and short": 2,
	} {
		if got := len(s.Leaks(text)); got != want {
			t.Errorf("Leaks(%q): %d, want %d", text, got, want)
		}
	}
	var none *Secrets
	none.Add("x")
	if none.Leaks("x") != nil {
		t.Error("a nil Secrets found a leak")
	}
}
