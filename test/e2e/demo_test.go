//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"handoff/internal/testkit"

	"github.com/chromedp/chromedp"
)

// TestJourney5DemoMode: demo mode. Its page at / plays the plugin; the
// built-in mock authorization server's page opens in the popup.
func TestJourney5DemoMode(t *testing.T) {
	ctx, end := begin(t)
	defer end()
	hport := testkit.FreePort(t)
	// No variable is needed in demo mode; PORT and REDIRECT_URI only move it
	// off 8787 so that tests never collide with a developer's handoff.
	h := startHandoff(t, map[string]string{
		"PORT":           fmt.Sprint(hport),
		"REDIRECT_URI":   fmt.Sprintf("http://localhost:%d/redirect", hport),
		"SHUTDOWN_GRACE": "3s",
	}, nil, "-demo")
	if !strings.Contains(strings.ToLower(h.Log()), "demo") {
		t.Errorf("the log does not say demo mode is on:\n%s", h.Log())
	}
	b := newBrowser(t, ctx, nil, "")
	demo := b.Plugin()
	if err := navigate(demo, h.Base+"/"); err != nil {
		t.Fatalf("demo page: %v", err)
	}
	if got := demo.DocStatus(h.Base + "/"); got != 200 {
		t.Errorf("demo page: status %d", got)
	}
	if err := waitJS(demo, `document.querySelector("#login") && !document.querySelector("#login").disabled`, stepTimeout); err != nil {
		t.Fatalf("demo page has no Log in button: %v", err)
	}
	if !strings.Contains(strings.ToLower(demo.bodyText()), "demo") {
		t.Errorf("the demo page does not say it is a demo: %q", demo.bodyText())
	}

	pop, err := b.clickAndCatchPopup(demo, "#login")
	if err != nil {
		t.Fatalf("demo Log in: %v", err)
	}
	if err := waitJS(pop, `document.querySelector("#approve") && document.querySelector("#username")`, stepTimeout); err != nil {
		t.Fatalf("mock provider page: %v", err)
	}
	if !strings.Contains(strings.ToLower(pop.bodyText()), "mock provider") {
		t.Errorf("the mock provider's page is not clearly labelled: %q", pop.bodyText())
	}
	screenshot(t, b, pop, "demo-mock-provider")
	fctx, fcancel := context.WithTimeout(pop.ctx, stepTimeout)
	err = chromedp.Do(fctx, chromedp.Clear(chromedp.CSS("#username")), chromedp.SendKeys(chromedp.CSS("#username"), "e2e-demo"))
	fcancel()
	if err != nil {
		t.Fatalf("mock provider name: %v", err)
	}
	if err := click(pop, "#approve"); err != nil {
		t.Fatalf("mock provider Allow: %v", err)
	}
	if err := waitText(pop, "handoff demo is now connected to Mock Provider", stepTimeout); err != nil {
		t.Fatalf("demo success page: %v", err)
	}
	if got := pop.DocStatus(h.Base + "/redirect"); got != 200 {
		t.Errorf("demo success page: status %d", got)
	}
	screenshot(t, b, pop, "demo-success")
	screenshotDark(t, b, pop, "demo-success-dark")

	// The demo page polls every second and shows the tokens.
	if err := waitJS(demo, `!document.querySelector("#tokens").hidden && document.querySelector("#tokens").textContent.includes("access_token")`, stepTimeout); err != nil {
		t.Fatalf("demo page never showed the tokens: %v", err)
	}
	// shownTokens are the tokens the demo page shows.
	shownTokens := func() map[string]any {
		t.Helper()
		tokens, err := evalAsync[map[string]any](demo, `Promise.resolve(JSON.parse(document.querySelector("#tokens").textContent))`)
		if err != nil {
			t.Fatal(err)
		}
		return tokens
	}
	first := shownTokens()
	screenshot(t, b, demo, "demo")

	// Its refresh button goes through /refresh to the mock provider.
	if err := click(demo, "#refresh"); err != nil {
		t.Fatalf("demo refresh: %v", err)
	}
	if err := waitText(demo, "refreshed", stepTimeout); err != nil {
		t.Errorf("demo refresh: %v", err)
	} else {
		second := shownTokens()
		if second["access_token"] == nil || second["access_token"] == first["access_token"] {
			t.Errorf("demo refresh: access token %v, was %v", second["access_token"], first["access_token"])
		}
	}
	// Log out revokes the grant at the mock provider.
	if err := click(demo, "#logout"); err != nil {
		t.Fatalf("demo log out: %v", err)
	}
	if err := waitText(demo, "Logged out", stepTimeout); err != nil {
		t.Errorf("demo log out: %v", err)
	}
	// "Also allow email": a new login asking for one more scope, which the
	// mock's page lists and its token answer grants.
	// The demo opens its login in one named window, which the first login
	// left on the success page: the new one goes there.
	if err := click(demo, "#more"); err != nil {
		t.Fatalf("demo Also allow email: %v", err)
	}
	if err := waitJS(pop, `document.querySelector("#approve") && document.body.innerText.includes("email")`, stepTimeout); err != nil {
		t.Fatalf("the mock provider's page does not ask for email: %v", err)
	}
	if err := click(pop, "#approve"); err != nil {
		t.Fatalf("mock provider Allow: %v", err)
	}
	if err := waitJS(demo, `!document.querySelector("#tokens").hidden && JSON.parse(document.querySelector("#tokens").textContent).scope === "profile email"`, stepTimeout); err != nil {
		t.Errorf("demo page never showed tokens for profile and email: %v (%q)", err, demo.bodyText())
	}

	// A second login, denied at the provider: the page says so, and the
	// first login's tokens are no longer shown as if they were its result.
	if err := waitJS(demo, `!document.querySelector("#tokens").hidden`, stepTimeout); err != nil {
		t.Fatalf("the first login's tokens are not shown: %v", err)
	}
	// The demo opens its login in one named window: the popup still open
	// from the first login shows the provider again.
	logInAgain := func(which string) *tab {
		t.Helper()
		if err := click(demo, "#login"); err != nil {
			t.Fatalf("demo %s Log in: %v", which, err)
		}
		if err := waitJS(pop, `document.querySelector("#approve")`, stepTimeout); err != nil {
			t.Fatalf("mock provider page: %v", err)
		}
		return pop
	}
	pop2 := logInAgain("second")
	if err := waitText(demo, "waiting for the login window", stepTimeout); err != nil {
		t.Errorf("demo page while waiting: %v", err)
	}
	if err := click(pop2, `button[value="deny"]`); err != nil {
		t.Fatalf("mock provider Deny: %v", err)
	}
	if err := waitText(pop2, "Login cancelled", stepTimeout); err != nil {
		t.Fatalf("cancelled page: %v", err)
	}
	screenshot(t, b, pop2, "demo-cancelled")
	if err := waitText(demo, "login cancelled at the provider", stepTimeout); err != nil {
		t.Errorf("demo page after Deny: %v", err)
	}
	if err := waitJS(demo, `document.querySelector("#tokens").hidden && document.querySelector("#refresh").disabled`, stepTimeout); err != nil {
		t.Errorf("after a denied second login the first login's tokens are still shown: %v", err)
	}

	// Cancel stops a login the user walked away from: the popup closes,
	// polling stops, the buttons are back as they were.
	logInAgain("third")
	if err := waitJS(demo, `!document.querySelector("#cancel").hidden`, stepTimeout); err != nil {
		t.Fatalf("no Cancel button while waiting: %v", err)
	}
	if err := click(demo, "#cancel"); err != nil {
		t.Fatalf("demo Cancel: %v", err)
	}
	if err := waitText(demo, "login cancelled: stopped waiting", stepTimeout); err != nil {
		t.Fatalf("demo Cancel: %v", err)
	}
	if err := waitJS(demo, `document.querySelector("#cancel").hidden && !document.querySelector("#login").disabled`, stepTimeout); err != nil {
		t.Errorf("after Cancel the buttons are not reset: %v", err)
	}
	if err := waitFor(stepTimeout, func() bool {
		pages, err := openPages(demo)
		return err == nil && !slices.ContainsFunc(pages, func(u string) bool { return strings.Contains(u, "/mock/authorize") })
	}); err != nil {
		t.Errorf("the login popup is still open after Cancel")
	}
	polls := strings.Count(h.Log(), "/poll")
	time.Sleep(2500 * time.Millisecond) // more than two poll intervals
	if after := strings.Count(h.Log(), "/poll"); after != polls {
		t.Errorf("the demo page polled %d more times after Cancel", after-polls)
	}

	// Every page here is handoff's: the demo page, the mock provider, the
	// success page.
	assertHandoffPages(t, h.Base, demo, pop)
}
