//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"handoff/internal/testkit"
)

// TestJourney4CORSDisallowedOrigin: CORS. The same plugin page on an origin
// that is not allowed cannot read /authorize's answer; on an allowed one it
// can.
func TestJourney4CORSDisallowedOrigin(t *testing.T) {
	ctx, end := begin(t)
	defer end()
	// evil.test and good.test are loopback for this browser only. Every
	// loopback address is allowed (docs/protocol.md#cors), so the test needs host names.
	rules := []string{"MAP evil.test 127.0.0.1", "MAP good.test 127.0.0.1"}
	// The plugin site's port is not known before the setup, so ALLOWED_ORIGINS
	// is filled in by a second handoff below; the first one allows no extra origin.
	s := newSetup(t, ctx, setupOptions{style: "basic", hostRules: rules})
	evilOrigin := "http://evil.test:" + s.site.Port()
	goodOrigin := "http://good.test:" + s.site.Port()

	// What handoff answers, seen without a browser.
	res := authorizeFrom(t, s.handoff, evilOrigin)
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
	if pages, err := openPages(s.plugin); err == nil && len(pages) != 1 {
		t.Errorf("%d pages open, want only the plugin's: %q", len(pages), pages)
	}

	// Control: handoff with ALLOWED_ORIGINS naming good.test serves that page.
	hport := testkit.FreePort(t)
	prov2 := startProvider(t, fmt.Sprintf("http://localhost:%d/redirect", hport))
	env := handoffEnv(prov2, hport, "basic")
	env["ALLOWED_ORIGINS"] = goodOrigin
	h2 := startHandoff(t, env, nil)
	s.openPluginOn(t, "good.test", h2.Base)
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
	if got := authorizeFrom(t, h2, evilOrigin).Header.Get("Access-Control-Allow-Origin"); got == evilOrigin {
		t.Errorf("ALLOWED_ORIGINS=%s also allows %s", goodOrigin, evilOrigin)
	}
}

// authorizeFrom is handoff's answer (body closed) to a POST /authorize that
// says it comes from origin.
func authorizeFrom(t *testing.T, h *handoffServer, origin string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", h.Base+"/authorize", nil)
	req.Header.Set("Origin", origin)
	res, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("POST /authorize: %v", err)
	}
	res.Body.Close()
	return res
}
