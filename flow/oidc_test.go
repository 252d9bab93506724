package flow

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"handoff/internal/testkit"
)

// A real OIDC server in process (github.com/oauth2-proxy/mockoidc). It
// accepts only client_secret_post and its own scopes, and its session map is
// not safe for concurrent logins: these tests never run in parallel and run
// their logins one after the other.

// oidcServer starts mockoidc on loopback with a middleware that keeps the
// bodies of its token responses, so a test can compare handoff's output
// with the provider's exact bytes.
type oidcServer struct {
	*mockoidc.MockOIDC
	mu     sync.Mutex
	bodies [][]byte
}

func startOIDC(t *testing.T) *oidcServer {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &oidcServer{MockOIDC: m}
	m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != mockoidc.TokenEndpoint {
				next.ServeHTTP(w, r)
				return
			}
			tee := &testkit.ResponseTee{ResponseWriter: w}
			next.ServeHTTP(tee, r)
			s.mu.Lock()
			s.bodies = append(s.bodies, tee.Body.Bytes())
			s.mu.Unlock()
		})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	return s
}

func (s *oidcServer) lastBody() []byte { return last(&s.mu, &s.bodies) }

func (s *oidcServer) config(pkce bool) Config {
	return Config{
		ClientID:          s.ClientID,
		ClientSecret:      s.ClientSecret,
		AuthorizeEndpoint: s.AuthorizationEndpoint(),
		TokenEndpoint:     s.TokenEndpoint(),
		Scope:             "openid profile email",
		PKCE:              pkce,
		AuthStyle:         AuthPost,
	}
}

func TestOIDCHappyPathAndRefresh(t *testing.T) {
	m := startOIDC(t)
	for _, pkce := range []bool{true, false} {
		name := "pkce"
		if !pkce {
			name = "no-pkce"
		}
		t.Run(name, func(t *testing.T) {
			b := newBroker(t, m.config(pkce))
			m.QueueUser(&mockoidc.MockUser{Subject: "user-" + name, Email: name + "@example.com"})

			l, q, err := login(t, b)
			if err != nil {
				t.Fatalf("Redirect: %v", err)
			}
			if q.Get("code") == "" {
				t.Fatal("mockoidc sent no code")
			}
			provider := m.lastBody()
			tokens := mustPoll(t, b, l.ReadKey)
			if !bytes.Equal(tokens, provider) {
				t.Fatalf("Poll returned\n%s\nwant the provider's bytes\n%s", tokens, provider)
			}
			got := jsonObject(t, tokens)
			for _, k := range []string{"access_token", "refresh_token", "id_token"} {
				if s, _ := got[k].(string); s == "" {
					t.Errorf("token response lacks %s: %s", k, tokens)
				}
			}
			if got["token_type"] != "bearer" {
				t.Errorf("token_type = %v, want the provider's lowercase bearer", got["token_type"])
			}
			// Delivered once.
			pollErr(t, b, l.ReadKey, KindGone, "already_delivered")

			rt := got["refresh_token"].(string)
			refreshed, err := b.Refresh(context.Background(), rt)
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			if !bytes.Equal(refreshed, m.lastBody()) {
				t.Errorf("Refresh returned\n%s\nwant the provider's bytes\n%s", refreshed, m.lastBody())
			}
			r := jsonObject(t, refreshed)
			if s, _ := r["refresh_token"].(string); s == "" {
				t.Errorf("refresh answer has no refresh_token: %s", refreshed)
			}
			if s, _ := r["access_token"].(string); s == "" {
				t.Errorf("refresh answer has no access_token: %s", refreshed)
			}
		})
	}
}

func TestOIDCRefusals(t *testing.T) {
	m := startOIDC(t)
	b := newBroker(t, m.config(true))

	t.Run("wrong code", func(t *testing.T) {
		l := b.Authorize()
		q := approve(t, l.URL)
		err := b.Redirect(context.Background(), Callback{State: q.Get("state"), Code: q.Get("code") + "x"})
		e := ferr(t, err, KindProviderRejected, "invalid_grant")
		if e.Status != http.StatusUnauthorized {
			t.Errorf("Status = %d, want mockoidc's 401", e.Status)
		}
		pollErr(t, b, l.ReadKey, KindGone, "invalid_grant")
	})
	t.Run("code used twice", func(t *testing.T) {
		// Two logins, one code: the second exchange is refused by the
		// provider and does not disturb the first login's tokens.
		l1, q := mustLogin(t, b)
		l2 := b.Authorize()
		q2 := approve(t, l2.URL)
		err := b.Redirect(context.Background(), Callback{State: q2.Get("state"), Code: q.Get("code")})
		ferr(t, err, KindProviderRejected, "invalid_grant")
		mustPoll(t, b, l1.ReadKey)
	})
	t.Run("bad refresh token", func(t *testing.T) {
		_, err := b.Refresh(context.Background(), "not-a-jwt")
		e := ferr(t, err, KindProviderRejected, "")
		if e.Status != http.StatusUnauthorized || !bytes.Equal(e.Body, m.lastBody()) {
			t.Errorf("Status %d Body %s, want 401 and the provider's body %s", e.Status, e.Body, m.lastBody())
		}
	})
	t.Run("basic auth refused", func(t *testing.T) {
		cfg := m.config(true)
		cfg.AuthStyle = AuthBasic
		bb := newBroker(t, cfg)
		_, _, err := login(t, bb)
		ferr(t, err, KindProviderRejected, "")
	})
}
