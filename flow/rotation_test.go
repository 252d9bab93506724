package flow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Refresh under rotation (docs/protocol.md#refresh): refreshes of one token
// share one provider call, and a success is answered again for
// REFRESH_REPLAY_TTL without one.

// rotatingProvider is a fake that rotates refresh tokens as Airtable,
// Notion or Slack do: each one works once, and its use issues the next.
// It counts refresh calls, and may hold them until released.
type rotatingProvider struct {
	*fakeProvider
	calls atomic.Int64
	mu    sync.Mutex
	valid map[string]bool
	n     int
	gate  chan struct{} // nil: answer at once
	open  sync.Once
	// fail, when set, answers the next call with this status and body.
	fail func() (int, string)
}

func newRotatingProvider(t *testing.T, first string, hold bool) *rotatingProvider {
	t.Helper()
	p := &rotatingProvider{valid: map[string]bool{first: true}}
	if hold {
		p.gate = make(chan struct{})
		t.Cleanup(p.release) // before the server's Close, which waits for its handlers
	}
	p.fakeProvider = newFake(t, func(w http.ResponseWriter, r *http.Request, s seen) {
		p.calls.Add(1)
		if p.gate != nil {
			<-p.gate
		}
		w.Header().Set("Content-Type", "application/json")
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.fail != nil {
			status, body := p.fail()
			p.fail = nil
			w.WriteHeader(status)
			io.WriteString(w, body)
			return
		}
		rt := s.Form.Get("refresh_token")
		if !p.valid[rt] {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_grant","error_description":"refresh token already used"}`)
			return
		}
		delete(p.valid, rt)
		p.n++
		next := fmt.Sprintf("rotated-refresh-token-%03d", p.n)
		p.valid[next] = true
		fmt.Fprintf(w, `{"access_token":"at-%03d","refresh_token":%q,"expires_in":3600}`, p.n, next)
	})
	return p
}

// release lets held calls answer.
func (p *rotatingProvider) release() { p.open.Do(func() { close(p.gate) }) }

const firstRefreshToken = "first-refresh-token-0123456789abcdef"

func TestConcurrentRefreshesShareOneCall(t *testing.T) {
	t.Parallel()
	const n = 20
	p := newRotatingProvider(t, firstRefreshToken, true)
	b := newBroker(t, p.config(Config{RefreshReplayTTL: time.Hour}))

	type result struct {
		body []byte
		err  error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			body, err := b.Refresh(context.Background(), firstRefreshToken)
			results <- result{body, err}
		}()
	}
	// Hold the one call until every other refresh waits for it, so the
	// sharing of a call in flight is what is tested, not the replay.
	deadline := time.Now().Add(20 * time.Second)
	for b.refreshing.shared.Load() < n-1 || p.calls.Load() < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s, %d refreshes wait for the call and %d calls were made", b.refreshing.shared.Load(), p.calls.Load())
		}
		time.Sleep(time.Millisecond)
	}
	p.release()
	var first []byte
	for range n {
		r := <-results
		if r.err != nil {
			t.Fatalf("a refresh failed: %v", r.err)
		}
		if first == nil {
			first = r.body
		}
		if !bytes.Equal(r.body, first) {
			t.Errorf("answers differ:\n%s\n%s", r.body, first)
		}
	}
	if c := p.calls.Load(); c != 1 {
		t.Errorf("%d provider calls for %d concurrent refreshes of one token, want 1", c, n)
	}
	if !bytes.Contains(first, []byte(`"rotated-refresh-token-001"`)) {
		t.Errorf("answer %s", first)
	}
}

func TestRefreshReplay(t *testing.T) {
	t.Parallel()
	p := newRotatingProvider(t, firstRefreshToken, false)
	b := newBroker(t, p.config(Config{RefreshReplayTTL: time.Hour}))
	first, err := b.Refresh(context.Background(), firstRefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	// The answer was lost; the plugin retries with the same token.
	for range 3 {
		again, err := b.Refresh(context.Background(), firstRefreshToken)
		if err != nil || !bytes.Equal(again, first) {
			t.Fatalf("retry: %s, %v; want the first answer %s", again, err, first)
		}
	}
	if c := p.calls.Load(); c != 1 {
		t.Errorf("%d provider calls, want 1", c)
	}
	// The rotated token is another key: it calls the provider.
	var r struct {
		RefreshToken string `json:"refresh_token"`
	}
	json.Unmarshal(first, &r)
	if _, err := b.Refresh(context.Background(), r.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if c := p.calls.Load(); c != 2 {
		t.Errorf("%d provider calls, want 2", c)
	}
	// The store holds hashes: no key holds the token or a piece of it.
	keys := b.replays.Keys()
	if len(keys) != 2 {
		t.Fatalf("%d replay entries, want 2", len(keys))
	}
	for _, k := range keys {
		for _, tok := range []string{firstRefreshToken, r.RefreshToken} {
			if bytes.Contains(k[:], []byte(tok[:8])) {
				t.Errorf("replay key %x holds part of a token", k)
			}
		}
	}
	if k := b.refreshKey(b.cfg.RefreshEndpoint, firstRefreshToken); !b.replays.Contains(k) {
		t.Error("the first token's entry is not under its hash")
	}
	// Another app (client id) with the same token and endpoint has
	// another key.
	other := newBroker(t, p.config(Config{ClientID: "another-client"}))
	if other.refreshKey(b.cfg.RefreshEndpoint, firstRefreshToken) == b.refreshKey(b.cfg.RefreshEndpoint, firstRefreshToken) {
		t.Error("two apps share a replay key")
	}
}

// Past REFRESH_REPLAY_TTL the token goes to the provider again, which
// refuses a rotated-away one: invalid_grant reaches the plugin.
func TestRefreshReplayExpires(t *testing.T) {
	t.Parallel()
	const ttl = 50 * time.Millisecond
	p := newRotatingProvider(t, firstRefreshToken, false)
	b := newBroker(t, p.config(Config{RefreshReplayTTL: ttl}))
	if _, err := b.Refresh(context.Background(), firstRefreshToken); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * ttl)
	_, err := b.Refresh(context.Background(), firstRefreshToken)
	e := ferr(t, err, KindProviderRejected, "invalid_grant")
	if e.Status != http.StatusBadRequest || !bytes.Contains(e.Body, []byte("already used")) {
		t.Errorf("status %d body %s, want the provider's", e.Status, e.Body)
	}
	if c := p.calls.Load(); c != 2 {
		t.Errorf("%d provider calls, want 2", c)
	}
}

// Errors are never kept: each retry after one asks the provider again.
func TestRefreshErrorsNotKept(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		body   string
		kind   Kind
	}{
		{"provider failed", 500, `{"error":"server_error"}`, KindProviderFailed},
		{"provider throttled", 429, `{"error":"rate_limited"}`, KindProviderFailed},
		{"provider refused", 400, `{"error":"invalid_grant"}`, KindProviderRejected},
		{"200 carrying an error", 200, `{"error":"invalid_grant"}`, KindProviderRejected},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := newRotatingProvider(t, firstRefreshToken, false)
			b := newBroker(t, p.config(Config{RefreshReplayTTL: time.Hour}))
			p.mu.Lock()
			p.fail = func() (int, string) { return c.status, c.body }
			p.mu.Unlock()
			_, err := b.Refresh(context.Background(), firstRefreshToken)
			ferr(t, err, c.kind, "")
			if b.replays.Len() != 0 {
				t.Error("an error was kept")
			}
			// The retry reaches the provider, which now answers.
			if _, err := b.Refresh(context.Background(), firstRefreshToken); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if n := p.calls.Load(); n != 2 {
				t.Errorf("%d provider calls, want 2", n)
			}
		})
	}
	t.Run("busy", func(t *testing.T) {
		t.Parallel()
		p := newBlockingProvider(t)
		b := newBroker(t, p.config(Config{ProviderConcurrency: 1, RefreshReplayTTL: time.Hour}))
		done := p.fill(t, b, 1)
		_, err := b.Refresh(context.Background(), firstRefreshToken)
		ferr(t, err, KindBusy, "temporarily_unavailable")
		p.release()
		<-done
		if _, err := b.Refresh(context.Background(), firstRefreshToken); err != nil {
			t.Fatalf("after the busy answer: %v", err)
		}
		if n := p.hits.Load(); n != 2 {
			t.Errorf("%d provider calls, want 2", n)
		}
	})
}

// The replay store is capped by MaxPending, like every store.
func TestRefreshReplayCapped(t *testing.T) {
	t.Parallel()
	f := newFake(t, reply(200, "application/json", `{"access_token":"a","refresh_token":"b"}`))
	b := newBroker(t, f.config(Config{MaxPending: 3, RefreshReplayTTL: time.Hour}))
	for i := range 10 {
		if _, err := b.Refresh(context.Background(), fmt.Sprintf("token-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.replays.Len(); n != 3 {
		t.Errorf("%d replay entries, want MaxPending (3)", n)
	}
}

// A refresh endpoint with a template variable takes its value from the
// request, checked as at /authorize.
func TestRefreshTemplateVariable(t *testing.T) {
	t.Parallel()
	f := newFake(t, reply(200, "application/json", `{"access_token":"a","refresh_token":"b"}`))
	b := newBroker(t, Config{
		AuthorizeEndpoint: f.srv.URL + "/authorize",
		TokenEndpoint:     f.srv.URL + "/shops/{shop}/token",
		Vars:              []TemplateVar{shopVar},
	})
	_, err := b.RefreshWith(context.Background(), "rt", nil)
	if e := ferr(t, err, KindInvalidRequest, "invalid_request"); e.Description[:5] != "shop:" {
		t.Errorf("description %q", e.Description)
	}
	_, err = b.RefreshWith(context.Background(), "rt", query("shop=Not+A+Shop"))
	ferr(t, err, KindInvalidRequest, "invalid_request")
	if _, err := b.RefreshWith(context.Background(), "rt", query("shop=acme")); err != nil {
		t.Fatal(err)
	}
	if r := f.requests(); len(r) != 1 || r[0].Path != "/shops/acme/token" {
		t.Errorf("requests %+v", r)
	}
}
