package web_test

import (
	"fmt"
	"testing"
	"time"
)

// documentedIPLimit is the per-IP limit as docs/protocol.md#configuration
// states it: 300 requests a minute per client IP on each of /authorize,
// /redirect and /refresh. A number, not web.IPLimit, so that a change to
// the code's constant fails here instead of moving the test with it.
const documentedIPLimit = 300

// TestRateLimitPerIP: with RATE_LIMIT on, one client IP gets 300 requests a
// minute on each of /authorize, /redirect, /refresh and /revoke, then 429 slow_down
// with Retry-After: 1 (docs/protocol.md#limits).
func TestRateLimitPerIP(t *testing.T) {
	t.Parallel()
	s := start(t, setup{rateLimit: true, pollLimit: 10})
	for _, c := range []struct {
		method, path string
		page         bool
	}{
		{"POST", "/authorize", false},
		{"POST", "/refresh", false}, // 400 (no token) until the limit
		{"POST", "/revoke", false},  // 501 (no revocation endpoint) until the limit
		{"GET", "/redirect", true},  // 400 page (no state) until the limit
	} {
		t.Run(c.path, func(t *testing.T) {
			exhaust(t, func() response { return s.do(c.method, c.path, nil) })
			r := s.do(c.method, c.path, nil, "Origin", testPluginOrigin)
			if got := r.header.Get("Retry-After"); got != "1" {
				t.Errorf("Retry-After %q, want 1", got)
			}
			checkCORS(t, r, testPluginOrigin)
			if c.page {
				if r.status != 429 {
					t.Fatalf("status %d, want 429", r.status)
				}
				checkPage(t, r, "Too many")
			} else {
				checkError(t, r, 429, "slow_down")
			}
		})
	}
	// Each route has its own budget, and /poll has no per-IP limit.
	if r := s.do("GET", "/healthz", nil); r.status != 200 {
		t.Errorf("healthz: %d", r.status)
	}
	for range 20 {
		if r := s.do("POST", "/poll", nil); r.status != 400 {
			t.Fatalf("poll without a key after the IP limits: %d", r.status)
		}
	}
}

// TestRateLimitOff: without RateLimit nothing is throttled.
func TestRateLimitOff(t *testing.T) {
	t.Parallel()
	s := start(t, setup{})
	for i := range documentedIPLimit + 20 {
		if r := s.do("POST", "/authorize", nil); r.status != 200 {
			t.Fatalf("request %d: %d", i+1, r.status)
		}
	}
}

// TestRateLimitFlyClientIP: Fly-Client-IP decides the client only when the
// server runs behind Fly's proxy; elsewhere anyone could forge it.
func TestRateLimitFlyClientIP(t *testing.T) {
	t.Parallel()
	t.Run("trusted", func(t *testing.T) {
		t.Parallel()
		s := start(t, setup{rateLimit: true, trustFly: true})
		exhaust(t, func() response { return s.do("POST", "/authorize", nil, "Fly-Client-IP", "203.0.113.7") })
		checkError(t, s.do("POST", "/authorize", nil, "Fly-Client-IP", "203.0.113.7"), 429, "slow_down")
		if r := s.do("POST", "/authorize", nil, "Fly-Client-IP", "203.0.113.8"); r.status != 200 {
			t.Errorf("another client behind Fly's proxy: %d", r.status)
		}
	})
	t.Run("ignored", func(t *testing.T) {
		t.Parallel()
		s := start(t, setup{rateLimit: true})
		i := 0
		exhaust(t, func() response {
			i++
			return s.do("POST", "/authorize", nil, "Fly-Client-IP", fmt.Sprintf("198.51.100.%d", i%250))
		})
		checkError(t, s.do("POST", "/authorize", nil, "Fly-Client-IP", "192.0.2.1"), 429, "slow_down")
	})
}

// TestPollRateLimit: one read key polled more than 10 times in a second gets
// 429; a key polled about once a second, and many keys from one address, never
// do (docs/protocol.md).
func TestPollRateLimit(t *testing.T) {
	t.Parallel()

	t.Run("burst on one key", func(t *testing.T) {
		t.Parallel()
		s := start(t, setup{rateLimit: true, pollLimit: 10})
		// Polls one after another until one is refused. The first 10
		// always pass (a key starts with a full second's budget); past
		// them a poll passes only on what the time since the first earned
		// back (one every 100 ms). A slow machine earns more back, so the
		// bound below grows with the time taken: no speed is assumed.
		key := s.authorize().ReadKey
		begin := time.Now()
		var last response
		passed := 0
		for ; passed < 1000; passed++ {
			last = s.do("POST", "/poll?readKey="+key, nil, "Origin", testPluginOrigin)
			if last.status != 404 {
				break
			}
		}
		earned := int(time.Since(begin) / (100 * time.Millisecond))
		if passed < 10 || passed > 10+earned+1 {
			t.Fatalf("refused after %d polls in %v, want 10 (+%d earned back): %d %s",
				passed, time.Since(begin), earned, last.status, last.body)
		}
		checkError(t, last, 429, "slow_down")
		checkCORS(t, last, testPluginOrigin)
		if got := last.header.Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After %q, want 1", got)
		}
		// Another key from the same address is not affected.
		checkError(t, s.poll(s.authorize().ReadKey), 404, "authorization_pending")
		// After a second's pause the key may poll again (a longer pause
		// on a loaded machine only earns more).
		time.Sleep(1100 * time.Millisecond)
		checkError(t, s.poll(key), 404, "authorization_pending")
	})

	t.Run("one poll a second is never throttled", func(t *testing.T) {
		t.Parallel()
		s := start(t, setup{rateLimit: true, pollLimit: 10})
		key := s.authorize().ReadKey
		for i := range 5 {
			if i > 0 {
				time.Sleep(time.Second)
			}
			// Two polls close together each time: a plugin that retries
			// at once stays well inside the limit too.
			for range 2 {
				checkError(t, s.poll(key), 404, "authorization_pending")
			}
		}
	})

	t.Run("100 keys from one address", func(t *testing.T) {
		t.Parallel()
		s := start(t, setup{rateLimit: true, pollLimit: 10})
		keys := make([]string, 100)
		for i := range keys {
			keys[i] = s.authorize().ReadKey
		}
		for round := range 3 {
			for i, k := range keys {
				if r := s.poll(k); r.status != 404 {
					t.Fatalf("round %d, key %d: %d %s", round, i, r.status, r.body)
				}
			}
		}
	})
}

// exhaust sends requests until one is refused with 429, and checks that the
// limit let through documentedIPLimit requests, plus at most the few it earns back
// while they are sent (300 a minute is one every 200 ms).
func exhaust(t *testing.T, send func() response) {
	t.Helper()
	begin := time.Now()
	for n := 0; n < 2*documentedIPLimit; n++ {
		r := send()
		if r.status != 429 {
			continue
		}
		earned := int(time.Since(begin) / (time.Minute / documentedIPLimit))
		if n < documentedIPLimit || n > documentedIPLimit+earned+1 {
			t.Fatalf("refused after %d requests in %v, want %d (+%d earned back)", n, time.Since(begin), documentedIPLimit, earned)
		}
		return
	}
	t.Fatalf("%d requests, none refused", 2*documentedIPLimit)
}
