package flow

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"handoff/internal/mockprovider"
)

// What handoff sends to the token endpoint: client authentication in each
// style (and auto's fallback), PKCE, the request's shape and body format,
// and an exchange that outlives its caller.

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

// The exact shape of the token request, for each style, at a fake that
// records it.
func TestTokenRequestShape(t *testing.T) {
	t.Parallel()
	ok := reply(200, "application/json", `{"access_token":"a"}`)
	for _, style := range []AuthStyle{AuthPost, AuthBasic} {
		f := newFake(t, ok)
		b := newBroker(t, f.config(Config{ClientSecret: "s e+c/r%t", AuthStyle: style, PKCE: true}))
		_, q, err := login(t, b)
		if err != nil {
			t.Fatal(err)
		}
		r := f.requests()[0]
		if r.Method != http.MethodPost || r.Path != "/token" || len(r.Query) != 0 {
			t.Errorf("%s %s?%s, want POST /token with no query", r.Method, r.Path, r.Query.Encode())
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type %q", ct)
		}
		if a := r.Header.Get("Accept"); a != "application/json" {
			t.Errorf("Accept %q", a)
		}
		if r.Form.Get("grant_type") != "authorization_code" || r.Form.Get("code") != q.Get("code") ||
			r.Form.Get("redirect_uri") != testRedirectURI || r.Form.Get("code_verifier") == "" {
			t.Errorf("form %v", r.Form)
		}
		switch style {
		case AuthPost:
			if r.HasBasic || r.Form.Get("client_id") != testClientID || r.Form.Get("client_secret") != "s e+c/r%t" {
				t.Errorf("post: basic=%v form=%v", r.HasBasic, r.Form)
			}
		case AuthBasic:
			if !r.HasBasic || r.BasicUser != testClientID || r.BasicPass != "s e+c/r%t" || r.Form.Has("client_secret") || r.Form.Has("client_id") {
				t.Errorf("basic: basic=%v %q:%q form=%v", r.HasBasic, r.BasicUser, r.BasicPass, r.Form)
			}
			if u, p, _ := func() (string, string, bool) { req := http.Request{Header: r.Header}; return req.BasicAuth() }(); u != "client-id" || p != "s+e%2Bc%2Fr%25t" {
				t.Errorf("raw Basic credentials %q:%q, want each part form-encoded", u, p)
			}
		}
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
				if _, _, err := login(t, b); err != nil {
					t.Fatal(err)
				}
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

var verifierChars = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

func TestPKCE(t *testing.T) {
	t.Parallel()
	t.Run("on: verifier matches challenge", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, reply(200, "application/json", `{"access_token":"a"}`))
		b := newBroker(t, f.config(Config{PKCE: true}))
		challenges := map[string]bool{}
		for range 5 {
			if _, _, err := login(t, b); err != nil {
				t.Fatal(err)
			}
			a := f.lastAuthorize()
			r := f.requests()
			v := r[len(r)-1].Form.Get("code_verifier")
			if a.Get("code_challenge_method") != "S256" {
				t.Errorf("code_challenge_method = %q", a.Get("code_challenge_method"))
			}
			if !verifierChars.MatchString(v) {
				t.Errorf("code_verifier %q is not RFC 7636 §4.1", v)
			}
			sum := sha256.Sum256([]byte(v))
			if got := base64.RawURLEncoding.EncodeToString(sum[:]); got != a.Get("code_challenge") {
				t.Errorf("S256(verifier) = %q, challenge %q", got, a.Get("code_challenge"))
			}
			if challenges[v] {
				t.Error("verifier reused across logins")
			}
			challenges[v] = true
		}
	})
	t.Run("on: mock provider requires it", func(t *testing.T) {
		t.Parallel()
		_, srv := mockProvider(t, mockprovider.Options{RequirePKCE: true})
		b := newBroker(t, mockConfig(srv, Config{PKCE: true}))
		l, _, err := login(t, b)
		if err != nil {
			t.Fatal(err)
		}
		mustPoll(t, b, l.ReadKey)
	})
	t.Run("off: nothing sent", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, reply(200, "application/json", `{"access_token":"a"}`))
		b := newBroker(t, f.config(Config{PKCE: false}))
		l := b.Authorize()
		if strings.Contains(l.URL, "code_challenge") {
			t.Errorf("URL %q carries a challenge", l.URL)
		}
		q := approve(t, l.URL)
		if err := b.Redirect(context.Background(), Callback{State: q.Get("state"), Code: q.Get("code")}); err != nil {
			t.Fatal(err)
		}
		if r := f.requests()[0]; r.Form.Has("code_verifier") {
			t.Errorf("code_verifier sent with PKCE off: %v", r.Form)
		}
		// mockprovider refuses a verifier without a challenge.
		_, srv := mockProvider(t, mockprovider.Options{})
		b2 := newBroker(t, mockConfig(srv, Config{PKCE: false}))
		l2, _, err := login(t, b2)
		if err != nil {
			t.Fatal(err)
		}
		mustPoll(t, b2, l2.ReadKey)
	})
}

// The exchange runs on a context of its own: a caller that goes away (a
// shutdown, a closed browser tab) does not waste the single-use code.
func TestExchangeSurvivesCancelledContext(t *testing.T) {
	t.Parallel()
	f := newFake(t, reply(200, "application/json", `{"access_token":"a"}`))
	b := newBroker(t, f.config(Config{}))
	l := b.Authorize()
	q := approve(t, l.URL)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Redirect(ctx, Callback{State: q.Get("state"), Code: q.Get("code")}); err != nil {
		t.Fatal(err)
	}
	mustPoll(t, b, l.ReadKey)
}

// A JSON request body (Notion) carries the same fields as strings.
func TestJSONRequestBody(t *testing.T) {
	t.Parallel()
	f := newFake(t, reply(200, "application/json", `{"access_token":"a"}`))
	b := newBroker(t, f.config(Config{BodyFormat: BodyJSON, AuthStyle: AuthBasic, PKCE: true}))
	_, q, err := login(t, b)
	if err != nil {
		t.Fatal(err)
	}
	r := f.requests()[0]
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var m map[string]string
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	if m["grant_type"] != "authorization_code" || m["code"] != q.Get("code") || m["redirect_uri"] != testRedirectURI || m["code_verifier"] == "" || m["client_secret"] != "" {
		t.Errorf("body %s", r.Body)
	}
	if !r.HasBasic || r.BasicPass != testClientSecret {
		t.Error("no Basic credentials")
	}
}

func TestProviderCountsConcurrentLogins(t *testing.T) {
	t.Parallel()
	// Many logins at once against the mock provider: each gets its own
	// tokens, exactly one request each.
	p, srv := mockProvider(t, mockprovider.Options{RequirePKCE: true})
	b := newBroker(t, mockConfig(srv, Config{PKCE: true}))
	const n = 40
	var okCount atomic.Int64
	done := make(chan []byte, n)
	for range n {
		go func() {
			l, _, err := login(t, b)
			if err != nil {
				t.Error(err)
				done <- nil
				return
			}
			tokens, err := b.Poll(l.ReadKey, PollOptions{})
			if err == nil {
				okCount.Add(1)
			}
			done <- tokens
		}()
	}
	seenTokens := map[string]bool{}
	for range n {
		tok := <-done
		if tok == nil {
			continue
		}
		at := jsonObject(t, tok)["access_token"].(string)
		if seenTokens[at] {
			t.Error("two logins got the same tokens")
		}
		seenTokens[at] = true
	}
	if okCount.Load() != n || p.TokenRequests() != n {
		t.Errorf("%d delivered, %d token requests, want %d", okCount.Load(), p.TokenRequests(), n)
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
	if _, _, err := login(t, b); err != nil {
		t.Fatal(err)
	}
	if r := f.requests(); !r[len(r)-1].HasBasic {
		t.Error("after both styles were refused once, the next login skipped Basic")
	}
}
