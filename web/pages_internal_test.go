package web

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"handoff/flow"
)

// TestAppPagesRendered: an app's pages that carry nothing from the request
// or the provider are rendered once, with the app's names, and served from
// that rendering without executing the template; pages carrying a
// provider's code or words are rendered each time and never kept, so no
// provider can grow the cache.
func TestAppPagesRendered(t *testing.T) {
	ps := newAppPages("Acme Sync", "Notion")
	constant := map[string]page{
		"authenticated": ps.authenticated, "invalid": ps.invalidLink, "cancelled": ps.cancelled,
		"provider_failed": ps.providerFailed, "provider_rejected": ps.providerRejected, "timeout": ps.providerTimeout,
		"restarted": ps.ownerGone, "busy": ps.busy, "bad_request": ps.badRequest, "slow_down": ps.slowDown,
	}
	for name, p := range constant {
		b, ok := ps.rendered[p]
		if !ok {
			t.Errorf("%s: not rendered in advance", name)
			continue
		}
		got, err := ps.html(p)
		if err != nil || &got[0] != &b[0] {
			t.Errorf("%s: rendered again instead of served from the app's rendering", name)
		}
		if allocs := testing.AllocsPerRun(50, func() { ps.html(p) }); allocs != 0 {
			t.Errorf("%s: %v allocations per page", name, allocs)
		}
	}
	if !bytes.Contains(ps.rendered[ps.authenticated], []byte("<h1>Acme Sync is now connected to Notion</h1>")) {
		t.Errorf("the success page does not carry the app's names:\n%s", ps.rendered[ps.authenticated])
	}

	before := len(ps.rendered)
	for i := range 100 {
		code := fmt.Sprintf("provider_code_%d", i)
		_, p := ps.pageFor(&flow.Error{Kind: flow.KindRefused, Code: code, ProviderSaid: "words " + strconv.Itoa(i)})
		b, err := ps.html(p)
		if err != nil || !bytes.Contains(b, []byte("<code>"+code+"</code>")) || !bytes.Contains(b, []byte("words "+strconv.Itoa(i))) {
			t.Fatalf("refusal page for %s: %v\n%s", code, err, b)
		}
		_, p = ps.pageFor(&flow.Error{Kind: flow.KindCancelled, Code: "access_denied", ProviderSaid: "words " + strconv.Itoa(i)})
		if b, _ := ps.html(p); !bytes.Contains(b, []byte("words "+strconv.Itoa(i))) {
			t.Fatalf("cancelled page without the provider's words:\n%s", b)
		}
	}
	if len(ps.rendered) != before {
		t.Errorf("pages with a provider's code or words were kept: %d rendered pages, was %d", len(ps.rendered), before)
	}
	// Without a description, the cancelled page is the one rendered in advance.
	if _, p := ps.pageFor(&flow.Error{Kind: flow.KindCancelled, Code: "access_denied"}); p != ps.cancelled {
		t.Errorf("a cancellation without a description is not the prepared page")
	}
}

// TestContrast: the pages' colours meet WCAG 2.x contrast in the light and
// the dark scheme: 4.5:1 for text (including the ✓ and ! marks on their
// discs), 3:1 for the discs and field borders against the card.
func TestContrast(t *testing.T) {
	light := cssVars(t, style[:strings.Index(style, "@media")])
	dark := cssVars(t, style[strings.Index(style, "@media"):])
	for k, v := range light {
		if _, ok := dark[k]; !ok {
			dark[k] = v
		}
	}
	pairs := []struct {
		what     string
		fg, bg   string
		minRatio float64
	}{
		{"text on the card", "--fg", "--card", 4.5},
		{"secondary text on the card", "--muted", "--card", 4.5},
		{"secondary text on the page and in description boxes", "--muted", "--bg", 4.5},
		{"text on the page", "--fg", "--bg", 4.5},
		{"✓ on its disc", "--on-ok", "--ok", 4.5},
		{"! on its disc", "--on-bad", "--bad", 4.5},
		{"button text", "--on-accent", "--accent", 4.5},
		{"text in a field", "--fg", "--field", 4.5},
		{"success disc against the card", "--ok", "--card", 3},
		{"error disc against the card", "--bad", "--card", 3},
		{"field border against the card", "--muted", "--card", 3},
		{"field border against the field", "--muted", "--field", 3},
	}
	for scheme, vars := range map[string]map[string]string{"light": light, "dark": dark} {
		for _, p := range pairs {
			r := contrast(t, vars[p.fg], vars[p.bg])
			if r < p.minRatio {
				t.Errorf("%s scheme, %s (%s %s on %s %s): %.2f:1, want at least %.1f:1", scheme, p.what, p.fg, vars[p.fg], p.bg, vars[p.bg], r, p.minRatio)
			}
		}
	}
	// The demo badge has fixed colours.
	if r := contrast(t, "#78350f", "#fde68a"); r < 4.5 || !strings.Contains(style, "background:#fde68a;color:#78350f") {
		t.Errorf("badge: %.2f:1", r)
	}
}

var cssVar = regexp.MustCompile(`(--[a-z-]+):(#[0-9a-fA-F]{3,6})`)

func cssVars(t *testing.T, css string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, m := range cssVar.FindAllStringSubmatch(css, -1) {
		vars[m[1]] = m[2]
	}
	if len(vars) == 0 {
		t.Fatalf("no colour variables in %q", css)
	}
	return vars
}

// contrast is WCAG 2.x's contrast ratio of two sRGB colours.
func contrast(t *testing.T, a, b string) float64 {
	t.Helper()
	la, lb := luminance(t, a), luminance(t, b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

func luminance(t *testing.T, hex string) float64 {
	t.Helper()
	h := strings.TrimPrefix(hex, "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	if len(h) != 6 {
		t.Fatalf("colour %q", hex)
	}
	var ch [3]float64
	for i := range ch {
		v, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			t.Fatalf("colour %q", hex)
		}
		c := float64(v) / 255
		if c <= 0.03928 {
			ch[i] = c / 12.92
		} else {
			ch[i] = math.Pow((c+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*ch[0] + 0.7152*ch[1] + 0.0722*ch[2]
}
