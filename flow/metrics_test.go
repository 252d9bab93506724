package flow

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"handoff/internal/metrics"
	"handoff/internal/mockprovider"
	"handoff/internal/testkit"
)

// counted is a broker with its own metrics registry and log.
type counted struct {
	*Broker
	reg *metrics.Registry
	log *testkit.Buffer
}

func newCounted(t *testing.T, cfg Config) counted {
	t.Helper()
	c := counted{reg: metrics.New(), log: &testkit.Buffer{}}
	cfg.Metrics = c.reg.App("")
	cfg.Logger = slog.New(slog.NewTextHandler(c.log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c.Broker = newBroker(t, cfg)
	return c
}

// value reads one series as served.
func (c counted) value(t *testing.T, series string) float64 {
	t.Helper()
	var buf bytes.Buffer
	c.reg.WritePrometheus(&buf)
	m, err := testkit.ParseMetrics(buf.String())
	if err != nil {
		t.Fatal(err)
	}
	v, ok := m[series]
	if !ok {
		t.Fatalf("no series %s in:\n%s", series, buf.String())
	}
	return v
}

func finished(outcome string) string {
	return `handoff_logins_finished_total{handoff_app="",outcome="` + outcome + `"}`
}

// waitFor waits until series reaches want; the store's cleanup runs on its
// own clock, so the test waits for the count, not for a time.
func (c counted) waitFor(t *testing.T, series string, want float64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for c.value(t, series) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", series, c.value(t, series), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c counted) want(t *testing.T, series string, want float64) {
	t.Helper()
	if got := c.value(t, series); got != want {
		t.Errorf("%s = %v, want %v", series, got, want)
	}
}

// Tokens that wait TOKEN_TTL with no poll are counted not_collected, once,
// by the store's eviction callback, and logged without the tokens.
func TestNotCollectedOnExpiry(t *testing.T) {
	t.Parallel()
	const access = "at-never-logged-7d1e"
	f := newFake(t, reply(200, "application/json", `{"access_token":"`+access+`"}`))
	b := newCounted(t, f.config(Config{TokenTTL: 100 * time.Millisecond}))
	mustLogin(t, b.Broker)
	b.waitFor(t, finished("not_collected"), 1)
	b.want(t, finished("delivered"), 0)
	b.want(t, `handoff_pending{handoff_app="",store="tokens"}`, 0)
	log := b.log.String()
	if !strings.Contains(log, `msg="tokens not collected"`) || !strings.Contains(log, "reason=expired") {
		t.Errorf("no line for the expired tokens:\n%s", log)
	}
	if strings.Contains(log, access) {
		t.Errorf("the log shows tokens:\n%s", log)
	}
}

// A poll's Remove also runs the eviction callback: a delivery must not be
// counted as tokens not collected, and the count is final at once (the
// callback runs inside Remove).
func TestDeliveredIsNotNotCollected(t *testing.T) {
	t.Parallel()
	_, srv := mockProvider(t, mockprovider.Options{})
	b := newCounted(t, mockConfig(srv, Config{}))
	for range 3 {
		l, _ := mustLogin(t, b.Broker)
		b.want(t, `handoff_pending{handoff_app="",store="tokens"}`, 1)
		mustPoll(t, b.Broker, l.ReadKey)
		b.want(t, `handoff_pending{handoff_app="",store="tokens"}`, 0)
	}
	b.want(t, finished("delivered"), 3)
	b.want(t, finished("not_collected"), 0)
	b.want(t, `handoff_logins_started_total{handoff_app=""}`, 3)
	b.want(t, `handoff_provider_seconds_count{handoff_app="",call="exchange"}`, 3)
	b.Close() // nothing left to drop
	b.want(t, finished("not_collected"), 0)
}

// Pollers racing for one login's tokens: one delivery, nothing counted as
// not collected, whichever Remove wins.
func TestRacingPollsCountOneDelivery(t *testing.T) {
	t.Parallel()
	_, srv := mockProvider(t, mockprovider.Options{})
	b := newCounted(t, mockConfig(srv, Config{}))
	const rounds = 20
	for range rounds {
		l, _ := mustLogin(t, b.Broker)
		var wg sync.WaitGroup
		var got atomic.Int32
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := b.Poll(l.ReadKey, PollOptions{}); err == nil {
					got.Add(1)
				}
			}()
		}
		wg.Wait()
		if got.Load() != 1 {
			t.Fatalf("%d deliveries", got.Load())
		}
	}
	b.want(t, finished("delivered"), rounds)
	b.want(t, finished("not_collected"), 0)
}

// Tokens pushed out of a full store (MAX_PENDING) were not collected either.
func TestNotCollectedWhenStoreFull(t *testing.T) {
	t.Parallel()
	_, srv := mockProvider(t, mockprovider.Options{})
	b := newCounted(t, mockConfig(srv, Config{MaxPending: 1}))
	for range 2 {
		mustLogin(t, b.Broker)
	}
	b.want(t, finished("not_collected"), 1)
	if log := b.log.String(); !strings.Contains(log, `reason="store full (MAX_PENDING)"`) {
		t.Errorf("no line for the evicted tokens:\n%s", log)
	}
}

// Tokens still waiting when the server stops are lost: counted and logged.
func TestNotCollectedAtClose(t *testing.T) {
	t.Parallel()
	_, srv := mockProvider(t, mockprovider.Options{})
	b := newCounted(t, mockConfig(srv, Config{}))
	mustLogin(t, b.Broker)
	b.Close()
	b.want(t, finished("not_collected"), 1)
	if log := b.log.String(); !strings.Contains(log, `reason="server stopping"`) {
		t.Errorf("no line for the dropped tokens:\n%s", log)
	}
}

// A login past LOGIN_TTL is counted expired once, however often its read
// key is polled and its state comes back.
func TestExpiredCountedOnce(t *testing.T) {
	t.Parallel()
	b := newCounted(t, Config{LoginTTL: time.Minute})
	l := b.Authorize()
	advance(b.Broker, 2*time.Minute)
	for range 3 {
		pollErr(t, b.Broker, l.ReadKey, KindGone, "expired_token")
	}
	st := mustParseURL(t, l.URL).Query().Get("state")
	ferr(t, b.Redirect(context.Background(), Callback{State: st, Code: "c"}), KindInvalidState, "expired_token")
	b.want(t, finished("expired"), 1)
	if n := strings.Count(b.log.String(), `msg="login expired"`); n != 1 {
		t.Errorf("%d lines say the login expired, want 1:\n%s", n, b.log)
	}
}

// Each way a redirect ends a login without tokens has its outcome, and
// every exchange is timed.
func TestRedirectOutcomes(t *testing.T) {
	t.Parallel()
	f := newFake(t, firstThen(reply(400, "application/json", `{"error":"invalid_grant"}`), reply(502, "text/html", `bad gateway`)))
	b := newCounted(t, f.config(Config{}))

	l := b.Authorize()
	st := mustParseURL(t, l.URL).Query().Get("state")
	ferr(t, b.Redirect(context.Background(), Callback{State: st, Error: "access_denied"}), KindCancelled, "access_denied")
	if _, _, err := login(t, b.Broker); err == nil {
		t.Fatal("the exchange succeeded")
	}
	if _, _, err := login(t, b.Broker); err == nil {
		t.Fatal("the exchange succeeded")
	}
	b.want(t, `handoff_logins_started_total{handoff_app=""}`, 3)
	b.want(t, finished("cancelled"), 1)
	b.want(t, finished("provider_refused"), 1)
	b.want(t, finished("provider_failed"), 1)
	b.want(t, `handoff_provider_seconds_count{handoff_app="",call="exchange"}`, 2)
	if !strings.Contains(b.log.String(), "provider_latency=") {
		t.Errorf("a failed login's line has no provider latency:\n%s", b.log)
	}
}

func TestRefreshResults(t *testing.T) {
	t.Parallel()
	f := newFake(t, firstThen(reply(200, "application/json", `{"access_token":"a"}`), reply(400, "application/json", `{"error":"invalid_grant"}`)))
	b := newCounted(t, f.config(Config{}))
	const kept = `handoff_pending{handoff_app="",store="refresh_replays"}`
	b.want(t, kept, 0)
	if _, err := b.Refresh(context.Background(), "rt"); err != nil {
		t.Fatal(err)
	}
	b.want(t, kept, 1)
	b.Refresh(context.Background(), "rt") // within REFRESH_REPLAY_TTL: the kept answer
	b.replays.Purge()                     // past it: the provider refuses the spent token
	b.want(t, kept, 0)
	b.Refresh(context.Background(), "rt")
	b.Refresh(context.Background(), "")
	for result, want := range map[string]float64{"ok": 1, "replayed": 1, "refused": 1, "invalid": 1, "failed": 0, "timeout": 0, "busy": 0} {
		b.want(t, `handoff_refresh_total{handoff_app="",result="`+result+`"}`, want)
	}
	b.want(t, `handoff_provider_seconds_count{handoff_app="",call="refresh"}`, 2)
}

func TestPollLimitAndReplaysCounted(t *testing.T) {
	t.Parallel()
	sealer := testSealer(t, "two machines")
	b := newCounted(t, Config{PollLimit: 1, MachineID: "m1", Sealer: sealer})
	other := newBroker(t, Config{MachineID: "m2", Sealer: sealer})

	l := b.Authorize()
	b.Poll(l.ReadKey, PollOptions{})
	pollErr(t, b.Broker, l.ReadKey, KindSlowDown, "")
	b.want(t, `handoff_rate_limited_total{route="poll"}`, 1)

	key := other.Authorize().ReadKey
	pollErr(t, b.Broker, key, KindElsewhere, "")
	_, err := b.Poll(key, PollOptions{ReplayFailed: true})
	ferr(t, err, KindOwnerGone, "")
	b.want(t, `handoff_fly_replays_total{result="sent"}`, 1)
	b.want(t, `handoff_fly_replays_total{result="owner_gone"}`, 1)
}
