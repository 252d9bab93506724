//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// ---------------------------------------------------------------------------
// Artifacts.

var artifactsDir = filepath.Join(e2eDir, "artifacts")

// screenshot saves a PNG of the tab to test/e2e/artifacts/NAME.png, and, for
// handoff's pages (names not starting with "plugin-"), to docs/screenshots/
// with E2E_UPDATE_SCREENSHOTS=1.
func screenshot(t *testing.T, b *browser, tb *tab, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	// A tab that is not in front gets no frames: bring it forward first.
	if c := chromedp.FromContext(tb.ctx); c != nil && c.Target != nil {
		_, _ = chromedp.CallBrowser(ctx, target.ActivateTarget, target.ActivateTargetParams{TargetID: c.Target.TargetID})
	}
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		t.Errorf("artifacts: %v", err)
		return
	}
	p := filepath.Join(artifactsDir, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Errorf("artifacts: %v", err)
		return
	}
	t.Logf("screenshot %s (%d bytes)", p, len(buf))
	// handoff's own pages become docs; the test plugin's page does not.
	if os.Getenv("E2E_UPDATE_SCREENSHOTS") == "1" && !strings.HasPrefix(name, "plugin-") {
		docs := filepath.Join(repoRoot, "docs", "screenshots")
		if err := os.MkdirAll(docs, 0o755); err == nil {
			if err := os.WriteFile(filepath.Join(docs, name+".png"), buf, 0o644); err != nil {
				t.Errorf("docs screenshot: %v", err)
			}
		}
	}
}

// writeConsoleArtifact saves every tab's console and documents to
// test/e2e/artifacts/TEST.console.txt (codes and tokens in URLs shortened).
func writeConsoleArtifact(t *testing.T, tabs []*tab) {
	var b strings.Builder
	for _, tb := range tabs {
		fmt.Fprintf(&b, "== tab %s\n", tb.name)
		for _, d := range tb.Docs() {
			fmt.Fprintf(&b, "document %d %s\n", d.Status, redactURL(d.URL))
		}
		for _, m := range tb.Console() {
			fmt.Fprintf(&b, "%s\n", redactText(m))
		}
	}
	if err := os.MkdirAll(artifactsDir, 0o755); err == nil {
		name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
		_ = os.WriteFile(filepath.Join(artifactsDir, name+".console.txt"), []byte(b.String()), 0o644)
	}
}

// ---------------------------------------------------------------------------
// Checks.

// assertPageHeaders checks the headers of SECURITY.md property 4 on every main-frame HTML
// document that handoff served in the tab (URL prefix base).
func assertPageHeaders(t *testing.T, tb *tab, base string) {
	t.Helper()
	n := 0
	for _, d := range tb.Docs() {
		if !strings.HasPrefix(d.URL, base) {
			continue
		}
		n++
		h := d.Headers
		where := fmt.Sprintf("%d %s", d.Status, redactURL(d.URL))
		csp := h["content-security-policy"]
		if csp == "" {
			t.Errorf("%s: no Content-Security-Policy", where)
		} else if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "*") {
			t.Errorf("%s: CSP not strict: %s", where, csp)
		}
		for name, want := range map[string]string{
			"referrer-policy":        "no-referrer",
			"x-content-type-options": "nosniff",
			"x-frame-options":        "DENY",
		} {
			if !strings.EqualFold(strings.TrimSpace(h[name]), want) {
				t.Errorf("%s: %s %q, want %q", where, name, h[name], want)
			}
		}
	}
	if n == 0 {
		t.Errorf("no handoff page (%s) seen in tab %q", base, tb.name)
	}
}

var cspRe = regexp.MustCompile(`(?i)content security policy|CSP violation`)

// assertNoCSPViolations fails on any CSP message in the tabs' consoles. The
// provider's pages and the plugin page have no CSP, so any is handoff's.
func assertNoCSPViolations(t *testing.T, tabs ...*tab) {
	t.Helper()
	for _, tb := range tabs {
		for _, m := range tb.Console() {
			if cspRe.MatchString(m) {
				t.Errorf("CSP violation in tab %q: %s", tb.name, m)
			}
		}
	}
}

// assertNotInLog fails when handoff's log holds any of the secrets.
func assertNotInLog(t *testing.T, h *handoffServer, secrets map[string]string) {
	t.Helper()
	logText := h.Log()
	for name, v := range secrets {
		if len(v) < 8 {
			continue
		}
		if strings.Contains(logText, v) {
			t.Errorf("handoff's log contains the %s (SECURITY.md, property 1)", name)
		}
	}
}

var secretParamRe = regexp.MustCompile(`((?:readKey|code|state|refresh_token|access_token|code_challenge)=)([A-Za-z0-9_.~%-]{6})[A-Za-z0-9_.~%-]*`)

// redactText shortens codes, states, read keys and tokens in URLs inside text.
func redactText(s string) string {
	return secretParamRe.ReplaceAllString(s, "${1}${2}…")
}

// redactURL shortens query values so that logs of a failing test carry no
// codes or tokens in full.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.RawQuery == "" {
		return s
	}
	q := u.Query()
	for k, vs := range q {
		for i, v := range vs {
			if len(v) > 12 && k != "redirect_uri" && k != "iss" && k != "error_description" {
				vs[i] = v[:6] + "…"
			}
		}
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// queryParam returns a parameter of a URL's query.
func queryParam(s, name string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Query().Get(name)
}

// journey times one test and logs it in a form the report can collect.
func journey(t *testing.T) func() {
	handoffBinary(t) // the build is shared, and not part of a journey's time
	start := time.Now()
	return func() {
		status := "ok"
		if t.Failed() {
			status = "FAILED"
		}
		t.Logf("JOURNEY %s %s in %v (shared handoff build: %v)", t.Name(), status, time.Since(start).Round(10*time.Millisecond), buildTime.Round(10*time.Millisecond))
	}
}
