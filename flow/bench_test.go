package flow

import (
	"context"
	"testing"

	"handoff/internal/mockprovider"
)

// Benchmarks of the flow's hot paths. The BENCHMARKS.md targets are for the whole
// server (see test/bench/); these show what the flow itself costs.

func BenchmarkAuthorize(b *testing.B) {
	br := newBroker(b, Config{PKCE: true, MachineID: "3d8d9d1c2e4f58"})
	b.ReportAllocs()
	for b.Loop() {
		br.Authorize()
	}
}

// BenchmarkAuthorizeWithNoParams is /authorize without parameters as web
// calls it: the same cost as BenchmarkAuthorize.
func BenchmarkAuthorizeWithNoParams(b *testing.B) {
	br := newBroker(b, Config{PKCE: true, MachineID: "3d8d9d1c2e4f58"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.AuthorizeWith(nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthorizeWithChoices is /authorize with a scope, a prompt and a
// template variable: the URL is built per login.
func BenchmarkAuthorizeWithChoices(b *testing.B) {
	br := newBroker(b, Config{PKCE: true, AuthorizeEndpoint: "https://{shop}.shop.example/authorize",
		Scope: "read", AllowedScopes: []string{"read", "write"}, Vars: []TemplateVar{shopVar}})
	p := query("shop=acme&scope=read+write&prompt=consent")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.AuthorizeWith(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthorizeParallel(b *testing.B) {
	br := newBroker(b, Config{PKCE: true})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			br.Authorize()
		}
	})
}

func BenchmarkPollPending(b *testing.B) {
	br := newBroker(b, Config{})
	key := br.Authorize().ReadKey
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Poll(key, PollOptions{}); err.(*Error).Kind != KindPending {
			b.Fatal(err)
		}
	}
}

func BenchmarkPollPendingParallel(b *testing.B) {
	br := newBroker(b, Config{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		key := br.Authorize().ReadKey
		for pb.Next() {
			br.Poll(key, PollOptions{})
		}
	})
}

func BenchmarkPollForged(b *testing.B) {
	br := newBroker(b, Config{})
	key := []byte(br.Authorize().ReadKey)
	key[20] = otherChar(key[20])
	forged := string(key)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Poll(forged, PollOptions{}); err.(*Error).Kind != KindInvalidRequest {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenReadKey(b *testing.B) {
	br := newBroker(b, Config{MachineID: "3d8d9d1c2e4f58"})
	key := br.Authorize().ReadKey
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := br.openReadKey(key); !ok {
			b.Fatal("does not open")
		}
	}
}

func BenchmarkOpenState(b *testing.B) {
	br := newBroker(b, Config{PKCE: true})
	st := mustParseURL(b, br.Authorize().URL).Query().Get("state")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := br.openState(st); !ok {
			b.Fatal("does not open")
		}
	}
}

// A whole login over loopback: Authorize, the provider's approval (one
// HTTP request), Redirect with the code exchange (another), Poll.
func BenchmarkFullLogin(b *testing.B) {
	_, srv := mockProvider(b, mockprovider.Options{RequirePKCE: true})
	br := newBroker(b, mockConfig(srv, Config{PKCE: true, MaxPending: 100000}))
	b.ReportAllocs()
	for b.Loop() {
		l := br.Authorize()
		q := approve(b, l.URL)
		if err := br.Redirect(context.Background(), Callback{State: q.Get("state"), Code: q.Get("code")}); err != nil {
			b.Fatal(err)
		}
		if _, err := br.Poll(l.ReadKey, PollOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// The flow's own share of a login: everything but the browser's request to
// the authorize endpoint and the provider's work (a canned answer).
func BenchmarkRedirectAndPoll(b *testing.B) {
	f := newFake(b, reply(200, "application/json", `{"access_token":"a","token_type":"bearer","expires_in":3600,"refresh_token":"r"}`))
	br := newBroker(b, f.config(Config{PKCE: true, MaxPending: 100000}))
	b.ReportAllocs()
	for b.Loop() {
		l := br.Authorize()
		st := mustParseURL(b, l.URL).Query().Get("state")
		if err := br.Redirect(context.Background(), Callback{State: st, Code: "c"}); err != nil {
			b.Fatal(err)
		}
		if _, err := br.Poll(l.ReadKey, PollOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
