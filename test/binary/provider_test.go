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
	"testing"
	"time"

	"handoff/internal/testkit"
)

// dropboxSecret: Dropbox's client secrets (15 lowercase letters and digits)
// are machine-generated, and handoff starts with one and no SEAL_KEY, and
// completes a login (SECURITY.md, property 10).
func (h harness) dropboxSecret(t *testing.T) {
	prov := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("client_secret") != "k7x2m9qz4w1p8vb" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"at","token_type":"bearer"}`)
	}))
	defer prov.Close()
	client := &http.Client{Timeout: 10 * time.Second}
	env := append(validEnv(prov.URL, "http://localhost/redirect"), "CLIENT_SECRET=k7x2m9qz4w1p8vb")
	p := h.start(t, t.TempDir(), env, client)
	l := startLogin(t, client, p.base)
	if resp, body := get(t, client, p.base+"/redirect?code=c&state="+url.QueryEscape(l.State)); resp.StatusCode != 200 {
		t.Fatalf("redirect: %d %s", resp.StatusCode, body)
	}
	if resp, body := post(t, client, p.base+"/poll?readKey="+l.ReadKey); resp.StatusCode != 200 || !strings.Contains(body, `"at"`) {
		t.Fatalf("poll: %d %s", resp.StatusCode, body)
	}
	if out := p.Out.String(); strings.Contains(out, "k7x2m9qz4w1p8vb") {
		t.Errorf("the log shows the client secret:\n%s", out)
	}
}

// providerConcurrency: with PROVIDER_CONCURRENCY=2 and two calls held at the
// provider, a third gets 503 temporarily_unavailable with Retry-After at
// once, sending nothing to the provider: /refresh as JSON, /redirect as a
// page saying to reload; that reload works once the two are done, with the
// same state and code (SECURITY.md, property 11).
func (h harness) providerConcurrency(t *testing.T) {
	const limit = 2
	arrived := make(chan struct{}, 16)
	gate := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	var mu sync.Mutex
	calls := 0
	prov := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		arrived <- struct{}{}
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"at","refresh_token":"rt2","token_type":"bearer"}`)
	}))
	defer prov.Close()
	defer release() // first: the server's Close waits for its handlers
	client := &http.Client{Timeout: 15 * time.Second}
	env := append(validEnv(prov.URL, "http://localhost/redirect"),
		fmt.Sprintf("PROVIDER_CONCURRENCY=%d", limit), "PROVIDER_TIMEOUT=30s", "SHUTDOWN_GRACE=35s")
	p := h.start(t, t.TempDir(), env, client)
	l := startLogin(t, client, p.base)

	held := make(chan int, limit)
	for i := range limit {
		go func() {
			// Each its own token: refreshes of one token share a call.
			resp, err := client.Post(p.base+"/refresh", "application/x-www-form-urlencoded", strings.NewReader(fmt.Sprintf("refresh_token=rt-%d", i)))
			if err != nil {
				t.Error(err)
				held <- 0
				return
			}
			resp.Body.Close()
			held <- resp.StatusCode
		}()
	}
	for range limit {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the refreshes never reached the provider")
		}
	}

	// Past the cap: answered while the provider still holds both calls.
	resp, body := post(t, client, p.base+"/refresh?code=rt-over")
	var e struct{ Error string }
	json.Unmarshal([]byte(body), &e)
	if resp.StatusCode != http.StatusServiceUnavailable || e.Error != "temporarily_unavailable" || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("refresh past the cap: %d Retry-After %q %s; want 503 temporarily_unavailable, Retry-After: 1",
			resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	redirect := p.base + "/redirect?code=c&state=" + url.QueryEscape(l.State)
	resp, body = get(t, client, redirect)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "Reload this page") {
		t.Errorf("redirect past the cap: %d Retry-After %q %s; want a 503 page saying to reload", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	mu.Lock()
	if calls != limit {
		t.Errorf("the provider got %d calls, want %d: a call past the cap was sent", calls, limit)
	}
	mu.Unlock()

	release()
	for range limit {
		if status := <-held; status != 200 {
			t.Errorf("a refresh under the cap: %d, want 200", status)
		}
	}
	// The user reloads the busy page: same state, same code.
	if resp, body := get(t, client, redirect); resp.StatusCode != 200 || !strings.Contains(body, "authenticated") {
		t.Fatalf("reload after the busy page: %d %s", resp.StatusCode, body)
	}
	if resp, body := post(t, client, p.base+"/poll?readKey="+l.ReadKey); resp.StatusCode != 200 || !strings.Contains(body, `"at"`) {
		t.Fatalf("poll: %d %s", resp.StatusCode, body)
	}
}

// startLogin starts a login as a plugin does.
func startLogin(t *testing.T, client *http.Client, base string) testkit.Login {
	t.Helper()
	l, err := (&testkit.Plugin{Base: base, Client: client}).Authorize()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func get(t *testing.T, client *http.Client, target string) (*http.Response, string) {
	t.Helper()
	return do(t, client, http.MethodGet, target)
}

func post(t *testing.T, client *http.Client, target string) (*http.Response, string) {
	t.Helper()
	return do(t, client, http.MethodPost, target)
}

func do(t *testing.T, client *http.Client, method, target string) (*http.Response, string) {
	t.Helper()
	return send(t, client, method, target, nil, "")
}

// send is do with a body of content type ct.
func send(t *testing.T, client *http.Client, method, target string, body io.Reader, ct string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}
