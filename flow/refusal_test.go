package flow

import (
	"context"
	"strings"
	"testing"
)

// TestRefused: a provider error other than access_denied at the redirect is
// the provider refusing the login, never a cancellation. The code is named,
// a code that means the app is misconfigured carries a hint, the provider's
// description appears once, and /poll reports the same code and description
// (docs/protocol.md#redirect).
func TestRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, code, said string
		wantCode         string
		wantHint         string // a phrase of the hint; "" for no hint
	}{
		{"invalid_scope", "invalid_scope", "scope 'admin' is not allowed", "invalid_scope", "check SCOPE"},
		{"unauthorized_client", "unauthorized_client", "", "unauthorized_client", "not allowed to log users in"},
		{"invalid_request", "invalid_request", "redirect_uri mismatch", "invalid_request", "check CLIENT_ID, and that REDIRECT_URI"},
		{"unsupported_response_type", "unsupported_response_type", "", "unsupported_response_type", "provider's console"},
		{"server_error", "server_error", "Something went wrong", "server_error", "try again in a moment"},
		{"temporarily_unavailable", "temporarily_unavailable", "", "temporarily_unavailable", "try again in a moment"},
		{"consent_required", "consent_required", "", "consent_required", "prompt=none"},
		{"a provider's own code", "org_policy_blocked", "Your admin blocked this app", "org_policy_blocked", ""},
		{"a code with a quote", `bad"code`, "a weird answer", "server_error", "try again in a moment"},
		{"an overlong code", strings.Repeat("e", 65), "", "server_error", "try again in a moment"},
		{"a long description, bounded", "invalid_scope", strings.Repeat("é", 400), "invalid_scope", "check SCOPE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f, b, l, err := redirectWithError(t, c.code, c.said)
			e := ferr(t, err, KindRefused, c.wantCode)
			if c.wantHint == "" && e.Hint != "" || !strings.Contains(e.Hint, c.wantHint) {
				t.Errorf("hint %q, want one with %q", e.Hint, c.wantHint)
			}
			said := truncate(c.said, 300)
			if e.ProviderSaid != said {
				t.Errorf("ProviderSaid %q, want the provider's description %q", e.ProviderSaid, said)
			}
			d := e.Description
			if strings.Contains(strings.ToLower(d), "cancel") {
				t.Errorf("a refusal described as a cancellation: %q", d)
			}
			if !strings.Contains(d, "refused the login") {
				t.Errorf("description %q does not say the provider refused the login", d)
			}
			if c.wantCode == c.code && !strings.Contains(d, "("+c.code+")") {
				t.Errorf("description %q does not name the code %s", d, c.code)
			}
			if e.Hint != "" && !strings.Contains(d, e.Hint) {
				t.Errorf("description %q lacks the hint %q", d, e.Hint)
			}
			if said != "" && strings.Count(d, said) != 1 {
				t.Errorf("description %q has the provider's description %d times, want once", d, strings.Count(d, said))
			}
			if len(d) > 800 {
				t.Errorf("description of %d bytes", len(d))
			}
			for range 2 { // later polls answer the same
				pe := pollErr(t, b, l.ReadKey, KindGone, c.wantCode)
				if pe.Description != e.Description {
					t.Errorf("poll description %q, want the redirect's %q", pe.Description, e.Description)
				}
			}
			if f.hits.Load() != 0 {
				t.Errorf("%d token requests after a refused login", f.hits.Load())
			}
		})
	}
}

// TestExchangeHint: a code exchange the provider refuses because of the
// app's credentials carries a hint naming the variables to check; one it
// refuses for the code itself (invalid_grant) carries none.
func TestExchangeHint(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name               string
		status             int
		body               string
		wantCode, wantHint string
	}{
		{"invalid_client", 401, `{"error":"invalid_client"}`, "invalid_client", "CLIENT_SECRET"},
		{"unauthorized_client", 400, `{"error":"unauthorized_client"}`, "unauthorized_client", "provider's console"},
		{"invalid_grant", 400, `{"error":"invalid_grant","error_description":"code expired"}`, "invalid_grant", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, reply(c.status, "application/json", c.body))
			b := newBroker(t, f.config(Config{PKCE: true}))
			l := b.Authorize()
			q := approve(t, l.URL)
			e := ferr(t, b.Redirect(context.Background(), Callback{State: q.Get("state"), Code: q.Get("code")}), KindProviderRejected, c.wantCode)
			if c.wantHint == "" && e.Hint != "" || !strings.Contains(e.Hint, c.wantHint) {
				t.Errorf("hint %q, want one with %q", e.Hint, c.wantHint)
			}
			pollErr(t, b, l.ReadKey, KindGone, c.wantCode)
		})
	}
}

// TestCancelled: access_denied at the redirect is a cancellation, reported
// by /poll with the provider's description (or one that says cancelled).
func TestCancelled(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, errParam, desc string
		wantCode, wantDesc   string
	}{
		{"access_denied", "access_denied", "The user denied the request.", "access_denied", "The user denied the request."},
		{"no description", "access_denied", "", "access_denied", "the login was cancelled at the provider"},
		{"long description bounded", "access_denied", strings.Repeat("é", 400), "access_denied", ""},
		// Any other code is a refusal: TestRefused.
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f, b, l, err := redirectWithError(t, c.errParam, c.desc)
			e := ferr(t, err, KindCancelled, c.wantCode)
			pe := pollErr(t, b, l.ReadKey, KindGone, c.wantCode)
			if c.wantDesc != "" && (e.Description != c.wantDesc || pe.Description != c.wantDesc) {
				t.Errorf("descriptions %q / %q, want %q", e.Description, pe.Description, c.wantDesc)
			}
			if pe.Description == "" || len(pe.Description) > 310 {
				t.Errorf("description %d bytes", len(pe.Description))
			}
			if f.hits.Load() != 0 {
				t.Errorf("%d token requests after a cancelled login", f.hits.Load())
			}
			// Later polls answer the same.
			pollErr(t, b, l.ReadKey, KindGone, c.wantCode)
		})
	}
	t.Run("no code and no error", func(t *testing.T) {
		t.Parallel()
		f, b := grantingFake(t, Config{})
		l := b.Authorize()
		q := approve(t, l.URL)
		ferr(t, b.Redirect(context.Background(), Callback{State: q.Get("state")}), KindInvalidRequest, "invalid_request")
		pollErr(t, b, l.ReadKey, KindGone, "invalid_request")
		if f.hits.Load() != 0 {
			t.Error("token request without a code")
		}
	})
}

// redirectWithError starts a login at a fake provider that would grant it
// and comes back to the redirect with the provider's error (and a code,
// which the error must win over). It returns Redirect's error.
func redirectWithError(t *testing.T, code, description string) (*fakeProvider, *Broker, Login, error) {
	t.Helper()
	f, b := grantingFake(t, Config{PKCE: true})
	l := b.Authorize()
	q := approve(t, l.URL)
	err := b.Redirect(context.Background(), Callback{State: q.Get("state"), Code: q.Get("code"), Error: code, ErrorDescription: description})
	return f, b, l, err
}
