//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"handoff/internal/testkit"
)

// ---------------------------------------------------------------------------
// Journey 4: CORS. The same plugin page on an origin that is not allowed
// cannot read /authorize's answer; on an allowed one it can.

func TestJourney4CORSDisallowedOrigin(t *testing.T) {
	defer journey(t)()
	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	defer cancel()
	// evil.test and good.test are loopback for this browser only. Every
	// loopback address is allowed (docs/protocol.md#cors), so the test needs host names.
	rules := []string{"MAP evil.test 127.0.0.1", "MAP good.test 127.0.0.1"}
	// The plugin site's port is not known before the setup, so ALLOWED_ORIGINS
	// is filled in by a second handoff below; the first one allows no extra origin.
	s := newSetup(t, ctx, setupOptions{style: "basic", hostRules: rules})
	evilOrigin := "http://evil.test:" + s.site.Port()
	goodOrigin := "http://good.test:" + s.site.Port()

	// What handoff answers, seen without a browser.
	req, _ := http.NewRequest("POST", s.handoff.Base+"/authorize", nil)
	req.Header.Set("Origin", evilOrigin)
	res, err := s.handoff.client.Do(req)
	if err != nil {
		t.Fatalf("POST /authorize: %v", err)
	}
	res.Body.Close()
	acao := res.Header.Get("Access-Control-Allow-Origin")
	if acao == evilOrigin || acao == "*" {
		t.Errorf("handoff allows %s: Access-Control-Allow-Origin %q", evilOrigin, acao)
	}
	if !strings.Contains(res.Header.Get("Vary"), "Origin") {
		t.Errorf("Vary %q, want Origin", res.Header.Get("Vary"))
	}
	t.Logf("POST /authorize from %s: %d, Access-Control-Allow-Origin %q", evilOrigin, res.StatusCode, acao)

	// In the browser: the fetch fails, no window opens.
	s.openPlugin(t, "evil.test")
	if err := click(s.plugin, "#login"); err != nil {
		t.Fatal(err)
	}
	st, err := pluginWait(t, s.plugin, `^(error|waiting)`, stepTimeout)
	if err != nil {
		t.Fatalf("plugin: %v", err)
	}
	if !strings.HasPrefix(st.Status, "error") || st.ReadKey != "" || st.PopupOpened {
		t.Errorf("from %s the plugin got %q (readKey %q, popup %v), want a failed fetch", evilOrigin, st.Status, st.ReadKey, st.PopupOpened)
	}
	if !strings.Contains(st.Error, "Failed to fetch") {
		t.Errorf("plugin error %q, want the browser's TypeError: Failed to fetch", st.Error)
	}
	blocked := false
	for _, m := range s.plugin.Console() {
		if strings.Contains(m, "blocked by CORS policy") {
			blocked = true
			t.Logf("browser console: %s", m)
			break
		}
	}
	if !blocked {
		t.Errorf("no 'blocked by CORS policy' message in the console: %q", s.plugin.Console())
	}
	screenshot(t, s.browser, s.plugin, "plugin-cors-blocked")
	if infos, err := chromedp.Targets(s.plugin.ctx); err == nil {
		pages := 0
		for _, i := range infos {
			if i.Type == "page" {
				pages++
			}
		}
		if pages != 1 {
			t.Errorf("%d pages open, want only the plugin's", pages)
		}
	}

	// Control: handoff with ALLOWED_ORIGINS naming good.test serves that page.
	hport := testkit.FreePort(t)
	prov2 := startProvider(t, fmt.Sprintf("http://localhost:%d/redirect", hport))
	env := handoffEnv(prov2, hport, "basic")
	env["ALLOWED_ORIGINS"] = goodOrigin
	h2 := startHandoff(t, env, nil)
	nctx, ncancel := context.WithTimeout(s.plugin.ctx, stepTimeout)
	err = chromedp.Do(nctx, chromedp.Navigate(s.site.PageURL("good.test", h2.Base)))
	ncancel()
	if err != nil {
		t.Fatal(err)
	}
	if err := waitJS(s.plugin, `window.plugin && window.plugin.log.length > 0`, stepTimeout); err != nil {
		t.Fatal(err)
	}
	pop, err := s.browser.clickAndCatchPopup(s.plugin, "#login")
	if err != nil {
		t.Fatalf("from the allowed origin %s: %v (plugin %+v)", goodOrigin, err, readPlugin(t, s.plugin).Status)
	}
	st = readPlugin(t, s.plugin)
	if st.ReadKey == "" || !strings.HasPrefix(st.Status, "waiting") {
		t.Errorf("from the allowed origin %s: status %q, readKey %q", goodOrigin, st.Status, st.ReadKey)
	}
	if err := waitJS(pop, `document.querySelector('input[name="login"]')`, stepTimeout); err != nil {
		t.Errorf("the allowed origin's popup did not reach the provider: %v", err)
	}
	// And the evil origin still cannot read that handoff either.
	req, _ = http.NewRequest("POST", h2.Base+"/authorize", nil)
	req.Header.Set("Origin", evilOrigin)
	if res, err := h2.client.Do(req); err == nil {
		res.Body.Close()
		if got := res.Header.Get("Access-Control-Allow-Origin"); got == evilOrigin {
			t.Errorf("ALLOWED_ORIGINS=%s also allows %s", goodOrigin, evilOrigin)
		}
	}
}

// ---------------------------------------------------------------------------
// Journey 5: demo mode. Its page at / plays the plugin; the built-in mock
// authorization server's page opens in the popup.

func TestJourney5DemoMode(t *testing.T) {
	defer journey(t)()
	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	defer cancel()
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
	nctx, ncancel := context.WithTimeout(demo.ctx, stepTimeout)
	err := chromedp.Do(nctx, chromedp.Navigate(h.Base+"/"))
	ncancel()
	if err != nil {
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
	if err := waitText(pop, "You're authenticated", stepTimeout); err != nil {
		t.Fatalf("demo success page: %v", err)
	}
	if got := pop.DocStatus(h.Base + "/redirect"); got != 200 {
		t.Errorf("demo success page: status %d", got)
	}
	screenshot(t, b, pop, "demo-success")

	// The demo page polls every second and shows the tokens.
	if err := waitJS(demo, `!document.querySelector("#tokens").hidden && document.querySelector("#tokens").textContent.includes("access_token")`, stepTimeout); err != nil {
		t.Fatalf("demo page never showed the tokens: %v", err)
	}
	first, err := evalAsync[map[string]any](demo, `Promise.resolve(JSON.parse(document.querySelector("#tokens").textContent))`)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, b, demo, "demo")

	// Its refresh button goes through /refresh to the mock provider.
	if err := click(demo, "#refresh"); err != nil {
		t.Fatalf("demo refresh: %v", err)
	}
	if err := waitText(demo, "refreshed", stepTimeout); err != nil {
		t.Errorf("demo refresh: %v", err)
	} else {
		second, err := evalAsync[map[string]any](demo, `Promise.resolve(JSON.parse(document.querySelector("#tokens").textContent))`)
		if err != nil {
			t.Fatal(err)
		}
		if second["access_token"] == nil || second["access_token"] == first["access_token"] {
			t.Errorf("demo refresh: access token %v, was %v", second["access_token"], first["access_token"])
		}
	}
	// Every page here is handoff's: the demo page, the mock provider, the
	// success page.
	assertNoCSPViolations(t, demo, pop)
	assertPageHeaders(t, demo, h.Base)
	assertPageHeaders(t, pop, h.Base)
}

// ---------------------------------------------------------------------------
// The CSP check has teeth: a page whose CSP forbids its inline script and
// style shows up in the console that assertNoCSPViolations reads.

func TestCSPWatchSeesViolations(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>csp</title><style>body{color:red}</style><p>x</p><script>document.title="ran"</script>`)
	}))
	defer srv.Close()
	b := newBrowser(t, ctx, nil, "")
	tb := b.Plugin()
	nctx, ncancel := context.WithTimeout(tb.ctx, stepTimeout)
	err := chromedp.Do(nctx, chromedp.Navigate(srv.URL))
	ncancel()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := 0
		for _, m := range tb.Console() {
			if cspRe.MatchString(m) {
				n++
			}
		}
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the CSP watch saw %d violations, want the inline style and script: %q", n, tb.Console())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Journey 6: local HTTPS with TLS_CERT_FILE / TLS_KEY_FILE.

func TestJourney6LocalHTTPS(t *testing.T) {
	defer journey(t)()
	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	defer cancel()
	cert := makeCert(t)
	s := newSetup(t, ctx, setupOptions{style: "post", https: cert})
	if !strings.HasPrefix(s.handoff.Base, "https://") {
		t.Fatalf("handoff base %s", s.handoff.Base)
	}
	s.openPlugin(t, "")
	pop, st := s.runHappyLogin(t, "dave", "success-https")
	checkTokens(t, st)
	if !strings.HasPrefix(s.redirectURL(pop), "https://localhost:") {
		t.Errorf("redirect went to %s, want https", redactURL(s.redirectURL(pop)))
	}
	if err := click(s.plugin, "#refresh"); err != nil {
		t.Fatal(err)
	}
	if err := waitJS(s.plugin, `/^refresh(ed| failed)/.test(document.getElementById("refresh-status").textContent)`, stepTimeout); err != nil {
		t.Fatal(err)
	}
	st = readPlugin(t, s.plugin)
	if st.Refresh == nil || st.Refresh.Status != 200 || st.Refresh.JSON["access_token"] == nil {
		t.Fatalf("refresh over https: %+v", st.Refresh)
	}
	if info, code := s.prov.Userinfo(t, st.Refresh.JSON["access_token"].(string)); code != 200 || info["sub"] != "dave" {
		t.Errorf("userinfo: %d %v", code, info)
	}
	checkTokenRequests(t, s.prov.TokenRequests(t), postClientID, "post", "authorization_code", "refresh_token")
	assertNoCSPViolations(t, pop)
	assertPageHeaders(t, pop, s.handoff.Base)
}

// ---------------------------------------------------------------------------
// TOKEN_AUTH_STYLE=auto against a provider that only takes client_secret_post:
// handoff tries Basic, gets 401 invalid_client, and retries with the body.

func TestAutoAuthStyle(t *testing.T) {
	defer journey(t)()
	ctx, cancel := context.WithTimeout(context.Background(), journeyTimeout)
	defer cancel()
	s := newSetup(t, ctx, setupOptions{style: "auto"})
	s.openPlugin(t, "")
	_, st := s.runHappyLogin(t, "erin", "")
	checkTokens(t, st)
	reqs := s.prov.TokenRequests(t)
	var got []string
	for _, r := range reqs {
		got = append(got, fmt.Sprintf("%s/%s/%d", r.GrantType, r.Auth, r.Status))
	}
	t.Logf("token endpoint saw %v", got)
	if len(reqs) < 2 || reqs[0].Auth != "basic" || reqs[0].Status != 401 || reqs[len(reqs)-1].Auth != "post" || reqs[len(reqs)-1].Status != 200 {
		t.Errorf("auto: token requests %v, want basic/401 then post/200", got)
	}
}
