package security

// SECURITY.md property 3: tokens are delivered at most once, to the holder of the read
// key, and are gone after TOKEN_TTL. Starting a login stores nothing.

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"handoff/internal/testkit"
)

// race runs n polls for key at once and counts the answers by status.
func (h *handoff) race(t *testing.T, key string, n int) (map[int]int, []resp) {
	t.Helper()
	start := make(chan struct{})
	answers := make([]resp, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			answers[i] = h.pollAsync(key)
		}()
	}
	close(start)
	wg.Wait()
	byStatus := map[int]int{}
	for _, a := range answers {
		byStatus[a.status]++
	}
	return byStatus, answers
}

func TestFiftyConcurrentPollsGetOne200(t *testing.T) {
	for _, rl := range []string{"off", "on"} {
		t.Run("RATE_LIMIT="+rl, func(t *testing.T) {
			secrets := &testkit.Secrets{}
			p := newFakeProvider(t, secrets)
			h := startHandoff(t, p, map[string]string{"RATE_LIMIT": rl})
			rounds := 20
			if rl == "on" {
				rounds = 3 // each waits a second for the key's budget
			}
			for round := range rounds {
				l := h.authorize(t)
				if r := h.client.get(t, h.client.consent(t, l, false)); r.status != http.StatusOK {
					t.Fatalf("redirect: %v", r)
				}
				byStatus, answers := h.race(t, l.readKey, 50)
				if byStatus[http.StatusOK] != 1 {
					t.Fatalf("round %d: %d polls got 200, want exactly 1 (%v)", round, byStatus[http.StatusOK], byStatus)
				}
				for _, a := range answers {
					switch a.status {
					case http.StatusOK:
						if !strings.Contains(a.body, `"access_token"`) {
							t.Errorf("the 200 holds no tokens: %v", a)
						}
					case http.StatusNotFound, http.StatusGone:
					case http.StatusTooManyRequests:
						if rl == "off" {
							t.Errorf("429 with RATE_LIMIT=off: %v", a)
						}
					default:
						t.Errorf("a losing poll got %v, want 404 or 410", a)
					}
				}
				if rl == "on" {
					time.Sleep(1100 * time.Millisecond) // let the key's poll budget refill
				}
				wantCode(t, "a poll after delivery", h.poll(t, l.readKey), http.StatusGone, "already_delivered")
			}
		})
	}
}

func TestEachReadKeyGetsOnlyItsOwnTokens(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	h := startHandoff(t, p, nil)
	a, b := h.authorize(t), h.authorize(t)
	backA, backB := h.client.consent(t, a, false), h.client.consent(t, b, false)
	h.client.get(t, backB)
	h.client.get(t, backA)
	ra, rb := h.poll(t, a.readKey), h.poll(t, b.readKey)
	if ra.status != http.StatusOK || rb.status != http.StatusOK || ra.body == rb.body {
		t.Fatalf("two logins: %v / %v", ra, rb)
	}
}

func TestForgedReadKeysAre400AndTakeNothing(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	h := startHandoff(t, p, nil)
	l := h.authorize(t)
	h.client.get(t, h.client.consent(t, l, false)) // tokens are waiting
	raw, err := base64.RawURLEncoding.DecodeString(l.readKey)
	if err != nil {
		t.Fatal(err)
	}
	forged := func(what, key string) {
		t.Helper()
		wantCode(t, what, h.poll(t, key), http.StatusBadRequest, "invalid_request")
	}
	for bit := 0; bit < len(raw)*8; bit++ {
		b := append([]byte(nil), raw...)
		b[bit/8] ^= 1 << (bit % 8)
		forged("read key with a bit flipped", base64.RawURLEncoding.EncodeToString(b))
	}
	for n := 1; n < len(l.readKey); n++ {
		forged("truncated read key", l.readKey[:n])
	}
	for range 20 {
		forged("random read key", base64.RawURLEncoding.EncodeToString(append([]byte{raw[0]}, randBytes(len(raw)-1)...)))
	}
	forged("the state as a read key", l.state)
	forged("padded read key", base64.URLEncoding.EncodeToString(raw))
	forged("read key with a line break", l.readKey[:8]+"\n"+l.readKey[8:])
	forged("oversized read key", strings.Repeat("A", 4000))

	wantCode(t, "no read key (Airtable's liveness check)", h.client.post(t, h.URL+"/poll", "", ""), http.StatusBadRequest, "invalid_request")
	wantCode(t, "forged key in a form body", h.client.post(t, h.URL+"/poll", "application/x-www-form-urlencoded",
		"readKey="+url.QueryEscape(l.readKey[:40])), http.StatusBadRequest, "invalid_request")
	wantCode(t, "forged key in a JSON body", h.client.post(t, h.URL+"/poll", "application/json",
		`{"readKey":"`+l.readKey[:40]+`"}`), http.StatusBadRequest, "invalid_request")
	wantCode(t, "read key of the wrong JSON type", h.client.post(t, h.URL+"/poll", "application/json",
		`{"readKey":["`+l.readKey+`"]}`), http.StatusBadRequest, "invalid_request")
	// The query wins over the body: a forged query key is not rescued by a
	// genuine one in the body.
	wantCode(t, "forged query key, genuine body key", h.client.post(t, h.URL+"/poll?readKey=AAAA",
		"application/x-www-form-urlencoded", "readKey="+url.QueryEscape(l.readKey)), http.StatusBadRequest, "invalid_request")

	// All of that took nothing: the holder of the key still gets the tokens.
	if r := h.poll(t, l.readKey); r.status != http.StatusOK {
		t.Fatalf("the genuine poll after the forgeries: %v", r)
	}
}

func TestTokensGoneAfterTokenTTL(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	h := startHandoff(t, p, map[string]string{"TOKEN_TTL": "300ms"})
	l := h.authorize(t)
	h.client.get(t, h.client.consent(t, l, false))
	time.Sleep(1500 * time.Millisecond) // five times TOKEN_TTL
	wantCode(t, "poll after TOKEN_TTL", h.poll(t, l.readKey), http.StatusGone, "expired_token")
	wantCode(t, "poll again", h.poll(t, l.readKey), http.StatusGone, "expired_token")
}

func TestExpiredReadKeyIs410(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	h := startHandoff(t, p, map[string]string{"LOGIN_TTL": "300ms"})
	l := h.authorize(t)
	wantCode(t, "poll in time", h.poll(t, l.readKey), http.StatusNotFound, "authorization_pending")
	time.Sleep(1500 * time.Millisecond)
	wantCode(t, "poll after LOGIN_TTL", h.poll(t, l.readKey), http.StatusGone, "expired_token")
}

// Starting a login stores nothing: a login started on one server completes
// on a fresh one (a restart) that shares only the seal key.
func TestLoginStoresNothing(t *testing.T) {
	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)
	key := hexKey()
	first := startHandoff(t, p, map[string]string{"SEAL_KEY": key})
	l := first.authorize(t)
	back, err := url.Parse(first.client.consent(t, l, false))
	if err != nil {
		t.Fatal(err)
	}
	// The same app restarted: its REDIRECT_URI is the one the provider
	// checks the code against.
	second := startHandoff(t, p, map[string]string{"SEAL_KEY": key, "REDIRECT_URI": first.URL + "/redirect"})
	wantCode(t, "poll at the new server before the redirect", second.poll(t, l.readKey), http.StatusNotFound, "authorization_pending")
	r := second.client.get(t, second.redirectURL(back.Query()))
	wantPage(t, "redirect at the new server", r, http.StatusOK, "authenticated")
	if r := second.poll(t, l.readKey); r.status != http.StatusOK {
		t.Fatalf("poll at the new server: %v", r)
	}
}
