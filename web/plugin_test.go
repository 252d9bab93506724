package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// pluginTokens is what Framer's existing plugins read from
// the JSON they store: expires_in must be a number.
type pluginTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	TokenType    string `json:"token_type"`
}

// fetch is the browser's fetch() as a plugin calls it: a body-less POST (a
// CORS simple request: no preflight), the plugin's Origin, and a response
// the page may read only when Access-Control-Allow-Origin admits it.
func fetch(t *testing.T, s *server, target string) (int, []byte) {
	t.Helper()
	r := s.do("POST", target, nil, "Origin", testPluginOrigin)
	if got := r.header.Get("Access-Control-Allow-Origin"); got != testPluginOrigin {
		t.Fatalf("POST %s: Access-Control-Allow-Origin %q: the browser would hide the answer", target, got)
	}
	return r.status, r.body
}

// TestPluginWrittenForTheWorker replays the calls of an existing Framer
// plugin, unchanged but for its base URL (docs/protocol.md): POST {base}/authorize, open url, POST
// {base}/poll?readKey=… until 200, store the JSON, later
// POST {base}/refresh?code=… with the token not URL-encoded.
func TestPluginWrittenForTheWorker(t *testing.T) {
	t.Parallel()
	for _, form := range []bool{false, true} {
		name := "JSON provider"
		if form {
			name = "form-encoded provider"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := start(t, setup{formResponse: form, rateLimit: true, pollLimit: 10})
			base := s.base

			// const res = await fetch(`${AUTH_URI}/authorize`, {method: "POST"})
			status, body := fetch(t, s, base+"/authorize")
			if status != 200 {
				t.Fatalf("authorize: %d %s", status, body)
			}
			var auth struct {
				URL     string `json:"url"`
				ReadKey string `json:"readKey"`
			}
			if err := json.Unmarshal(body, &auth); err != nil {
				t.Fatal(err)
			}

			// window.open(url): the user logs in in the system browser,
			// which follows the provider's redirect, once the plugin has
			// polled and heard "pending" (an event, not a clock: a late
			// first poll on a loaded machine changes nothing).
			polledPending := make(chan struct{})
			var once sync.Once
			heardPending := func() { once.Do(func() { close(polledPending) }) }
			defer heardPending() // however the test ends, the browser goroutine ends
			browser := make(chan error, 1)
			go func() {
				<-polledPending
				resp, err := http.Get(auth.URL)
				if err != nil {
					browser <- err
					return
				}
				page, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(page), "You&#39;re authenticated") {
					t.Errorf("browser ended at %s: %d\n%s", resp.Request.URL, resp.StatusCode, page)
				}
				browser <- nil
			}()

			// setInterval(poll, 1500–2500 ms) until a 200; shortened here.
			var tokens pluginTokens
			deadline := time.Now().Add(15 * time.Second)
			for polls := 1; ; polls++ {
				if time.Now().After(deadline) {
					t.Fatal("no tokens after 15 s of polling")
				}
				status, body := fetch(t, s, base+"/poll?readKey="+auth.ReadKey)
				if polls == 1 {
					if status != 404 || !strings.Contains(string(body), `"authorization_pending"`) {
						t.Fatalf("first poll, before the user logged in: %d %s, want 404 authorization_pending", status, body)
					}
					heardPending()
				}
				if status == 200 {
					if err := json.Unmarshal(body, &tokens); err != nil {
						t.Fatalf("stored tokens do not parse as the plugin's type: %v\n%s", err, body)
					}
					break
				}
				if status != 404 {
					t.Fatalf("poll %d: %d %s (the plugin would give up)", polls, status, body)
				}
				time.Sleep(150 * time.Millisecond)
			}
			if err := <-browser; err != nil {
				t.Fatal(err)
			}
			if tokens.AccessToken == "" || tokens.RefreshToken == "" || tokens.ExpiresIn != 3600 {
				t.Fatalf("tokens %+v", tokens)
			}
			if status, _ := fetch(t, s, base+"/poll?readKey="+auth.ReadKey); status != 410 {
				t.Errorf("poll after delivery: %d, want 410", status)
			}
			checkAccess(t, s, tokens.AccessToken)

			// fetch(`${AUTH_URI}/refresh?code=${tokens.refreshToken}`, {method: "POST"})
			status, body = fetch(t, s, base+"/refresh?code="+tokens.RefreshToken)
			if status != 200 {
				t.Fatalf("refresh: %d %s", status, body)
			}
			var refreshed pluginTokens
			if err := json.Unmarshal(body, &refreshed); err != nil {
				t.Fatalf("refresh answer: %v\n%s", err, body)
			}
			if refreshed.AccessToken == "" || refreshed.AccessToken == tokens.AccessToken || refreshed.ExpiresIn != 3600 {
				t.Errorf("refreshed tokens %+v", refreshed)
			}
			// The plugin stores the whole answer: its refresh token must
			// still work although the provider did not send one.
			if refreshed.RefreshToken != tokens.RefreshToken {
				t.Errorf("refresh_token after refresh %q, want the one the plugin had", refreshed.RefreshToken)
			}
			checkAccess(t, s, refreshed.AccessToken)
			if status, body := fetch(t, s, base+"/refresh?code="+refreshed.RefreshToken); status != 200 {
				t.Errorf("second refresh: %d %s", status, body)
			}
		})
	}
}

// checkAccess proves an access token works at the provider.
func checkAccess(t *testing.T, s *server, token string) {
	t.Helper()
	r := s.do("GET", s.prov.srv.URL+"/userinfo", nil, "Authorization", "Bearer "+token)
	if r.status != 200 {
		t.Errorf("the provider refuses the access token: %d %s", r.status, r.body)
	}
}
