//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// The browser: headless Chromium driven over CDP (chromedp), its tabs and
// what they recorded, and the waits and actions on a page.

type browser struct {
	t      *testing.T
	ctx    context.Context // the first tab
	cancel context.CancelFunc
	tabs   []*tab
	mu     sync.Mutex
}

// tab records what a page did: console messages, documents and their statuses.
type tab struct {
	name string
	ctx  context.Context
	mu   sync.Mutex
	// console and browser-log messages, "type: text (url)"
	console []string
	// main-frame document responses, in order
	docs []docResponse
}

type docResponse struct {
	URL     string
	Status  int64
	Headers map[string]string // lower-case names
}

func (tb *tab) addConsole(s string) {
	tb.mu.Lock()
	tb.console = append(tb.console, s)
	tb.mu.Unlock()
}

// Console is what the tab logged so far.
func (tb *tab) Console() []string { return copyLocked(&tb.mu, &tb.console) }

// Docs are the tab's main-frame documents so far.
func (tb *tab) Docs() []docResponse { return copyLocked(&tb.mu, &tb.docs) }

// copyLocked copies a slice that another goroutine appends to under mu.
func copyLocked[T any](mu *sync.Mutex, s *[]T) []T {
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(*s)
}

// LastDoc is the last main-frame document whose URL starts with prefix
// (the zero docResponse if none).
func (tb *tab) LastDoc(prefix string) docResponse {
	docs := tb.Docs()
	for i := len(docs) - 1; i >= 0; i-- {
		if strings.HasPrefix(docs[i].URL, prefix) {
			return docs[i]
		}
	}
	return docResponse{}
}

// DocStatus is the status of the last main-frame document whose URL starts
// with prefix, or 0.
func (tb *tab) DocStatus(prefix string) int64 { return tb.LastDoc(prefix).Status }

func (tb *tab) listener(ev any) {
	switch ev := ev.(type) {
	case *network.EventResponseReceived:
		if ev.Type == network.ResourceTypeDocument && ev.Response != nil {
			tb.mu.Lock()
			h := map[string]string{}
			for k, v := range ev.Response.Headers {
				h[strings.ToLower(k)] = fmt.Sprint(v)
			}
			tb.docs = append(tb.docs, docResponse{URL: ev.Response.URL, Status: ev.Response.Status, Headers: h})
			tb.mu.Unlock()
		}
	case *cdplog.EventEntryAdded:
		if e := ev.Entry; e != nil {
			tb.addConsole(fmt.Sprintf("log.%s [%s]: %s (%s)", e.Level, e.Source, e.Text, e.URL))
		}
	case *cdpruntime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			if a == nil {
				continue
			}
			var s string
			if len(a.Value) > 0 && json.Unmarshal(a.Value, &s) == nil {
				parts = append(parts, s)
			} else if len(a.Value) > 0 {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		tb.addConsole(fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " ")))
	case *cdpruntime.EventExceptionThrown:
		if d := ev.ExceptionDetails; d != nil {
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			tb.addConsole(fmt.Sprintf("exception: %s (%s)", desc, d.URL))
		}
	}
}

// cspWatch reports securitypolicyviolation events on the console, where the
// tab's listener records them; it runs in every document of the tab.
const cspWatch = `(() => {
  document.addEventListener("securitypolicyviolation", (e) => {
    console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " in " + e.documentURI);
  });
})();`

func chromiumPath(t *testing.T) string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatalf("chromium not found: run .ci/e2e-setup.sh (apt-get install -y chromium) or set CHROMIUM")
	return ""
}

// newBrowser starts headless Chromium with a fresh profile. hostRules maps
// extra host names to loopback (--host-resolver-rules); spki trusts one
// certificate key (--ignore-certificate-errors-spki-list).
func newBrowser(t *testing.T, ctx context.Context, hostRules []string, spki string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("headless", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-popup-blocking", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(1000, 800),
		chromedp.UserDataDir(t.TempDir()),
	}
	if len(hostRules) > 0 {
		opts = append(opts, chromedp.Flag("host-resolver-rules", strings.Join(hostRules, ", ")))
	}
	if spki != "" {
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", spki))
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	b := &browser{t: t}
	first := &tab{name: "plugin"}
	tctx, tcancel := chromedp.NewContext(actx, chromedp.WithListener(first.listener),
		chromedp.WithLogf(func(string, ...any) {}), chromedp.WithErrorf(func(f string, a ...any) {
			// chromedp reports unhandled protocol noise here; keep it out of
			// the output unless the test fails.
			first.addConsole("chromedp: " + fmt.Sprintf(f, a...))
		}))
	first.ctx = tctx
	b.ctx = tctx
	b.cancel = func() { tcancel(); acancel() }
	b.tabs = append(b.tabs, first)
	if err := chromedp.Do(tctx); err != nil {
		b.cancel()
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(tctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch}); err != nil {
		t.Fatalf("install CSP watch: %v", err)
	}
	t.Cleanup(func() {
		writeConsoleArtifact(t, b.allTabs())
		if t.Failed() {
			for _, tb := range b.allTabs() {
				t.Logf("---- console of tab %q ----\n%s", tb.name, redactText(strings.Join(tb.Console(), "\n")))
				for _, d := range tb.Docs() {
					t.Logf("tab %q document %d %s", tb.name, d.Status, redactURL(d.URL))
				}
			}
		}
		b.cancel()
	})
	return b
}

func (b *browser) allTabs() []*tab {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*tab(nil), b.tabs...)
}

// Plugin is the first tab, where the plugin page runs.
func (b *browser) Plugin() *tab { return b.tabs[0] }

// clickAndCatchPopup clicks sel in tb and attaches to the window it opens.
func (b *browser) clickAndCatchPopup(tb *tab, sel string) (*tab, error) {
	ch := chromedp.WaitNewTarget(tb.ctx, func(info *target.Info) bool { return info.Type == "page" })
	if err := chromedp.Do(tb.ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		return nil, fmt.Errorf("click %s: %w", sel, err)
	}
	var id target.ID
	select {
	case v, ok := <-ch:
		if !ok {
			return nil, errors.New("no popup: the target was lost")
		}
		id = v
	case <-time.After(stepTimeout):
		return nil, fmt.Errorf("no popup opened within %v of clicking %s", stepTimeout, sel)
	}
	pop := &tab{name: "popup"}
	pctx, _ := chromedp.NewContext(b.ctx, chromedp.WithTargetID(id), chromedp.WithListener(pop.listener))
	pop.ctx = pctx
	if err := chromedp.Do(pctx); err != nil {
		return nil, fmt.Errorf("attach to popup: %w", err)
	}
	if _, err := chromedp.Call(pctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch}); err != nil {
		return nil, fmt.Errorf("install CSP watch in popup: %w", err)
	}
	b.mu.Lock()
	pop.name = fmt.Sprintf("popup%d", len(b.tabs))
	b.tabs = append(b.tabs, pop)
	b.mu.Unlock()
	return pop, nil
}

// navigate loads u in the tab.
func navigate(tb *tab, u string) error {
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	return chromedp.Do(ctx, chromedp.Navigate(u))
}

// openPages are the URLs of the browser's open pages (tabs and windows).
func openPages(tb *tab) ([]string, error) {
	infos, err := chromedp.Targets(tb.ctx)
	if err != nil {
		return nil, err
	}
	var urls []string
	for _, i := range infos {
		if i.Type == "page" {
			urls = append(urls, i.URL)
		}
	}
	return urls, nil
}

// waitJS evaluates a boolean expression in the tab until it is true. It
// survives navigations (an evaluation that fails is retried).
func waitJS(tb *tab, expr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 3*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("(() => { try { return !!("+expr+"); } catch (e) { return false; } })()"))
		cancel()
		if err == nil && ok {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		if tb.ctx.Err() != nil {
			return fmt.Errorf("waiting for %s: %w", expr, tb.ctx.Err())
		}
		if time.Now().After(deadline) {
			loc, text := tb.snapshot()
			return fmt.Errorf("waiting %v for %s: not true (last error %v); page %s says: %q", timeout, expr, lastErr, redactURL(loc), text)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// snapshot returns the location and the start of the page's text.
func (tb *tab) snapshot() (string, string) {
	ctx, cancel := context.WithTimeout(tb.ctx, 3*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 600) : ""`))
	return loc, text
}

// bodyText is the page's visible text with typographic apostrophes made plain.
func (tb *tab) bodyText() string {
	_, text := tb.snapshotFull()
	return text
}

func (tb *tab) snapshotFull() (string, string) {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.replace(/[\u2018\u2019]/g, "'") : ""`))
	return loc, text
}

// waitText waits until the page's text contains want (case-insensitive,
// typographic apostrophes made plain).
func waitText(tb *tab, want string, timeout time.Duration) error {
	b, _ := json.Marshal(strings.ToLower(want))
	return waitJS(tb, `document.body && document.body.innerText.replace(/[\u2018\u2019]/g, "'").toLowerCase().includes(`+string(b)+`)`, timeout)
}

// waitFor polls cond every 100 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// click clicks the first element that matches a CSS selector.
func click(tb *tab, sel string) error {
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	return chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// fill sets the value of an input.
func fill(tb *tab, sel, value string) error {
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	return chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(sel), value, chromedp.NodeVisible))
}
