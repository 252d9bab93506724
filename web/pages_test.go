package web_test

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"handoff/web"
)

var (
	styleElem  = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
	scriptElem = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	anyScript  = regexp.MustCompile(`(?i)<script`)
	anyStyle   = regexp.MustCompile(`(?i)<style`)
)

// checkPage asserts an HTML page of SECURITY.md property 4: the security headers, a CSP
// allowing the page's one inline style (and script) by hash and nothing
// else, and text containing phrase.
func checkPage(t *testing.T, r response, phrase string) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	for h, want := range map[string]string{
		"Referrer-Policy":        "no-referrer",
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Cache-Control":          "no-store",
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	checkCSP(t, r)
	if text := html.UnescapeString(string(r.body)); !strings.Contains(text, phrase) {
		t.Errorf("page does not say %q:\n%s", phrase, r.body)
	}
}

// checkCSP checks the Content-Security-Policy against the served HTML: every
// inline <style> and <script> must be allowed by the sha256 of its exact
// content, and nothing may be loaded from elsewhere.
func checkCSP(t *testing.T, r response) {
	t.Helper()
	csp := r.header.Get("Content-Security-Policy")
	directives := map[string][]string{}
	for _, d := range strings.Split(csp, ";") {
		f := strings.Fields(d)
		if len(f) > 0 {
			directives[f[0]] = f[1:]
		}
	}
	if got := directives["default-src"]; len(got) != 1 || got[0] != "'none'" {
		t.Errorf("CSP %q: default-src must be 'none'", csp)
	}
	if got := directives["frame-ancestors"]; len(got) != 1 || got[0] != "'none'" {
		t.Errorf("CSP %q: frame-ancestors must be 'none'", csp)
	}
	for _, bad := range []string{"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:", "'strict-dynamic'"} {
		for name, srcs := range directives {
			for _, s := range srcs {
				if s == bad {
					t.Errorf("CSP %q: %s allows %s", csp, name, bad)
				}
			}
		}
	}
	body := string(r.body)
	check := func(directive string, elems *regexp.Regexp, all *regexp.Regexp) {
		t.Helper()
		found := elems.FindAllStringSubmatch(body, -1)
		if n := len(all.FindAllString(body, -1)); n != len(found) {
			t.Errorf("%d %s elements, %d of them plain: a tag with attributes escapes this check", n, directive, len(found))
		}
		allowed := directives[directive]
		if len(found) == 0 {
			if len(allowed) > 0 {
				t.Errorf("CSP %s %v for a page without one", directive, allowed)
			}
			return
		}
		for _, m := range found {
			sum := sha256.Sum256([]byte(m[1]))
			want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
			ok := false
			for _, a := range allowed {
				ok = ok || a == want
			}
			if !ok {
				t.Errorf("CSP %s %v does not allow the served element (hash %s)", directive, allowed, want)
			}
		}
		for _, a := range allowed {
			if !strings.HasPrefix(a, "'sha256-") {
				t.Errorf("CSP %s allows %s: only hashes", directive, a)
			}
		}
	}
	check("style-src", styleElem, anyStyle)
	check("script-src", scriptElem, anyScript)
	if strings.Contains(body, " style=") || regexp.MustCompile(`(?i)\son[a-z]+=`).MatchString(body) {
		t.Error("inline style or event handler attributes, which the CSP blocks")
	}
	if regexp.MustCompile(`(?i)(src|href)=["']?(https?:)?//`).MatchString(body) {
		t.Error("the page loads something from elsewhere")
	}
}

// TestPagesHeaders walks every page of the redirect route and the demo page.
func TestPagesHeaders(t *testing.T) {
	t.Parallel()
	s := start(t, setup{})
	l := s.authorize()
	st := l.State
	checkPage(t, s.do("GET", "/redirect?state=x&code=y", nil), "start the login again from the plugin")
	checkPage(t, s.do("GET", "/redirect?error=access_denied&error_description=no&state="+st, nil), "cancelled")
	checkPage(t, s.do("GET", s.consent(s.authorize()), nil), "You're authenticated")

	d := start(t, setup{demo: true})
	r := d.do("GET", "/", nil)
	if r.status != 200 {
		t.Fatalf("demo page: %d", r.status)
	}
	checkPage(t, r, "DEMO MODE")
	if !scriptElem.MatchString(string(r.body)) {
		t.Error("the demo page has no script")
	}
	csp := r.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("demo CSP %q: the page's script must be able to call handoff", csp)
	}
}

// TestPagesName: the success and error pages name the plugin (PLUGIN_NAME)
// and the provider (the preset's name) when they are known, and fall back to
// generic wording; the success page says what happened once, in its title,
// and what to do next in its message (docs/protocol.md#redirect).
func TestPagesName(t *testing.T) {
	t.Parallel()
	cases := []struct {
		plugin, provider string
		title            string
		invalid          string // a phrase of the invalid-link page
	}{
		{"Acme Sync", "Notion", "Acme Sync is now connected to Notion", "so Acme Sync is not connected. Close this window and start the login again from Acme Sync."},
		{"Acme Sync", "", "Acme Sync is now connected", "start the login again from Acme Sync."},
		{"", "Notion", "You're authenticated with Notion", "so nothing was connected. Close this window and start the login again from the plugin."},
		{"", "", "You're authenticated", "start the login again from the plugin."},
	}
	for _, c := range cases {
		t.Run(c.title, func(t *testing.T) {
			t.Parallel()
			s := start(t, setup{pluginName: c.plugin, providerName: c.provider, timeout: 300 * time.Millisecond})
			r := s.do("GET", s.consent(s.authorize()), nil)
			if r.status != 200 || outcomeOf(r.body) != "authenticated" {
				t.Fatalf("success: %d %s", r.status, r.body)
			}
			checkPage(t, r, c.title)
			text := pageText(t, r.body)
			if want := "✓ " + c.title + " You can close this window and return to Framer."; text != want {
				t.Errorf("success page reads %q, want %q", text, want)
			}
			if !strings.Contains(string(r.body), "<title>"+html.EscapeString(c.title)+"</title>") {
				t.Errorf("the document title is not %q:\n%s", c.title, r.body)
			}
			if c.provider == "" && strings.Contains(text, "Notion") || c.plugin == "" && strings.Contains(text, "Acme") {
				t.Errorf("a name that is not set: %q", text)
			}
			r = s.do("GET", "/redirect?state=forged&code=x", nil)
			if r.status != 400 || !strings.Contains(pageText(t, r.body), c.invalid) {
				t.Errorf("invalid link page: %d %q, want %q", r.status, pageText(t, r.body), c.invalid)
			}
			s.prov.setMode("slow", "")
			l := s.authorize()
			r = s.do("GET", s.consent(l), nil)
			s.prov.setMode("", "")
			if c.provider != "" && (r.status != 504 || !strings.Contains(pageText(t, r.body), c.provider+" took too long to answer")) {
				t.Errorf("timeout page: %d %q", r.status, pageText(t, r.body))
			}
		})
	}
}

// TestPagesPerApp: with several apps on one server, each app's pages name
// its own plugin and provider, however often and in whatever order they are
// served: the rendered pages are kept per app, never shared across apps.
func TestPagesPerApp(t *testing.T) {
	t.Parallel()
	all := []struct{ name, plugin, provider, title string }{
		{"acme", "Acme Sync", "Notion", "Acme Sync is now connected to Notion"},
		{"sheets", "Sheets Import", "Google", "Sheets Import is now connected to Google"},
		{"plain", "", "", "You're authenticated"},
	}
	var apps []web.App
	for _, a := range all {
		apps = append(apps, web.App{Name: a.name, CORS: web.CORS{ParentDomain: parentDomain}, PluginName: a.plugin, ProviderName: a.provider})
	}
	root := startApps(t, apps...)

	for round := range 3 {
		for _, a := range all {
			s := &server{t: t, base: root.base + "/" + a.name, prov: root.prov, client: root.client}
			r := s.do("GET", s.consent(s.authorize()), nil)
			if got := pageText(t, r.body); !strings.Contains(got, a.title) {
				t.Errorf("round %d, app %s: success page %q, want %q", round, a.name, got, a.title)
			}
			r = s.do("GET", "/redirect?state=forged", nil)
			text := pageText(t, r.body)
			for _, other := range all {
				if other.plugin != "" && other.plugin != a.plugin && strings.Contains(text, other.plugin) {
					t.Errorf("round %d, app %s: its page names %s: %q", round, a.name, other.plugin, text)
				}
			}
			if a.plugin != "" && !strings.Contains(text, "from "+a.plugin+".") {
				t.Errorf("round %d, app %s: invalid link page %q", round, a.name, text)
			}
		}
	}
}
