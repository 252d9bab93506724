package flow

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"
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
