package flow

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"handoff/internal/mockprovider"
)

// TOKEN_AUTH_STYLE=auto after Basic got a 401: only a definite answer to
// the body-credentials attempt settles on that style (SECURITY.md, property 11). Before,
// a 503 there switched handoff to body credentials for good, and a provider
// that wants Basic then refused every later call until a restart.
func TestAuthAutoSettlesOnlyOnDefiniteAnswer(t *testing.T) {
	t.Parallel()
	hang := func(w http.ResponseWriter, r *http.Request, _ seen) { <-r.Context().Done() }
	drop := func(w http.ResponseWriter, r *http.Request, _ seen) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	cases := []struct {
		name     string
		post     func(http.ResponseWriter, *http.Request, seen) // the first answer to credentials in the body
		wantErr  Kind                                           // of the first login; 0 for success
		settles  bool
		shortTTL bool // the provider timeout is what ends the first login
	}{
		{"503", reply(503, "text/html", "<h1>Service Unavailable</h1>"), KindProviderFailed, false, false},
		{"500 with an OAuth error", reply(500, "application/json", `{"error":"server_error"}`), KindProviderFailed, false, false},
		{"429", reply(429, "application/json", `{"error":"rate_limited"}`), KindProviderFailed, false, false},
		{"403 page from a proxy", reply(403, "text/html", "<h1>Forbidden</h1>"), KindProviderRejected, false, false},
		{"408", reply(408, "application/json", `{"error":"timeout"}`), KindProviderRejected, false, false},
		{"200 without a token", reply(200, "application/json", `{"token_type":"bearer"}`), KindProviderFailed, false, false},
		{"timeout", hang, KindProviderTimeout, false, true},
		{"connection dropped", drop, KindProviderFailed, false, false},
		{"200 with a token", reply(200, "application/json", `{"access_token":"a"}`), 0, true, false},
		{"400 invalid_grant", reply(400, "application/json", `{"error":"invalid_grant"}`), KindProviderRejected, true, false},
		{"200 carrying an error about the grant", reply(200, "application/json", `{"error":"bad_verification_code"}`), KindProviderRejected, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var first atomic.Bool
			first.Store(true)
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, s seen) {
				switch {
				case s.HasBasic:
					reply(401, "application/json", `{"error":"invalid_client"}`)(w, r, s)
				case first.Load():
					c.post(w, r, s)
				default:
					reply(200, "application/json", `{"access_token":"a"}`)(w, r, s)
				}
			})
			cfg := Config{AuthStyle: AuthAuto}
			if c.shortTTL {
				cfg.ProviderTimeout = 300 * time.Millisecond
			}
			b := newBroker(t, f.config(cfg))
			_, _, err := login(t, b)
			if c.wantErr == 0 {
				if err != nil {
					t.Fatalf("first login: %v", err)
				}
			} else {
				ferr(t, err, c.wantErr, "")
			}
			first.Store(false)

			before := len(f.requests())
			if _, _, err := login(t, b); err != nil {
				t.Fatalf("second login: %v", err)
			}
			r := f.requests()[before]
			if c.settles && r.HasBasic {
				t.Error("a definite answer to credentials in the body did not settle the style: the next login tried Basic again")
			}
			if !c.settles && !r.HasBasic {
				t.Error("a transient failure settled the style: the next login skipped Basic")
			}
		})
	}
}

func TestClientAuthentication(t *testing.T) {
	t.Parallel()
	// Credentials with characters RFC 6749 §2.3.1 makes handoff form-encode
	// before Basic encoding; mockprovider decodes them.
	const id, secret = "client:1 ü", "p@ss:w+rd/%=&"
	cases := []struct {
		name                    string
		style                   AuthStyle
		acceptPost, acceptBasic bool
		wantErr                 Kind // 0: success
		requests                int64
		secondLoginRequests     int64 // token requests for a second login
	}{
		{"basic to basic-only", AuthBasic, false, true, 0, 1, 1},
		{"basic to post-only", AuthBasic, true, false, KindProviderRejected, 1, 1},
		{"post to post-only", AuthPost, true, false, 0, 1, 1},
		{"post to basic-only", AuthPost, false, true, KindProviderRejected, 1, 1},
		{"auto to basic-only", AuthAuto, false, true, 0, 1, 1},
		{"auto to post-only falls back and remembers", AuthAuto, true, false, 0, 2, 1},
		{"auto to both uses basic", AuthAuto, true, true, 0, 1, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p, srv := mockProvider(t, mockprovider.Options{ClientID: id, ClientSecret: secret,
				AcceptPost: c.acceptPost, AcceptBasic: c.acceptBasic, RequirePKCE: true})
			b := newBroker(t, mockConfig(srv, Config{ClientID: id, ClientSecret: secret, PKCE: true, AuthStyle: c.style}))
			for i, want := range []int64{c.requests, c.secondLoginRequests} {
				before := p.TokenRequests()
				l, q, err := login(t, b)
				if c.wantErr == 0 {
					if err != nil {
						t.Fatalf("login %d: %v", i, err)
					}
					mustPoll(t, b, l.ReadKey)
				} else {
					ferr(t, err, c.wantErr, "invalid_client")
					secretsAbsent(t, err, secret, q.Get("code"), q.Get("state"), l.ReadKey)
				}
				if n := p.TokenRequests() - before; n != want {
					t.Errorf("login %d: %d token requests, want %d", i, n, want)
				}
			}
		})
	}
}

// auto also falls back on 400 invalid_client (RFC 6749 §5.2 allows 400),
// but not on other refusals, which would only repeat a doomed request.
func TestAuthAutoFallback(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		basicReply func(http.ResponseWriter, *http.Request, seen)
		wantErr    Kind
		wantCode   string
		requests   int64
	}{
		{"400 invalid_client", reply(400, "application/json", `{"error":"invalid_client"}`), 0, "", 2},
		{"401 text", reply(401, "text/plain", "who are you"), 0, "", 2},
		{"400 invalid_request (mockoidc's answer to Basic)", reply(400, "application/json", `{"error":"invalid_request"}`), 0, "", 2},
		{"400 unauthorized_client", reply(400, "application/json", `{"error":"unauthorized_client"}`), 0, "", 2},
		{"400 invalid_grant", reply(400, "application/json", `{"error":"invalid_grant"}`), KindProviderRejected, "invalid_grant", 1},
		{"500", reply(500, "text/plain", "oops"), KindProviderFailed, "server_error", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, s seen) {
				if s.HasBasic {
					c.basicReply(w, r, s)
					return
				}
				reply(200, "application/json", `{"access_token":"a"}`)(w, r, s)
			})
			b := newBroker(t, f.config(Config{AuthStyle: AuthAuto}))
			_, _, err := login(t, b)
			if c.wantErr != 0 {
				ferr(t, err, c.wantErr, c.wantCode)
			} else if err != nil {
				t.Fatal(err)
			}
			if n := f.hits.Load(); n != c.requests {
				t.Fatalf("%d token requests, want %d", n, c.requests)
			}
			if c.wantErr == 0 { // remembered: the next login goes straight to post
				mustLogin(t, b)
				if n := f.hits.Load(); n != c.requests+1 {
					t.Errorf("second login: %d token requests in all, want %d", n, c.requests+1)
				}
				if r := f.requests(); r[len(r)-1].HasBasic {
					t.Error("second login tried Basic again")
				}
			}
		})
	}
}

// A refusal of both styles is not remembered: the next login tries Basic
// again, so one bad moment at the provider does not fix the style for good.
func TestAuthAutoNotRememberedWhenBothRefused(t *testing.T) {
	t.Parallel()
	var refuse atomic.Bool
	refuse.Store(true)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, s seen) {
		if refuse.Load() {
			reply(401, "application/json", `{"error":"invalid_client"}`)(w, r, s)
			return
		}
		reply(200, "application/json", `{"access_token":"a"}`)(w, r, s)
	})
	b := newBroker(t, f.config(Config{AuthStyle: AuthAuto}))
	_, _, err := login(t, b)
	ferr(t, err, KindProviderRejected, "invalid_client")
	refuse.Store(false)
	mustLogin(t, b)
	if r := f.requests(); !r[len(r)-1].HasBasic {
		t.Error("after both styles were refused once, the next login skipped Basic")
	}
}
