package web_test

import (
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var (
	mainElem = regexp.MustCompile(`(?s)<main[^>]*>(.*)</main>`)
	anyTag   = regexp.MustCompile(`<[^>]*>`)
	spaces   = regexp.MustCompile(`\s+`)
)

// pageText is what a reader sees of a page: the text inside <main>, tags
// dropped, entities decoded, spaces collapsed.
func pageText(t *testing.T, body []byte) string {
	t.Helper()
	m := mainElem.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no <main> in the page:\n%s", body)
	}
	return strings.TrimSpace(spaces.ReplaceAllString(html.UnescapeString(anyTag.ReplaceAllString(string(m[1]), " ")), " "))
}

func outcomeOf(body []byte) string {
	m := regexp.MustCompile(`data-outcome="([^"]*)"`).FindSubmatch(body)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// TestRedirectProviderErrors: what GET /redirect shows, and /poll then
// reports, for each error a provider may send the user back with
// (docs/protocol.md#redirect). access_denied is a cancellation; every other
// code is the provider refusing the login, named, with a hint where the code
// means the app is misconfigured, never worded as a cancellation; the
// provider's description appears once, as text.
func TestRedirectProviderErrors(t *testing.T) {
	t.Parallel()
	const said = `Scope "admin" is <b>not</b> allowed & never was`
	cases := []struct {
		code     string
		outcome  string
		hint     string // a phrase of the hint on the page; "" for none
		pollCode string
	}{
		{"access_denied", "cancelled", "", "access_denied"},
		{"invalid_scope", "refused", "the app asks for a scope the provider does not allow: check SCOPE", "invalid_scope"},
		{"unauthorized_client", "refused", "the app is not allowed to log users in this way", "unauthorized_client"},
		{"invalid_request", "refused", "the login request was malformed: check CLIENT_ID, and that REDIRECT_URI", "invalid_request"},
		{"unsupported_response_type", "refused", "does not give this app authorization codes", "unsupported_response_type"},
		{"server_error", "refused", "the provider had an error of its own: try again in a moment", "server_error"},
		{"temporarily_unavailable", "refused", "try again in a moment", "temporarily_unavailable"},
		{"org_policy_blocked", "refused", "", "org_policy_blocked"},
	}
	type naming struct {
		name, plugin, provider     string
		title                      string // for a refusal
		notConnected, providerSaid string
	}
	namings := []naming{
		{"generic", "", "", "The provider refused the login", "Nothing was connected.", "The provider said:"},
		{"named", "Acme Sync", "Notion", "Notion refused the login", "Acme Sync is not connected.", "Notion said:"},
		// Names are written as given, even where a sentence starts.
		{"lower-case names", "iPhone Sync", "eBay", "eBay refused the login", "iPhone Sync is not connected.", "eBay said:"},
	}
	for _, n := range namings {
		s := start(t, setup{pluginName: n.plugin, providerName: n.provider})
		for _, c := range cases {
			for _, withDesc := range []bool{true, false} {
				name := n.name + "/" + c.code
				if !withDesc {
					name += "/no description"
				}
				t.Run(name, func(t *testing.T) {
					l := s.authorize()
					q := url.Values{"state": {l.State}, "error": {c.code}, "code": {"error-wins"}}
					if withDesc {
						q.Set("error_description", said)
					}
					r := s.do("GET", "/redirect?"+q.Encode(), nil)
					if r.status != 200 {
						t.Fatalf("status %d: %s", r.status, r.body)
					}
					if got := outcomeOf(r.body); got != c.outcome {
						t.Errorf("data-outcome %q, want %q", got, c.outcome)
					}
					text := pageText(t, r.body)
					if c.outcome == "cancelled" {
						checkPage(t, r, "Login cancelled")
						if !strings.Contains(text, "cancelled") {
							t.Errorf("cancelled page: %q", text)
						}
						if n.provider != "" && !strings.Contains(text, "cancelled at "+n.provider) {
							t.Errorf("cancelled page does not name %s: %q", n.provider, text)
						}
					} else {
						checkPage(t, r, n.title)
						if strings.Contains(strings.ToLower(text), "cancel") {
							t.Errorf("a refusal (%s) reads as a cancellation: %q", c.code, text)
						}
						if !strings.Contains(text, n.notConnected) {
							t.Errorf("refusal page lacks %q: %q", n.notConnected, text)
						}
						if !strings.Contains(string(r.body), "<code>"+c.code+"</code>") {
							t.Errorf("refusal page does not name the code %s:\n%s", c.code, r.body)
						}
						if c.hint != "" && !strings.Contains(text, c.hint) {
							t.Errorf("refusal page lacks the hint %q: %q", c.hint, text)
						}
						if c.hint == "" && strings.Contains(text, c.code+" —") {
							t.Errorf("a hint for %s, which says nothing about the setup: %q", c.code, text)
						}
					}
					// The provider's words: once, as text, introduced as theirs.
					wantSaid := 0
					if withDesc {
						wantSaid = 1
					}
					if got := strings.Count(text, said); got != wantSaid {
						t.Errorf("the provider's description appears %d times, want %d: %q", got, wantSaid, text)
					}
					if withDesc && !strings.Contains(text, n.providerSaid+" "+said) {
						t.Errorf("the description is not introduced by %q: %q", n.providerSaid, text)
					}
					if !withDesc && strings.Contains(text, " said:") {
						t.Errorf("a description box without a description: %q", text)
					}
					if strings.Contains(string(r.body), "<b>not</b>") {
						t.Errorf("the provider's markup is not escaped:\n%s", r.body)
					}
					// /poll: 410 with the code, and a description that matches.
					p := s.poll(l.ReadKey)
					checkError(t, p, 410, c.pollCode)
					desc, _ := p.json(t)["error_description"].(string)
					if c.outcome == "refused" {
						if strings.Contains(strings.ToLower(desc), "cancel") {
							t.Errorf("poll describes a refusal as a cancellation: %q", desc)
						}
						if !strings.Contains(desc, "refused the login ("+c.code+")") {
							t.Errorf("poll description %q does not name the refusal", desc)
						}
					} else if withDesc && desc != said {
						t.Errorf("poll description %q, want the provider's %q", desc, said)
					} else if !withDesc && !strings.Contains(desc, "cancelled") {
						t.Errorf("poll description %q for access_denied", desc)
					}
					if withDesc && strings.Count(desc, said) != 1 {
						t.Errorf("poll description %q has the provider's words %d times", desc, strings.Count(desc, said))
					}
				})
			}
		}
		if calls := s.prov.tokenCalls.Load(); calls != 0 {
			t.Errorf("%s: %d token requests for logins the provider ended", n.name, calls)
		}
	}
}

// TestRedirectExchangeRefusedHint: a code exchange refused for the app's
// credentials shows a 502 page naming the code and what to check; the
// provider's own description of that refusal is not shown.
func TestRedirectExchangeRefusedHint(t *testing.T) {
	t.Parallel()
	s := start(t, setup{pluginName: "Acme Sync", providerName: "Notion"})
	l := s.authorize()
	loc := s.consent(l)
	s.prov.setMode("raw", `{"error":"invalid_client","error_description":"secret QUOTED-SECRET is wrong"}`)
	r := s.do("GET", loc, nil)
	if r.status != 502 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	checkPage(t, r, "The login could not be completed")
	text := pageText(t, r.body)
	for _, want := range []string{"Notion refused to complete the login, so Acme Sync is not connected.", "Error: invalid_client — the provider refused the app's credentials: check CLIENT_ID, CLIENT_SECRET"} {
		if !strings.Contains(text, want) {
			t.Errorf("page lacks %q: %q", want, text)
		}
	}
	if strings.Contains(text, "QUOTED-SECRET") {
		t.Errorf("the provider's description of a refused exchange is on the page: %q", text)
	}
	checkError(t, s.poll(l.ReadKey), 410, "invalid_client")
}
