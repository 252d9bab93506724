package flow

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"handoff/internal/mockprovider"
)

// Delivery: exactly once, to the holder of the read key, within TOKEN_TTL;
// 410 outcomes afterwards; bounded stores.

func TestPollExactlyOnceConcurrent(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name            string
		pollers, rounds int
		// forced holds every poller between its look at the tokens
		// (Peek) and its Remove until all of them got there, so only
		// Remove's answer can tell them apart: the interleaving that
		// matters, every time. Otherwise the scheduler interleaves them.
		forced bool
	}{
		{"8 pollers that all saw the tokens", 8, 1, true},
		{"20 pollers", 20, 30, false},
		{"50 pollers", 50, 30, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			const want = `{"access_token":"a","token_type":"bearer"}`
			f := newFake(t, reply(200, "application/json", want))
			b := newBroker(t, f.config(Config{}))
			for round := range c.rounds {
				l, _ := mustLogin(t, b)
				if c.forced {
					var peeked sync.WaitGroup
					peeked.Add(c.pollers)
					b.betweenPeekAndRemove = func() { peeked.Done(); peeked.Wait() }
				}
				var delivered, gone, pending atomic.Int64
				start := make(chan struct{})
				var wg sync.WaitGroup
				for range c.pollers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						tokens, err := b.Poll(l.ReadKey, PollOptions{})
						if err == nil {
							if string(tokens) != want {
								t.Errorf("tokens %s", tokens)
							}
							delivered.Add(1)
							return
						}
						e, _ := err.(*Error)
						switch {
						case e != nil && e.Kind == KindGone && e.Code == "already_delivered":
							gone.Add(1)
						case e != nil && e.Kind == KindPending && !c.forced:
							pending.Add(1)
						default:
							t.Errorf("poll: %v", err)
						}
					}()
				}
				close(start)
				wg.Wait()
				if delivered.Load() != 1 {
					t.Fatalf("round %d: %d pollers got the tokens (%d gone, %d pending), want exactly 1",
						round, delivered.Load(), gone.Load(), pending.Load())
				}
				pollErr(t, b, l.ReadKey, KindGone, "already_delivered")
			}
		})
	}
}

// Polls racing the redirect: whoever wins, exactly one poller gets the
// tokens and no poller is told to stop before they exist.
func TestPollRacesRedirect(t *testing.T) {
	t.Parallel()
	_, b := grantingFake(t, Config{})
	const pollers = 8
	for round := range 200 {
		l := b.Authorize()
		q := approve(t, l.URL)
		var delivered, stopped atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range pollers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for {
					_, err := b.Poll(l.ReadKey, PollOptions{})
					if err == nil {
						delivered.Add(1)
						return
					}
					if e := err.(*Error); e.Kind != KindPending {
						stopped.Add(1)
						return
					}
					if runtime.GOMAXPROCS(0) == 1 {
						runtime.Gosched() // let the redirect run
					}
				}
			}()
		}
		close(start)
		if err := b.Redirect(context.Background(), Callback{State: q.Get("state"), Code: q.Get("code")}); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if delivered.Load() != 1 {
			t.Fatalf("round %d: %d pollers got the tokens, %d were told to stop; want exactly 1 delivery", round, delivered.Load(), stopped.Load())
		}
	}
}

// The same race, made deterministic: the redirect stores the tokens and the
// outcome between the poll's look at the tokens and its look at the outcome
// (b.now is called between the two). The poll must deliver, not answer
// already_delivered while the tokens sit there.
func TestPollSeesOutcomeBeforeTokens(t *testing.T) {
	t.Parallel()
	b := newBroker(t, Config{})
	l := b.Authorize()
	rk, _ := b.openReadKey(l.ReadKey)
	var once sync.Once
	b.now = func() time.Time {
		once.Do(func() {
			b.record(rk.id, outcome{kind: outcomeReady, tokensUntil: time.Now().Add(time.Minute)}, []byte(`{"access_token":"a"}`))
		})
		return time.Now()
	}
	tokens, err := b.Poll(l.ReadKey, PollOptions{})
	if err != nil || string(tokens) != `{"access_token":"a"}` {
		t.Fatalf("Poll = %s, %v; want the tokens", tokens, err)
	}
	pollErr(t, b, l.ReadKey, KindGone, "already_delivered")
}

// TestPollTakesTokensBeforeTheirOutcome polls while record has stored the
// tokens but not yet their "ready" outcome. The poll that takes them must
// leave "delivered" behind, not have record overwrite it with "ready":
// that would answer expired_token, and log tokens that expired, once
// TOKEN_TTL passed.
func TestPollTakesTokensBeforeTheirOutcome(t *testing.T) {
	t.Parallel()
	b := newBroker(t, Config{LoginTTL: time.Hour, TokenTTL: time.Minute})
	l := b.Authorize()
	rk, _ := b.openReadKey(l.ReadKey)
	const want = `{"access_token":"a"}`
	var tokens []byte
	var err error
	polled := make(chan struct{})
	b.betweenTokensAndOutcome = func() {
		go func() {
			defer close(polled)
			tokens, err = b.Poll(l.ReadKey, PollOptions{})
		}()
		// A poll that does not wait for record's lock ends at once; one
		// that does cannot end until record returns.
		select {
		case <-polled:
		case <-time.After(200 * time.Millisecond):
		}
	}
	if !b.record(rk.id, outcome{kind: outcomeReady, tokensUntil: time.Now().Add(time.Minute)}, []byte(want)) {
		t.Fatal("record refused the tokens")
	}
	<-polled
	if err != nil || string(tokens) != want {
		t.Fatalf("Poll = %s, %v; want the tokens", tokens, err)
	}
	if o, _ := b.outcomes.Peek(rk.id); o.kind != outcomeDelivered {
		t.Errorf("outcome %d after the poll took the tokens, want delivered (%d)", o.kind, outcomeDelivered)
	}
	advance(b, 2*time.Minute) // past the tokens' TTL, within the login's
	pollErr(t, b, l.ReadKey, KindGone, "already_delivered")
}

func TestPollAnswers(t *testing.T) {
	t.Parallel()
	f, b := grantingFake(t, Config{})
	other := newBroker(t, f.config(Config{Sealer: testSealer(t, "another app")}))

	pollErr(t, b, "", KindInvalidRequest, "invalid_request")

	l := b.Authorize()
	forged := []byte(l.ReadKey)
	forged[len(forged)/2] = otherChar(forged[len(forged)/2])
	for _, key := range []string{"x", "garbage!", string(forged), l.ReadKey[:len(l.ReadKey)-2], l.ReadKey + "A",
		strings.Repeat("A", 5000), other.Authorize().ReadKey} {
		e := pollErr(t, b, key, KindInvalidRequest, "invalid_request")
		secretsAbsent(t, e, key)
	}
	pollErr(t, b, l.ReadKey, KindPending, "authorization_pending")
	// Polls store nothing.
	if b.tokens.Len()+b.outcomes.Len()+b.usedStates.Len() != 0 {
		t.Error("polls stored something")
	}
}

// advance makes b's clock run ahead of the real one by d from now on. Only
// the broker's own checks (the expiry sealed into read keys and states, and
// when stored tokens are due) read this clock; the stores' TTLs run on real
// time. It lets a test pass LOGIN_TTL without waiting for it, so a loaded
// machine cannot make a login outlive a short TTL before the test is ready.
func advance(b *Broker, d time.Duration) {
	b.now = func() time.Time { return time.Now().Add(d) }
}

func TestPollTTLs(t *testing.T) {
	t.Parallel()
	// Real short TTLs where only "expired" is asserted: waiting longer than
	// planned cannot break these.
	const short = 200 * time.Millisecond
	const wait = 600 * time.Millisecond
	_, srv := mockProvider(t, mockprovider.Options{})

	t.Run("expired read key", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t, mockConfig(srv, Config{LoginTTL: short}))
		l := b.Authorize()
		time.Sleep(wait)
		pollErr(t, b, l.ReadKey, KindGone, "expired_token")
	})
	t.Run("tokens not collected within TokenTTL", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t, mockConfig(srv, Config{TokenTTL: short}))
		l, _ := mustLogin(t, b)
		time.Sleep(wait)
		for range 2 {
			pollErr(t, b, l.ReadKey, KindGone, "expired_token")
		}
		if b.tokens.Len() > 1 {
			t.Error("expired tokens linger")
		}
	})
	t.Run("tokens in time outlive a short LoginTTL", func(t *testing.T) {
		t.Parallel()
		const loginTTL = 2 * time.Second
		b := newBroker(t, mockConfig(srv, Config{LoginTTL: loginTTL, TokenTTL: time.Minute}))
		started := time.Now()
		l, _, err := login(t, b)
		if err != nil {
			if time.Since(started) > loginTTL/2 {
				t.Skipf("the machine is too loaded to finish a login within %v", loginTTL)
			}
			t.Fatal(err)
		}
		time.Sleep(time.Until(started.Add(loginTTL + 500*time.Millisecond)))
		mustPoll(t, b, l.ReadKey)
		pollErr(t, b, l.ReadKey, KindGone, "expired_token")
	})

	// The same rules past LOGIN_TTL on the broker's clock.
	t.Run("tokens in time outlive LoginTTL", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t, mockConfig(srv, Config{LoginTTL: time.Minute, TokenTTL: time.Minute}))
		l, _ := mustLogin(t, b)
		advance(b, 2*time.Minute)
		mustPoll(t, b, l.ReadKey)
		pollErr(t, b, l.ReadKey, KindGone, "expired_token")
	})
	t.Run("already delivered until the key expires", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t, mockConfig(srv, Config{LoginTTL: time.Minute}))
		l, _ := mustLogin(t, b)
		mustPoll(t, b, l.ReadKey)
		for range 3 {
			pollErr(t, b, l.ReadKey, KindGone, "already_delivered")
		}
		advance(b, 59*time.Second)
		pollErr(t, b, l.ReadKey, KindGone, "already_delivered")
		advance(b, 61*time.Second)
		pollErr(t, b, l.ReadKey, KindGone, "expired_token")
	})
	t.Run("failed outcome until the key expires", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t, mockConfig(srv, Config{LoginTTL: time.Minute}))
		l := b.Authorize()
		st := mustParseURL(t, l.URL).Query().Get("state")
		ferr(t, b.Redirect(context.Background(), Callback{State: st, Error: "access_denied"}), KindCancelled, "")
		pollErr(t, b, l.ReadKey, KindGone, "access_denied")
		advance(b, 61*time.Second)
		pollErr(t, b, l.ReadKey, KindGone, "expired_token")
	})
	t.Run("tokens due by the broker's clock", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t, mockConfig(srv, Config{TokenTTL: time.Minute}))
		l, _ := mustLogin(t, b)
		// Still in the store (real time), but due: a concurrent-poll race
		// is no longer the explanation, so the answer is expired_token...
		b.tokens.Remove(mustOpen(t, b, l.ReadKey))
		advance(b, 2*time.Minute)
		pollErr(t, b, l.ReadKey, KindGone, "expired_token")
		// ...and before that, already_delivered.
		advance(b, 0)
		pollErr(t, b, l.ReadKey, KindGone, "already_delivered")
	})
}

func mustOpen(t *testing.T, b *Broker, key string) loginID {
	t.Helper()
	rk, ok := b.openReadKey(key)
	if !ok {
		t.Fatal("read key does not open")
	}
	return rk.id
}

func TestAuthorizeStoresNothing(t *testing.T) {
	t.Parallel()
	b := newBroker(t, Config{PKCE: true, PollLimit: 10, MaxPending: 100})
	keys := make(map[string]bool, 10000)
	for range 10000 {
		l := b.Authorize()
		if keys[l.ReadKey] {
			t.Fatal("read key repeated")
		}
		keys[l.ReadKey] = true
	}
	if n := b.tokens.Len() + b.outcomes.Len() + b.usedStates.Len(); n != 0 {
		t.Fatalf("10000 logins started, %d entries stored", n)
	}
}

// SECURITY.md property 3: no store holds more than MAX_PENDING entries.
func TestMaxPending(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, s seen) {
		if n.Add(1)%3 == 0 {
			reply(400, "application/json", `{"error":"invalid_grant"}`)(w, r, s)
			return
		}
		reply(200, "application/json", `{"access_token":"a"}`)(w, r, s)
	})
	const max = 5
	b := newBroker(t, f.config(Config{MaxPending: max, PollLimit: 10}))
	var keys []string
	delivered := map[string]bool{}
	for i := range 20 {
		l, _, _ := login(t, b)
		keys = append(keys, l.ReadKey)
		if i%2 == 0 {
			if _, err := b.Poll(l.ReadKey, PollOptions{}); err == nil {
				delivered[l.ReadKey] = true
			}
		}
		// a cancelled login too
		c := b.Authorize()
		b.Redirect(context.Background(), Callback{State: mustParseURL(t, c.URL).Query().Get("state"), Error: "access_denied"})
		b.Poll(c.ReadKey, PollOptions{})
		for name, n := range map[string]int{"tokens": b.tokens.Len(), "outcomes": b.outcomes.Len(), "used states": b.usedStates.Len()} {
			if n > max {
				t.Fatalf("after %d logins the %s store holds %d entries, MaxPending is %d", i+1, name, n, max)
			}
		}
	}
	// The most recent logins still answer; the oldest may have been evicted
	// (pending again). None delivers twice: not one delivered above, and
	// not one delivered here either when polled again.
	for _, k := range keys {
		for poll := range 2 {
			_, err := b.Poll(k, PollOptions{})
			if err == nil {
				if delivered[k] {
					t.Fatalf("a login's tokens delivered twice (poll %d of the last round)", poll+1)
				}
				delivered[k] = true
				continue
			}
			switch err.(*Error).Kind {
			case KindGone, KindPending:
			default:
				t.Errorf("poll: %v", err)
			}
		}
	}
	if len(delivered) == 0 {
		t.Error("no login delivered its tokens")
	}
}

func TestPollLimit(t *testing.T) {
	t.Parallel()
	b := newBroker(t, Config{PollLimit: 10})
	l := b.Authorize()
	slowed := 0
	started := time.Now()
	for i := range 30 {
		_, err := b.Poll(l.ReadKey, PollOptions{})
		switch e := err.(*Error); {
		case e.Kind == KindSlowDown:
			if i < 10 {
				t.Fatalf("poll %d slowed down: 10 a second are allowed", i+1)
			}
			slowed++
		case e.Kind != KindPending:
			t.Fatal(err)
		}
	}
	// The bucket refills one poll per 100ms: however loaded the machine,
	// a burst of 30 in under half a second has at least 15 refused.
	if elapsed := time.Since(started); slowed > 20 || elapsed < 500*time.Millisecond && slowed < 15 {
		t.Errorf("%d of 30 polls in %v slowed down", slowed, elapsed)
	}
	// Another login is not affected.
	pollErr(t, b, b.Authorize().ReadKey, KindPending, "")
}
