package web_test

import (
	"encoding/json"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)

// TestDemo: with Options.Demo, GET / is the demo page and the whole flow runs
// through the mock provider mounted at /mock, consent form included (docs/protocol.md#demo-mode).
func TestDemo(t *testing.T) {
	t.Parallel()
	s := start(t, setup{demo: true})

	r := s.do("GET", "/", nil)
	if r.status != 200 || !strings.Contains(string(r.body), "DEMO MODE") {
		t.Fatalf("GET /: %d\n%s", r.status, r.body)
	}
	checkPage(t, r, "handoff demo")
	// Cancel is there, hidden until a login waits (demo.js shows it).
	if !strings.Contains(string(r.body), `<button id="cancel" type="button" class="secondary" hidden>Cancel</button>`) {
		t.Errorf("the demo page has no hidden Cancel button:\n%s", r.body)
	}
	if r := s.do("GET", "/healthz", nil); r.status != 200 {
		t.Errorf("healthz in demo mode: %d", r.status)
	}

	for _, decision := range []string{"approve", "deny"} {
		t.Run(decision, func(t *testing.T) {
			l := s.authorize()
			if !strings.HasPrefix(l.URL, s.base+"/mock/authorize?") {
				t.Fatalf("login URL %s is not the mounted mock", l.URL)
			}
			consent := s.do("GET", l.URL, nil)
			if consent.status != 200 || !strings.Contains(string(consent.body), "MOCK PROVIDER") {
				t.Fatalf("consent page: %d\n%s", consent.status, consent.body)
			}
			form := url.Values{"decision": {decision}, "username": {"ada"}}
			for _, m := range hiddenInput.FindAllStringSubmatch(string(consent.body), -1) {
				form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
			}
			if form.Get("state") != l.State {
				t.Fatalf("consent form lost the state: %v", form)
			}
			back := s.do("POST", s.base+"/mock/authorize", strings.NewReader(form.Encode()),
				"Content-Type", "application/x-www-form-urlencoded")
			loc := back.header.Get("Location")
			if back.status != 302 || !strings.HasPrefix(loc, s.base+"/redirect?") {
				t.Fatalf("consent answer: %d Location %q", back.status, loc)
			}
			page := s.do("GET", loc, nil)
			p := s.poll(l.ReadKey)
			if decision == "deny" {
				if page.status != 200 {
					t.Fatalf("redirect: %d", page.status)
				}
				checkPage(t, page, "cancelled")
				checkError(t, p, 410, "access_denied")
				return
			}
			checkPage(t, page, "You're authenticated")
			if p.status != 200 {
				t.Fatalf("poll: %d %s", p.status, p.body)
			}
			var tok struct {
				AccessToken, RefreshToken string
			}
			var m map[string]any
			if err := json.Unmarshal(p.body, &m); err != nil {
				t.Fatal(err)
			}
			tok.AccessToken, _ = m["access_token"].(string)
			tok.RefreshToken, _ = m["refresh_token"].(string)
			ui := s.do("GET", "/mock/userinfo", nil, "Authorization", "Bearer "+tok.AccessToken)
			if ui.status != 200 || !strings.Contains(string(ui.body), `"ada"`) {
				t.Errorf("userinfo: %d %s", ui.status, ui.body)
			}
			// The demo page's refresh button posts a form body.
			rr := s.do("POST", "/refresh", strings.NewReader(url.Values{"refresh_token": {tok.RefreshToken}}.Encode()),
				"Content-Type", "application/x-www-form-urlencoded")
			if rr.status != 200 || !strings.Contains(string(rr.body), "access_token") {
				t.Errorf("refresh: %d %s", rr.status, rr.body)
			}
		})
	}
}
