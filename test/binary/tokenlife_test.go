package binary

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
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

	// The demo page's "Also allow email": the scope in a form body, and the
	// user signs in as ada on the mock's consent page.
	secrets := &testkit.Secrets{}
	plugin := &testkit.Plugin{Base: p.base, Client: client, Secrets: secrets, Username: "ada"}
	l, err := plugin.AuthorizeWith(url.Values{"scope": {"profile email"}, "login_hint": {"ada"}})
	if err != nil {
		t.Fatalf("authorize with a scope: %v", err)
	}
	if q := mustURL(t, l.URL).Query(); q.Get("scope") != "profile email" || q.Get("login_hint") != "ada" {
		t.Errorf("login URL %s: want scope=profile email and the hint", l.URL)
	}
	if r, err := plugin.Do("GET", l.URL, nil, nil); err != nil || r.Status != 200 || !strings.Contains(string(r.Body), "<code>email</code>") {
		t.Fatalf("the mock's consent page does not list the email scope: %v %v", r, err)
	}
	back, err := plugin.Consent(l, true)
	if err != nil {
		t.Fatalf("consent: %v", err)
	}
	if r, err := plugin.Visit(back); err != nil || r.Status != 200 {
		t.Fatalf("redirect: %v %v", r, err)
	}
	r, err := plugin.Poll(l.ReadKey)
	var tokens struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Scope        string
	}
	if err != nil || r.Status != 200 || json.Unmarshal(r.Body, &tokens) != nil || tokens.Scope != "profile email" {
		t.Fatalf("poll: %v %v", r, err)
	}
	r, err = plugin.Do("GET", p.base+"/mock/userinfo", http.Header{"Authorization": {"Bearer " + tokens.AccessToken}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(r.Body), `"email":"ada@example.test"`) {
		t.Errorf("userinfo with the email scope: %s", r.Body)
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
	// The plugin's secrets: the read key, state, code and tokens.
	if leaked := secrets.Leaks(p.Out.String()); len(leaked) > 0 {
		t.Errorf("the debug log contains %d secrets, among them %q", len(leaked), leaked[0])
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
