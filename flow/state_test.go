package flow

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"handoff/crypto"
	"handoff/internal/mockprovider"
)

// SECURITY.md property 2: a state that is tampered with, truncated, sealed under another
// key, expired or replayed is refused before any request to the provider.

// base64url alphabet, to change one character into another valid one.
const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func otherChar(c byte) byte {
	i := strings.IndexByte(b64url, c)
	return b64url[(i+17)%len(b64url)]
}

func TestBadStatesNeverReachTheProvider(t *testing.T) {
	t.Parallel()
	p, srv := mockProvider(t, mockprovider.Options{RequirePKCE: true})
	cfg := mockConfig(srv, Config{PKCE: true})
	b := newBroker(t, cfg)
	other := newBroker(t, mockConfig(srv, Config{PKCE: true, Sealer: testSealer(t, "another app")}))

	valid := b.Authorize()
	q := approve(t, valid.URL)
	st, code := q.Get("state"), q.Get("code")

	type tc struct{ name, state string }
	cases := []tc{
		{"empty", ""},
		{"garbage", "garbage"},
		{"not base64", "!!!!" + st[4:]},
		{"padding added", st + "=="},
		{"line break inserted", st[:20] + "\n" + st[20:]},
		{"truncated by one", st[:len(st)-1]},
		{"truncated by half", st[:len(st)/2]},
		{"extended", st + "A"},
		{"doubled", st + st},
		{"huge", strings.Repeat("A", 100000)},
		{"sealed under another key", mustParseURL(t, other.Authorize().URL).Query().Get("state")},
		{"read key as state", valid.ReadKey},
		{"read key of another login as state", b.Authorize().ReadKey},
		{"another purpose", b.cfg.Sealer.Seal(make([]byte, 60), []byte("something else"))},
		{"short payload under the state purpose", b.cfg.Sealer.Seal([]byte("short"), statePurpose)},
		{"bad verifier length", b.cfg.Sealer.Seal(append(make([]byte, headSize), 7, 1, 2, 3, 4, 5, 6, 7), statePurpose)},
		{"verifier length beyond payload", b.cfg.Sealer.Seal(append(make([]byte, headSize), verifierSize, 1), statePurpose)},
	}
	// Every single-character change, at sampled positions including the
	// version byte, the nonce, the ciphertext, the tag and the last
	// character (whose low bits are padding).
	positions := []int{0, 1, 2, len(st) / 3, len(st) / 2, len(st) - 23, len(st) - 2, len(st) - 1}
	for i := 3; i < len(st); i += 11 {
		positions = append(positions, i)
	}
	for _, i := range positions {
		s := []byte(st)
		s[i] = otherChar(s[i])
		cases = append(cases, tc{"char " + string(rune('0'+i%10)) + " changed at " + itoa(i), string(s)})
		s[i] = '.'
		cases = append(cases, tc{"char replaced by '.' at " + itoa(i), string(s)})
	}
	// Any bit of the decoded value flipped.
	raw := decodeState(t, st)
	for i := 0; i < len(raw); i += 5 {
		for bit := range 8 {
			r := append([]byte(nil), raw...)
			r[i] ^= 1 << bit
			cases = append(cases, tc{"bit flip " + itoa(i*8+bit), encodeState(r)})
		}
	}

	for _, c := range cases {
		for _, withError := range []bool{false, true} {
			cb := Callback{State: c.state, Code: code}
			if withError {
				cb.Error, cb.ErrorDescription = "access_denied", "x"
			}
			err := b.Redirect(context.Background(), cb)
			e := ferr(t, err, KindInvalidState, "")
			secretsAbsent(t, e, code, st, valid.ReadKey)
		}
	}
	if n := p.TokenRequests(); n != 0 {
		t.Fatalf("the provider saw %d token requests for bad states", n)
	}
	// None of it touched the login: it is still pending, and its own state
	// still works once.
	pollErr(t, b, valid.ReadKey, KindPending, "authorization_pending")
	if err := b.Redirect(context.Background(), Callback{State: st, Code: code}); err != nil {
		t.Fatalf("the valid state after the bad ones: %v", err)
	}
	mustPoll(t, b, valid.ReadKey)
	if n := p.TokenRequests(); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	if n := b.usedStates.Len(); n != 1 {
		t.Errorf("%d used states remembered, want 1", n)
	}
}

func itoa(i int) string {
	return strings.TrimLeft(string([]byte{byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)}), "0")
}

func decodeState(t *testing.T, s string) []byte {
	t.Helper()
	raw, err := rawURL.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func encodeState(raw []byte) string { return rawURL.EncodeToString(raw) }

func TestExpiredState(t *testing.T) {
	t.Parallel()
	p, srv := mockProvider(t, mockprovider.Options{})
	b := newBroker(t, mockConfig(srv, Config{LoginTTL: 200 * time.Millisecond}))
	l := b.Authorize()
	q := approve(t, l.URL)
	time.Sleep(600 * time.Millisecond)
	ferr(t, b.Redirect(context.Background(), Callback{State: q.Get("state"), Code: q.Get("code")}), KindInvalidState, "expired_token")
	ferr(t, b.Redirect(context.Background(), Callback{State: q.Get("state"), Error: "access_denied"}), KindInvalidState, "expired_token")
	if n := p.TokenRequests(); n != 0 {
		t.Fatalf("%d token requests for an expired state", n)
	}
	pollErr(t, b, l.ReadKey, KindGone, "expired_token")
}

// A replayed state is refused before the provider, and never overwrites or
// removes the first login's tokens or outcome.
func TestReplayedState(t *testing.T) {
	t.Parallel()
	replays := []struct {
		name string
		cb   func(code string) Callback
	}{
		{"same code", func(code string) Callback { return Callback{Code: code} }},
		{"other code", func(string) Callback { return Callback{Code: "another-code"} }},
		{"error", func(string) Callback { return Callback{Error: "access_denied", ErrorDescription: "no"} }},
		{"nothing", func(string) Callback { return Callback{} }},
	}
	for _, r := range replays {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			p, srv := mockProvider(t, mockprovider.Options{RequirePKCE: true})
			b := newBroker(t, mockConfig(srv, Config{PKCE: true}))

			// Replayed while the tokens wait: they are still delivered.
			l, q := mustLogin(t, b)
			cb := r.cb(q.Get("code"))
			cb.State = q.Get("state")
			ferr(t, b.Redirect(context.Background(), cb), KindInvalidState, "invalid_request")
			tokens := mustPoll(t, b, l.ReadKey)
			jsonObject(t, tokens)

			// Replayed after delivery: the key still answers already_delivered.
			ferr(t, b.Redirect(context.Background(), cb), KindInvalidState, "invalid_request")
			pollErr(t, b, l.ReadKey, KindGone, "already_delivered")

			// Replayed after a cancelled login: the outcome stands.
			l2 := b.Authorize()
			q2 := approve(t, l2.URL)
			ferr(t, b.Redirect(context.Background(), Callback{State: q2.Get("state"), Error: "access_denied", ErrorDescription: "first"}), KindCancelled, "access_denied")
			cb2 := r.cb(q2.Get("code"))
			cb2.State = q2.Get("state")
			ferr(t, b.Redirect(context.Background(), cb2), KindInvalidState, "invalid_request")
			if e := pollErr(t, b, l2.ReadKey, KindGone, "access_denied"); e.Description != "first" {
				t.Errorf("description %q, want the first outcome's", e.Description)
			}

			if n := p.TokenRequests(); n != 1 {
				t.Errorf("%d token requests, want 1", n)
			}
		})
	}
}

// Even when the used-state store (and the outcome store) have forgotten a
// state, evicted under MAX_PENDING pressure, a replay cannot replace or
// remove tokens waiting for a poll.
func TestReplayAfterEviction(t *testing.T) {
	t.Parallel()
	for _, outcomesToo := range []bool{false, true} {
		f := newFake(t, firstThen(reply(200, "application/json", `{"access_token":"first"}`), reply(200, "application/json", `{"access_token":"second"}`)))
		b := newBroker(t, f.config(Config{}))
		l, q := mustLogin(t, b)
		for _, cb := range []Callback{
			{Code: q.Get("code")},
			{Code: "attacker's code"},
			{Error: "access_denied"},
			{},
		} {
			b.usedStates.Purge()
			if outcomesToo {
				b.outcomes.Purge()
			}
			cb.State = q.Get("state")
			if err := b.Redirect(context.Background(), cb); err == nil {
				t.Errorf("replay %+v accepted", cb)
			}
		}
		if got := mustPoll(t, b, l.ReadKey); string(got) != `{"access_token":"first"}` {
			t.Errorf("outcomes evicted too: %v: Poll = %s, want the first tokens", outcomesToo, got)
		}
	}
}

// Keys rotate: a state and read key sealed under the old key still work.
func TestSealKeyRotation(t *testing.T) {
	t.Parallel()
	_, srv := mockProvider(t, mockprovider.Options{})
	oldKey := crypto.DeriveKey([]byte("old"), "l")
	newKey := crypto.DeriveKey([]byte("new"), "l")
	oldSealer, _ := crypto.NewSealer(oldKey)
	rotated, _ := crypto.NewSealer(newKey, oldKey)
	before := newBroker(t, mockConfig(srv, Config{Sealer: oldSealer}))
	after := newBroker(t, mockConfig(srv, Config{Sealer: rotated}))
	l := before.Authorize()
	q := approve(t, l.URL)
	if err := after.Redirect(context.Background(), Callback{State: q.Get("state"), Code: q.Get("code")}); err != nil {
		t.Fatal(err)
	}
	mustPoll(t, after, l.ReadKey)
	// The new key's values do not open under the old key alone.
	l2 := after.Authorize()
	pollErr(t, before, l2.ReadKey, KindInvalidRequest, "invalid_request")
}

// Read keys and states open to the same login, and neither opens as the
// other.
func TestPurposeSeparation(t *testing.T) {
	t.Parallel()
	for _, machine := range []string{"", "m1", strings.Repeat("m", 64), strings.Repeat("x", 200)} {
		for _, pkce := range []bool{true, false} {
			b := newBroker(t, Config{PKCE: pkce, MachineID: machine})
			l := b.Authorize()
			st := mustParseURL(t, l.URL).Query().Get("state")
			rk, ok := b.openReadKey(l.ReadKey)
			if !ok {
				t.Fatal("read key does not open")
			}
			s, ok := b.openState(st)
			if !ok {
				t.Fatal("state does not open")
			}
			if rk.id != s.id || !rk.expires.Equal(s.expires) || rk.machine != machine || s.machine != machine {
				t.Errorf("read key %+v and state %+v disagree (machine %q)", rk, s, machine)
			}
			if pkce != (s.verifier != "") {
				t.Errorf("pkce %v, verifier %q", pkce, s.verifier)
			}
			if d := time.Until(rk.expires); d < 9*time.Minute || d > 10*time.Minute {
				t.Errorf("expires in %v, want LoginTTL", d)
			}
			if _, ok := b.openReadKey(st); ok {
				t.Error("state opens as a read key")
			}
			if _, ok := b.openState(l.ReadKey); ok {
				t.Error("read key opens as a state")
			}
			pollErr(t, b, st, KindInvalidRequest, "invalid_request")
		}
	}
	// The payload format: id, big-endian expiry in Unix nanoseconds, machine.
	b := newBroker(t, Config{})
	var p []byte
	p = append(p, make([]byte, idSize)...)
	p = binary.BigEndian.AppendUint64(p, uint64(time.Now().Add(time.Hour).UnixNano()))
	rk, ok := b.openReadKey(b.cfg.Sealer.Seal(p, readKeyPurpose))
	if !ok || rk.machine != "" || time.Until(rk.expires) < 59*time.Minute {
		t.Errorf("hand-made read key: %+v %v", rk, ok)
	}
	if _, ok := b.openReadKey(b.cfg.Sealer.Seal(p[:headSize-1], readKeyPurpose)); ok {
		t.Error("short read key payload opens")
	}
}

// docs/protocol.md#several-machines: with machine ids, a login's requests are served by the machine
// that started it.
func TestMachineRouting(t *testing.T) {
	t.Parallel()
	p, srv := mockProvider(t, mockprovider.Options{})
	sealer := testSealer(t, "shared by the machines")
	m1 := newBroker(t, mockConfig(srv, Config{MachineID: "m1", Sealer: sealer}))
	m2 := newBroker(t, mockConfig(srv, Config{MachineID: "m2", Sealer: sealer}))
	local := newBroker(t, mockConfig(srv, Config{Sealer: sealer}))

	l := m1.Authorize()
	q := approve(t, l.URL)
	cb := Callback{State: q.Get("state"), Code: q.Get("code")}

	// m2 sends both the poll and the redirect to m1, touching nothing.
	if e := pollErr(t, m2, l.ReadKey, KindElsewhere, ""); e.Machine != "m1" {
		t.Errorf("Machine = %q, want m1", e.Machine)
	}
	if e := ferr(t, m2.Redirect(context.Background(), cb), KindElsewhere, ""); e.Machine != "m1" {
		t.Errorf("Machine = %q, want m1", e.Machine)
	}
	// The owner is gone: stop, and say so.
	_, err := m2.Poll(l.ReadKey, PollOptions{ReplayFailed: true})
	ferr(t, err, KindOwnerGone, "expired_token")
	rcb := cb
	rcb.ReplayFailed = true
	ferr(t, m2.Redirect(context.Background(), rcb), KindOwnerGone, "")
	if p.TokenRequests() != 0 || m2.usedStates.Len() != 0 || m2.outcomes.Len() != 0 {
		t.Fatal("a machine acted on another machine's login")
	}

	// The owner serves it, even with a replay-failed header (it never
	// replays to itself).
	_, err = m1.Poll(l.ReadKey, PollOptions{ReplayFailed: true})
	ferr(t, err, KindPending, "")
	if err := m1.Redirect(context.Background(), cb); err != nil {
		t.Fatal(err)
	}
	mustPoll(t, m1, l.ReadKey)

	// Without a machine id everything is local: a broker without one serves
	// m1's logins, and m1 serves logins started without one.
	l2 := m1.Authorize()
	pollErr(t, local, l2.ReadKey, KindPending, "")
	l3 := local.Authorize()
	pollErr(t, m2, l3.ReadKey, KindPending, "")
	q3 := approve(t, l3.URL)
	if err := m2.Redirect(context.Background(), Callback{State: q3.Get("state"), Code: q3.Get("code")}); err != nil {
		t.Fatal(err)
	}
	mustPoll(t, m2, l3.ReadKey)

	// Expired logins of another machine are still routed (the owner says
	// how it ended).
	m1short := newBroker(t, mockConfig(srv, Config{MachineID: "m1", Sealer: sealer, LoginTTL: time.Millisecond}))
	l4 := m1short.Authorize()
	time.Sleep(20 * time.Millisecond)
	pollErr(t, m2, l4.ReadKey, KindElsewhere, "")
}
