package web_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"handoff/flow"
)

// POST /revoke (docs/protocol.md#revoke): each answer of the provider, and
// the app without a revocation endpoint.

func TestRevokeStatuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		answer http.HandlerFunc // nil: no revocation endpoint
		body   string           // the request's body (form)
		status int
		code   string // the error code; "" for 200 {}
		passed string // the provider's JSON passed on as is
	}{
		{"success", reply(200, ""), "token=t", 200, "", ""},
		{"success 204", reply(204, ""), "token=t&token_type_hint=refresh_token", 200, "", ""},
		{"no token", reply(200, ""), "", 400, "invalid_request", ""},
		{"no revocation endpoint", nil, "token=t", 501, "unsupported_token_type", ""},
		{"the provider refuses", reply(400, `{"error":"unsupported_token_type","error_description":"not revocable","x":1}`), "token=t",
			400, "unsupported_token_type", `{"error":"unsupported_token_type","error_description":"not revocable","x":1}`},
		{"the provider refuses the client", reply(401, ""), "token=t", 401, "invalid_client", ""},
		{"the provider fails", reply(500, ""), "token=t", 502, "server_error", ""},
		{"the provider's answer is a page", reply(503, "<html>"), "token=t", 502, "server_error", ""},
		{"the provider is too slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}, "token=t", 504, "temporarily_unavailable", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var endpoint string
			if c.answer != nil {
				prov := httptest.NewServer(c.answer)
				t.Cleanup(prov.Close)
				endpoint = prov.URL + "/revoke"
			}
			s := start(t, setup{timeout: 300 * time.Millisecond, flow: func(cfg *flow.Config) { cfg.RevokeEndpoint = endpoint }})
			r := s.do("POST", "/revoke", strings.NewReader(c.body),
				"Content-Type", "application/x-www-form-urlencoded", "Origin", testPluginOrigin)
			checkCORS(t, r, testPluginOrigin)
			switch {
			case c.code == "":
				if r.status != 200 || string(r.body) != "{}" || r.header.Get("Cache-Control") != "no-store" {
					t.Errorf("%d %q %v", r.status, r.body, r.header)
				}
			case c.passed != "":
				if r.status != c.status || string(r.body) != c.passed {
					t.Errorf("%d %s, want %d %s", r.status, r.body, c.status, c.passed)
				}
			default:
				checkError(t, r, c.status, c.code)
			}
		})
	}
}

// The token comes from the query, a form or a JSON body; the provider gets
// it, and nothing logs it.
func TestRevokeReadsTheToken(t *testing.T) {
	t.Parallel()
	var got atomic.Value
	prov := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		got.Store(r.PostForm.Get("token") + "|" + r.PostForm.Get("token_type_hint"))
	}))
	t.Cleanup(prov.Close)
	s, log := startLogging(t, setup{flow: func(cfg *flow.Config) { cfg.RevokeEndpoint = prov.URL + "/revoke" }}, slog.LevelDebug)
	const token = "rt-REVOKEDTOKEN+/="
	for _, c := range []struct{ name, target, body, contentType string }{
		{"query", "/revoke?token=rt-REVOKEDTOKEN%2B%2F%3D&token_type_hint=refresh_token", "", ""},
		{"form", "/revoke", "token=rt-REVOKEDTOKEN%2B%2F%3D&token_type_hint=refresh_token", "application/x-www-form-urlencoded"},
		{"JSON", "/revoke", `{"token":"rt-REVOKEDTOKEN+/=","token_type_hint":"refresh_token"}`, "application/json"},
	} {
		got.Store("")
		var headers []string
		if c.contentType != "" {
			headers = []string{"Content-Type", c.contentType}
		}
		if r := s.do("POST", c.target, strings.NewReader(c.body), headers...); r.status != 200 {
			t.Fatalf("%s: %d %s", c.name, r.status, r.body)
		}
		if g := got.Load().(string); g != token+"|refresh_token" {
			t.Errorf("%s: the provider got %q", c.name, g)
		}
	}
	if strings.Contains(log.String(), "REVOKEDTOKEN") {
		t.Errorf("the log holds the token:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "/revoke") {
		t.Errorf("no request line for /revoke:\n%s", log.String())
	}
}

// The demo's mock provider revokes for real: a revoked refresh token is
// refused at /refresh afterwards.
func TestRevokeThenRefresh(t *testing.T) {
	t.Parallel()
	s := start(t, setup{flow: func(cfg *flow.Config) {
		cfg.RevokeEndpoint = strings.TrimSuffix(cfg.TokenEndpoint, "/token") + "/revoke"
	}})
	rt := s.refreshToken(t)
	body := `{"token":"` + rt + `"}`
	if r := s.do("POST", "/revoke", strings.NewReader(body), "Content-Type", "application/json"); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	r := s.do("POST", "/refresh", strings.NewReader("refresh_token="+rt), "Content-Type", "application/x-www-form-urlencoded")
	if r.status != 400 || !strings.Contains(string(r.body), "invalid_grant") {
		t.Errorf("refresh after revoke: %d %s", r.status, r.body)
	}
}

// reply answers with status and, when body is not empty, a body that is
// JSON when it looks like JSON.
func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if strings.HasPrefix(body, "{") {
			w.Header().Set("Content-Type", "application/json")
		} else if body != "" {
			w.Header().Set("Content-Type", "text/html")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}
