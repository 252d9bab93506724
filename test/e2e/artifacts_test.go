//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// Artifacts: screenshots and each tab's console, in test/e2e/artifacts/.

var artifactsDir = filepath.Join(e2eDir, "artifacts")

// screenshotDark is screenshot with the page in the dark colour scheme
// (prefers-color-scheme: dark), which it then turns off again.
func screenshotDark(t *testing.T, b *browser, tb *tab, name string) {
	t.Helper()
	set := func(scheme string) error {
		ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
		defer cancel()
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	}
	if err := set("dark"); err != nil {
		t.Errorf("dark scheme for %s: %v", name, err)
		return
	}
	defer set("")
	screenshot(t, b, tb, name)
}

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
