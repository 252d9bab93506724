package flow

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"handoff/internal/mockprovider"
)

// Revoke (docs/protocol.md#revoke): the request each style sends, and how
// each answer of the provider comes back.

const revokeToken = "tok+en/with=odd&chars-REVOKEME"

func TestRevokeRequests(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		cfg   Config
		hint  string
		check func(t *testing.T, s seen)
	}{
		{"RFC 7009, client_secret_post", Config{AuthStyle: AuthPost}, "refresh_token", func(t *testing.T, s seen) {
			if s.Method != "POST" || s.Path != "/revoke" || s.HasBasic ||
				s.Header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
				s.Form.Get("token") != revokeToken || s.Form.Get("token_type_hint") != "refresh_token" ||
				s.Form.Get("client_id") != testClientID || s.Form.Get("client_secret") != testClientSecret || len(s.Form) != 4 {
				t.Errorf("%s %s basic=%v %v", s.Method, s.Path, s.HasBasic, s.Form)
			}
		}},
		{"RFC 7009, client_secret_basic, no hint", Config{AuthStyle: AuthBasic}, "", func(t *testing.T, s seen) {
			if s.Method != "POST" || !s.HasBasic || s.BasicUser != testClientID || s.BasicPass != testClientSecret ||
				s.Form.Get("token") != revokeToken || len(s.Form) != 1 {
				t.Errorf("%s basic=%v %q:%q %v", s.Method, s.HasBasic, s.BasicUser, s.BasicPass, s.Form)
			}
		}},
		{"RFC 7009, JSON body (Notion)", Config{AuthStyle: AuthBasic, BodyFormat: BodyJSON}, "access_token", func(t *testing.T, s seen) {
			var m map[string]string
			if s.Header.Get("Content-Type") != "application/json" || json.Unmarshal(s.Body, &m) != nil ||
				m["token"] != revokeToken || m["token_type_hint"] != "access_token" || len(m) != 2 || !s.HasBasic {
				t.Errorf("%s %s", s.Header.Get("Content-Type"), s.Body)
			}
		}},
		{"GitHub's grant", Config{RevokeStyle: RevokeGitHubGrant, AuthStyle: AuthPost}, "access_token", func(t *testing.T, s seen) {
			var m map[string]string
			// Basic without form-encoding: GitHub's REST API, not RFC 6749.
			user, pass, _ := (&http.Request{Header: s.Header}).BasicAuth()
			if s.Method != "DELETE" || s.Path != "/applications/"+testClientID+"/grant" ||
				user != testClientID || pass != testClientSecret ||
				s.Header.Get("Accept") != "application/vnd.github+json" || s.Header.Get("Content-Type") != "application/json" ||
				json.Unmarshal(s.Body, &m) != nil || m["access_token"] != revokeToken || len(m) != 1 {
				t.Errorf("%s %s %q:%q %v %s", s.Method, s.Path, user, pass, s.Header, s.Body)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, reply(200, "", ""))
			c.cfg.RevokeEndpoint = f.srv.URL + "/revoke"
			if c.cfg.RevokeStyle == RevokeGitHubGrant {
				c.cfg.RevokeEndpoint = f.srv.URL + "/applications/{client_id}/grant"
			}
			b := newBroker(t, f.config(c.cfg))
			if err := b.Revoke(context.Background(), revokeToken, c.hint, nil); err != nil {
				t.Fatal(err)
			}
			r := f.requests()
			if len(r) != 1 {
				t.Fatalf("%d requests", len(r))
			}
			if r[0].Query.Encode() != "" {
				t.Errorf("query %v: nothing goes in the URL", r[0].Query)
			}
			c.check(t, r[0])
		})
	}
}

// TOKEN_AUTH_STYLE=auto: Basic first, the body after a refusal of the
// client, and the body from then on.
func TestRevokeAutoAuth(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, s seen) {
		if s.HasBasic {
			reply(401, "application/json", `{"error":"invalid_client"}`)(w, r, s)
			return
		}
		reply(200, "", "")(w, r, s)
	})
	b := newBroker(t, f.config(Config{AuthStyle: AuthAuto, RevokeEndpoint: f.srv.URL + "/revoke"}))
	for range 2 {
		if err := b.Revoke(context.Background(), revokeToken, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	var styles []bool
	for _, s := range f.requests() {
		styles = append(styles, s.HasBasic)
	}
	if len(styles) != 3 || !styles[0] || styles[1] || styles[2] {
		t.Errorf("Basic per request: %v, want [true false false]", styles)
	}
}

// TOKEN_AUTH_STYLE=auto at the revocation endpoint follows the token
// endpoint's rule (docs/protocol.md#talking-to-the-provider): the body after
// a 401 or an OAuth error about the client, and nothing else. A 4xx page
// from a proxy, or a refusal whose code handoff read off its status, says
// nothing about the style: one request, its answer passed on. The style is
// remembered once the provider gave a definite answer to the body.
func TestRevokeAutoFallbackRule(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		basicReply func(http.ResponseWriter, *http.Request, seen)
		postReply  func(http.ResponseWriter, *http.Request, seen)
		kind       Kind // 0: success
		code       string
		requests   int64
		remembered bool
	}{
		{"403 page", reply(403, "text/html", "<h1>Forbidden</h1>"), nil, KindProviderRejected, "invalid_request", 1, false},
		{"404 page", reply(404, "text/html", "<h1>Not Found</h1>"), nil, KindProviderRejected, "invalid_request", 1, false},
		{"400 text", reply(400, "text/plain", "bad request"), nil, KindProviderRejected, "invalid_request", 1, false},
		{"404 JSON without a code", reply(404, "application/json", `{"message":"Not Found"}`), nil, KindProviderRejected, "invalid_request", 1, false},
		{"400 unsupported_token_type", reply(400, "application/json", `{"error":"unsupported_token_type"}`), nil, KindProviderRejected, "unsupported_token_type", 1, false},
		{"401 text", reply(401, "text/plain", "who are you"), reply(200, "", ""), 0, "", 2, true},
		{"400 invalid_client", reply(400, "application/json", `{"error":"invalid_client"}`), reply(200, "", ""), 0, "", 2, true},
		{"400 invalid_request", reply(400, "application/json", `{"error":"invalid_request"}`), reply(200, "", ""), 0, "", 2, true},
		{"401, then a refusal about the token", reply(401, "application/json", `{"error":"invalid_client"}`),
			reply(400, "application/json", `{"error":"unsupported_token_type"}`), KindProviderRejected, "unsupported_token_type", 2, true},
		{"401, then a 403 page", reply(401, "application/json", `{"error":"invalid_client"}`),
			reply(403, "text/html", "<h1>Forbidden</h1>"), KindProviderRejected, "invalid_request", 2, false},
		{"401, then a 503", reply(401, "application/json", `{"error":"invalid_client"}`),
			reply(503, "text/html", "<h1>down</h1>"), KindProviderFailed, "server_error", 2, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, s seen) {
				if s.HasBasic {
					c.basicReply(w, r, s)
					return
				}
				if s.Form.Get("client_secret") != testClientSecret {
					t.Errorf("a request with neither Basic nor the secret in the body: %+v", s.Form)
				}
				if c.postReply == nil {
					t.Error("retried with the credentials in the body")
					reply(200, "", "")(w, r, s)
					return
				}
				c.postReply(w, r, s)
			})
			b := newBroker(t, f.config(Config{AuthStyle: AuthAuto, RevokeEndpoint: f.srv.URL + "/revoke"}))
			err := b.Revoke(context.Background(), revokeToken, "", nil)
			if c.kind == 0 {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				ferr(t, err, c.kind, c.code)
				secretsAbsent(t, err, revokeToken, testClientSecret)
			}
			if n := f.hits.Load(); n != c.requests {
				t.Fatalf("%d revocation requests, want %d", n, c.requests)
			}
			b.Revoke(context.Background(), revokeToken, "", nil)
			if next := f.requests()[c.requests]; next.HasBasic == c.remembered {
				t.Errorf("the next revocation started with Basic: %v, want %v", next.HasBasic, !c.remembered)
			}
		})
	}
}

func TestRevokeAnswers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		answer func(http.ResponseWriter, *http.Request, seen)
		kind   Kind // 0: success
		code   string
		status int
		body   string // the provider's JSON passed on, if any
	}{
		{"200 empty (RFC 7009)", reply(200, "", ""), 0, "", 0, ""},
		{"200 JSON", reply(200, "application/json", `{}`), 0, "", 0, ""},
		{"204 (GitHub)", reply(204, "", ""), 0, "", 0, ""},
		{"400 unsupported_token_type", reply(400, "application/json", `{"error":"unsupported_token_type","error_description":"no"}`),
			KindProviderRejected, "unsupported_token_type", 400, `{"error":"unsupported_token_type","error_description":"no"}`},
		{"401 without a body", reply(401, "text/plain", "nope"), KindProviderRejected, "invalid_client", 401, ""},
		{"404 (GitHub, no such grant)", reply(404, "application/json", `{"message":"Not Found"}`),
			KindProviderRejected, "invalid_request", 404, `{"message":"Not Found"}`},
		{"422 (GitHub)", reply(422, "application/json", `{"message":"Validation Failed","documentation_url":"x"}`),
			KindProviderRejected, "invalid_request", 422, `{"message":"Validation Failed","documentation_url":"x"}`},
		{"200 with ok false (Slack)", reply(200, "application/json", `{"ok":false,"error":"invalid_auth"}`),
			KindProviderRejected, "invalid_auth", 200, `{"ok":false,"error":"invalid_auth"}`},
		{"429", reply(429, "application/json", `{"error":"slow"}`), KindProviderFailed, "temporarily_unavailable", 0, ""},
		{"500", reply(500, "text/html", "<h1>down</h1>"), KindProviderFailed, "server_error", 0, ""},
		{"503 JSON", reply(503, "application/json", `{"error":"x"}`), KindProviderFailed, "server_error", 0, ""},
		{"302", reply(302, "", ""), KindProviderFailed, "server_error", 0, ""},
		{"too slow", func(w http.ResponseWriter, r *http.Request, s seen) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}, KindProviderTimeout, "temporarily_unavailable", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, c.answer)
			b := newBroker(t, f.config(Config{RevokeEndpoint: f.srv.URL + "/revoke", ProviderTimeout: 300 * time.Millisecond}))
			err := b.Revoke(context.Background(), revokeToken, "", nil)
			if c.kind == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e := ferr(t, err, c.kind, c.code)
			if c.status != 0 && e.Status != c.status {
				t.Errorf("status %d, want %d", e.Status, c.status)
			}
			if string(e.Body) != c.body {
				t.Errorf("body %s, want %s", e.Body, c.body)
			}
			secretsAbsent(t, err, revokeToken, testClientSecret)
		})
	}
}

// A refusal's description is the provider's text when it wrote one, even
// text that reads like handoff's own; the status says what happened when it
// wrote none.
func TestRevokeRefusalDescription(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		answer func(http.ResponseWriter, *http.Request, seen)
		code   string
		desc   string
	}{
		{"no code, no text", reply(403, "application/json", `{}`), "invalid_request", "the provider refused the revocation (HTTP 403)"},
		{"no code, a page", reply(404, "text/html", "<h1>Not Found</h1>"), "invalid_request", "the provider refused the revocation (HTTP 404)"},
		{"no code, a message", reply(404, "application/json", `{"message":"Not Found"}`), "invalid_request", "Not Found"},
		{"no code, handoff-like text", reply(400, "application/json", `{"error_description":"the provider refused the request"}`),
			"invalid_request", "the provider refused the request"},
		{"a code, no text", reply(400, "application/json", `{"error":"unsupported_token_type"}`), "unsupported_token_type", "the provider refused the request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, c.answer)
			b := newBroker(t, f.config(Config{RevokeEndpoint: f.srv.URL + "/revoke"}))
			e := ferr(t, b.Revoke(context.Background(), revokeToken, "", nil), KindProviderRejected, c.code)
			if e.Description != c.desc {
				t.Errorf("description %q, want %q", e.Description, c.desc)
			}
		})
	}
}

func TestRevokeRefusedBeforeTheProvider(t *testing.T) {
	t.Parallel()
	f := newFake(t, reply(200, "", ""))
	with := newBroker(t, f.config(Config{RevokeEndpoint: f.srv.URL + "/shops/{shop}/revoke", Vars: []TemplateVar{shopVar}}))
	without := newBroker(t, f.config(Config{}))
	cases := []struct {
		name  string
		b     *Broker
		token string
		hint  string
		p     Params
		kind  Kind
		code  string
	}{
		{"no revocation endpoint", without, revokeToken, "", nil, KindUnsupported, "unsupported_token_type"},
		{"no revocation endpoint, no token", without, "", "", nil, KindUnsupported, "unsupported_token_type"},
		{"no token", with, "", "", query("shop=acme"), KindInvalidRequest, "invalid_request"},
		{"a hint that is not a token type", with, revokeToken, "refresh token", query("shop=acme"), KindInvalidRequest, "invalid_request"},
		{"the shop missing", with, revokeToken, "", nil, KindInvalidRequest, "invalid_request"},
		{"a bad shop", with, revokeToken, "", query("shop=evil.example%2F"), KindInvalidRequest, "invalid_request"},
	}
	for _, c := range cases {
		err := c.b.Revoke(context.Background(), c.token, c.hint, c.p)
		ferr(t, err, c.kind, c.code)
	}
	if n := f.hits.Load(); n != 0 {
		t.Errorf("%d requests reached the provider", n)
	}
	if err := with.Revoke(context.Background(), revokeToken, "", query("shop=acme")); err != nil {
		t.Fatal(err)
	}
	if r := f.requests(); len(r) != 1 || r[0].Path != "/shops/acme/revoke" {
		t.Errorf("requests %+v", r)
	}
}

// Revoke takes a slot of PROVIDER_CONCURRENCY like any provider call.
func TestRevokeBusy(t *testing.T) {
	t.Parallel()
	p := newBlockingProvider(t)
	b := newBroker(t, p.config(Config{ProviderConcurrency: 1, RevokeEndpoint: p.srv.URL + "/revoke"}))
	done := p.fill(t, b, 1)
	err := b.Revoke(context.Background(), revokeToken, "", nil)
	ferr(t, err, KindBusy, "temporarily_unavailable")
	p.release()
	<-done
	if n := p.hits.Load(); n != 1 {
		t.Errorf("%d provider calls, want 1 (the busy revoke sent nothing)", n)
	}
}

// Against the demo's mock provider: a revoked refresh token stops working,
// and the replay store does not hand out its last answer after a logout.
func TestRevokeMockProvider(t *testing.T) {
	t.Parallel()
	p, srv := mockProvider(t, mockprovider.Options{})
	b := newBroker(t, mockConfig(srv, Config{PKCE: true, RevokeEndpoint: srv.URL + "/revoke", RefreshReplayTTL: time.Hour}))
	l, _ := mustLogin(t, b)
	var tokens struct {
		RefreshToken string `json:"refresh_token"`
	}
	json.Unmarshal(mustPoll(t, b, l.ReadKey), &tokens)
	if _, err := b.Refresh(context.Background(), tokens.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if err := b.Revoke(context.Background(), tokens.RefreshToken, "refresh_token", nil); err != nil {
		t.Fatal(err)
	}
	_, err := b.Refresh(context.Background(), tokens.RefreshToken)
	e := ferr(t, err, KindProviderRejected, "invalid_grant")
	if !strings.Contains(string(e.Body), "invalid_grant") {
		t.Errorf("body %s", e.Body)
	}
	if n := p.RevokeRequests(); n != 1 {
		t.Errorf("%d revocation requests", n)
	}
}
