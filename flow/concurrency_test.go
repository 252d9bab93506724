package flow

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// blockingProvider is a fake whose token endpoint holds every request until
// release is called; arrived receives one value per request that got there.
type blockingProvider struct {
	*fakeProvider
	arrived chan struct{}
	release func()
}

func newBlockingProvider(t *testing.T) blockingProvider {
	t.Helper()
	arrived := make(chan struct{}, 64)
	gate := make(chan struct{})
	var once sync.Once
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, s seen) {
		arrived <- struct{}{}
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		reply(200, "application/json", `{"access_token":"a"}`)(w, r, s)
	})
	release := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release) // before the server's Close, which waits for its handlers
	return blockingProvider{f, arrived, release}
}

// fill starts n refreshes that the provider holds, and waits until all n
// are at the provider. It returns their errors once they finish.
func (p blockingProvider) fill(t *testing.T, b *Broker, n int) <-chan error {
	t.Helper()
	done := make(chan error, n)
	for i := range n {
		go func() {
			// Each its own token: refreshes of one token share a call.
			_, err := b.Refresh(context.Background(), "rt-"+string(rune('a'+i)))
			done <- err
		}()
	}
	for range n {
		<-p.arrived
	}
	return done
}

// PROVIDER_CONCURRENCY (SECURITY.md, property 11): past the cap a call to the provider
// fails at once with KindBusy, sends nothing, and spends nothing; the calls
// under the cap finish normally and give their slots back.
func TestProviderConcurrencyCap(t *testing.T) {
	t.Parallel()
	const limit = 3
	cases := []struct {
		name string
		// over makes one more call while the cap is full and checks it.
		over func(t *testing.T, b *Broker)
	}{
		{"refresh", func(t *testing.T, b *Broker) {
			_, err := b.Refresh(context.Background(), "rt-over")
			ferr(t, err, KindBusy, "temporarily_unavailable")
		}},
		{"redirect keeps the state and code for a reload", func(t *testing.T, b *Broker) {
			l := b.Authorize()
			q := approve(t, l.URL)
			cb := Callback{State: q.Get("state"), Code: q.Get("code")}
			err := b.Redirect(context.Background(), cb)
			e := ferr(t, err, KindBusy, "temporarily_unavailable")
			secretsAbsent(t, e, q.Get("state"), q.Get("code"), l.ReadKey)
			if _, err := b.Poll(l.ReadKey, PollOptions{}); err == nil {
				t.Fatal("tokens after a busy redirect")
			} else {
				ferr(t, err, KindPending, "") // nothing recorded: the login goes on
			}
			// The reload, once a slot is free, completes the login.
			t.Cleanup(func() {
				if err := b.Redirect(context.Background(), cb); err != nil {
					t.Errorf("the reload after the busy page: %v", err)
					return
				}
				mustPoll(t, b, l.ReadKey)
			})
		}},
		{"a cancelled login needs no slot", func(t *testing.T, b *Broker) {
			l := b.Authorize()
			q := approve(t, l.URL)
			err := b.Redirect(context.Background(), Callback{State: q.Get("state"), Error: "access_denied"})
			ferr(t, err, KindCancelled, "access_denied")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := newBlockingProvider(t)
			b := newBroker(t, p.config(Config{ProviderConcurrency: limit}))
			done := p.fill(t, b, limit)

			c.over(t, b)
			if n := p.hits.Load(); n != limit {
				t.Errorf("%d requests reached the provider, want %d: the call past the cap was sent", n, limit)
			}

			p.release()
			for range limit {
				if err := <-done; err != nil {
					t.Errorf("a call under the cap: %v", err)
				}
			}
			// The slots are back.
			if _, err := b.Refresh(context.Background(), "rt-after"); err != nil {
				t.Errorf("after the calls finished: %v", err)
			}
		})
	}
}

// A call that fails gives its slot back as one that succeeds does.
func TestProviderSlotsReturnedOnFailure(t *testing.T) {
	t.Parallel()
	f := newFake(t, reply(500, "text/plain", "down"))
	b := newBroker(t, f.config(Config{ProviderConcurrency: 1}))
	for i := range 5 {
		_, err := b.Refresh(context.Background(), "rt")
		ferr(t, err, KindProviderFailed, "")
		_, _, err = login(t, b)
		ferr(t, err, KindProviderFailed, "")
		if i == 4 && f.hits.Load() != 10 {
			t.Errorf("%d requests reached the provider, want 10", f.hits.Load())
		}
	}
}

func TestProviderConcurrencyConfig(t *testing.T) {
	t.Parallel()
	cfg := Config{ClientID: "c", RedirectURI: testRedirectURI, AuthorizeEndpoint: "https://p.example/a",
		TokenEndpoint: "https://p.example/t", LoginTTL: time.Minute, TokenTTL: time.Minute, ProviderTimeout: time.Second, MaxPending: 1,
		Sealer: testSealer(t, "config")}
	cfg.ProviderConcurrency = -1
	if _, err := New(cfg); err == nil {
		t.Error("a negative ProviderConcurrency was accepted")
	}
	cfg.ProviderConcurrency = 0
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.cfg.ProviderConcurrency != DefaultProviderConcurrency {
		t.Errorf("ProviderConcurrency 0 became %d, want the default %d", b.cfg.ProviderConcurrency, DefaultProviderConcurrency)
	}
}

// A login the user cancelled calls nobody: its redirect needs no provider
// slot, even when the provider sends a code with the error (error wins over
// code), so a provider at its cap never turns a cancel into "busy".
func TestCancelNeedsNoProviderSlot(t *testing.T) {
	t.Parallel()
	f, b := grantingFake(t, Config{ProviderConcurrency: 1})
	if err := b.acquireProvider(); err != nil { // the one slot, held
		t.Fatal(err)
	}
	defer b.releaseProvider()
	for _, cb := range []Callback{
		{Error: "access_denied"},
		{Error: "access_denied", Code: "a-code-too"},
	} {
		l := b.Authorize()
		q := approve(t, l.URL)
		cb.State = q.Get("state")
		ferr(t, b.Redirect(context.Background(), cb), KindCancelled, "access_denied")
	}
	// While an exchange would wait for the slot.
	l := b.Authorize()
	q := approve(t, l.URL)
	ferr(t, b.Redirect(context.Background(), Callback{State: q.Get("state"), Code: q.Get("code")}), KindBusy, "temporarily_unavailable")
	if n := f.hits.Load(); n != 0 {
		t.Errorf("%d token requests, want none", n)
	}
}
