package binary

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"handoff/internal/testkit"
)

// tokenLife runs the built binary in -demo through a token's whole life
// (docs/protocol.md#authorize, #refresh, #revoke): a login that asks for
// one more scope, a scope the app does not allow, a refresh retried with
// the same token, and a revocation after which the token is refused.
func (h harness) tokenLife(t *testing.T) {
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	p := h.start(t, t.TempDir(), []string{"LOG_LEVEL=debug"}, client, "-demo")
	call := func(method, target, contentType, body string) (*http.Response, string) {
		t.Helper()
		return send(t, client, method, target, strings.NewReader(body), contentType)
	}
	const form = "application/x-www-form-urlencoded"

	// A scope the demo app does not allow: 400 naming it, before anything.
	resp, body := call("POST", p.base+"/authorize?scope=profile+admin", "", "")
	if resp.StatusCode != 400 || testkit.ErrorCode([]byte(body)) != "invalid_request" || !strings.Contains(body, `"scope: `) {
		t.Errorf("a scope beyond ALLOWED_SCOPES: %d %s", resp.StatusCode, body)
	}

	// The demo page's "Also allow email": the scope in a form body.
	resp, body = call("POST", p.base+"/authorize", form, "scope=profile+email&login_hint=ada")
	var l struct{ URL, ReadKey string }
	if err := json.Unmarshal([]byte(body), &l); err != nil || resp.StatusCode != 200 {
		t.Fatalf("authorize with a scope: %d %s", resp.StatusCode, body)
	}
	if q := mustURL(t, l.URL).Query(); q.Get("scope") != "profile email" || q.Get("login_hint") != "ada" {
		t.Errorf("login URL %s: want scope=profile email and the hint", l.URL)
	}
	resp, body = call("GET", l.URL, "", "")
	if resp.StatusCode != 200 || !strings.Contains(body, "<code>email</code>") {
		t.Fatalf("the mock's consent page does not list the email scope: %d %s", resp.StatusCode, body)
	}
	consent := url.Values{"decision": {"approve"}, "username": {"ada"}}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`).FindAllStringSubmatch(body, -1) {
		consent.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	resp, _ = call("POST", p.base+"/mock/authorize", form, consent.Encode())
	if resp.StatusCode != 302 {
		t.Fatalf("consent: %d", resp.StatusCode)
	}
	if resp, body := call("GET", resp.Header.Get("Location"), "", ""); resp.StatusCode != 200 {
		t.Fatalf("redirect: %d %s", resp.StatusCode, body)
	}
	resp, body = call("POST", p.base+"/poll?readKey="+url.QueryEscape(l.ReadKey), "", "")
	var tokens struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Scope        string
	}
	if err := json.Unmarshal([]byte(body), &tokens); err != nil || resp.StatusCode != 200 || tokens.Scope != "profile email" {
		t.Fatalf("poll: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("GET", p.base+"/mock/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tokens.AccessToken)
	if r, err := client.Do(req); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if !strings.Contains(string(b), `"email":"ada@example.test"`) {
			t.Errorf("userinfo with the email scope: %s", b)
		}
	}

	// A refresh, then the same token again (the answer was "lost"): the
	// same answer. The mock issues a new access token on each call it
	// gets, so an equal answer is one it did not get.
	refresh := "refresh_token=" + url.QueryEscape(tokens.RefreshToken)
	r1, b1 := call("POST", p.base+"/refresh", form, refresh)
	r2, b2 := call("POST", p.base+"/refresh", form, refresh)
	if r1.StatusCode != 200 || r2.StatusCode != 200 || b1 != b2 || !strings.Contains(b1, "access_token") {
		t.Errorf("refresh twice with one token:\n%d %s\n%d %s", r1.StatusCode, b1, r2.StatusCode, b2)
	}

	// Log out: the grant is revoked at the mock, and the replay store
	// does not answer for the token afterwards.
	resp, body = call("POST", p.base+"/revoke", "application/json", `{"token":"`+tokens.RefreshToken+`","token_type_hint":"refresh_token"}`)
	if resp.StatusCode != 200 || body != "{}" {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	resp, body = call("POST", p.base+"/refresh", form, refresh)
	if resp.StatusCode != 400 || testkit.ErrorCode([]byte(body)) != "invalid_grant" {
		t.Errorf("refresh after revoke: %d %s, want 400 invalid_grant", resp.StatusCode, body)
	}
	if resp, body := call("POST", p.base+"/revoke", form, ""); resp.StatusCode != 400 || testkit.ErrorCode([]byte(body)) != "invalid_request" {
		t.Errorf("revoke without a token: %d %s", resp.StatusCode, body)
	}

	p.stop(t)
	out := p.Out.String()
	for _, s := range []string{tokens.AccessToken, tokens.RefreshToken, l.ReadKey} {
		if strings.Contains(out, s) {
			t.Errorf("the debug log contains %q", s)
		}
	}
}

// refreshRotation runs the built binary against a provider that rotates
// refresh tokens and counts its calls: concurrent refreshes of one token
// make one call and all get its answer; after REFRESH_REPLAY_TTL the
// rotated-away token is refused by the provider.
func (h harness) refreshRotation(t *testing.T) {
	const n = 10
	var calls atomic.Int64
	var mu sync.Mutex
	valid := map[string]bool{"rt-0": true}
	gate := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	prov := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		<-gate
		r.ParseForm()
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		rt := r.PostForm.Get("refresh_token")
		if !valid[rt] {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"invalid_grant","error_description":"already used"}`)
			return
		}
		delete(valid, rt)
		next := fmt.Sprintf("rt-%d", len(valid)+int(calls.Load()))
		valid[next] = true
		fmt.Fprintf(w, `{"access_token":"at-%d","refresh_token":%q}`, calls.Load(), next)
	}))
	defer prov.Close()
	defer release()
	port := testkit.FreePort(t)
	client := &http.Client{Timeout: 15 * time.Second}
	env := append(validEnv(prov.URL, fmt.Sprintf("http://localhost:%d/redirect", port)), fmt.Sprintf("PORT=%d", port),
		"REFRESH_REPLAY_TTL=3s")
	p := h.start(t, t.TempDir(), env, client)

	bodies := make(chan string, n)
	for range n {
		go func() {
			resp, err := client.Post(p.base+"/refresh", "application/x-www-form-urlencoded", strings.NewReader("refresh_token=rt-0"))
			if err != nil {
				t.Error(err)
				bodies <- ""
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			bodies <- fmt.Sprint(resp.StatusCode, " ", string(b))
		}()
	}
	// The first call is held at the provider while the others arrive; they
	// either join it or, arriving after it, get its kept answer (for 3 s, a
	// wide margin for the last to arrive): one call either way.
	deadline := time.Now().Add(10 * time.Second)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	release()
	first := <-bodies
	for range n - 1 {
		if b := <-bodies; b != first {
			t.Errorf("answers differ: %q and %q", b, first)
		}
	}
	if !strings.HasPrefix(first, "200 ") {
		t.Errorf("answer %q", first)
	}
	if c := calls.Load(); c != 1 {
		t.Errorf("%d provider calls for %d refreshes of one token, want 1", c, n)
	}
	// Past REFRESH_REPLAY_TTL (3 s, waited for 6 s), the provider is asked
	// again and refuses the spent token.
	time.Sleep(6 * time.Second)
	resp, body := post(t, client, p.base+"/refresh?code=rt-0")
	if resp.StatusCode != 400 || testkit.ErrorCode([]byte(body)) != "invalid_grant" {
		t.Errorf("the spent token after the TTL: %d %s", resp.StatusCode, body)
	}
	if c := calls.Load(); c != 2 {
		t.Errorf("%d provider calls, want 2", c)
	}
}
