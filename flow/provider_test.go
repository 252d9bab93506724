package flow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"handoff/internal/mockprovider"
)

// Token exchanges against internal/mockprovider and small fakes: response
// formats, client authentication, PKCE, and every way a provider can refuse
// or fail.

func TestFormEncodedAnswerBecomesJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, contentType, body, want string
	}{
		{
			name:        "github style, order kept, numbers for *_in",
			contentType: "application/x-www-form-urlencoded; charset=utf-8",
			body:        "access_token=gho_a%2Bb%2F%3D&token_type=bearer&expires_in=28800&refresh_token=ghr_x&refresh_token_expires_in=15811200&scope=repo%2Cgist",
			want:        `{"access_token":"gho_a+b/=","token_type":"bearer","expires_in":28800,"refresh_token":"ghr_x","refresh_token_expires_in":15811200,"scope":"repo,gist"}`,
		},
		{
			name:        "text/plain, non-digit *_in stays a string, repeated key first wins",
			contentType: "text/plain",
			body:        "expires_in=12a&access_token=tok&access_token=other&foo_in=007&scope=a+b",
			want:        `{"expires_in":"12a","access_token":"tok","foo_in":"007","scope":"a b"}`,
		},
		{
			name:        "quotes and unicode are escaped",
			contentType: "application/x-www-form-urlencoded",
			body:        "access_token=%22q%22%5C%3C%2Fscript%3E&note=%C3%BC",
			want:        `{"access_token":"\"q\"\\</script>","note":"ü"}`, // application/json with nosniff: no HTML escaping needed
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, reply(200, c.contentType, c.body))
			b := newBroker(t, f.config(Config{}))
			l, _, err := login(t, b)
			if err != nil {
				t.Fatal(err)
			}
			got := mustPoll(t, b, l.ReadKey)
			if string(got) != c.want {
				t.Errorf("Poll =\n%s\nwant\n%s", got, c.want)
			}
			jsonObject(t, got)
		})
	}

	t.Run("mock provider", func(t *testing.T) {
		t.Parallel()
		_, srv := mockProvider(t, mockprovider.Options{FormResponse: true})
		b := newBroker(t, mockConfig(srv, Config{PKCE: true, Scope: "read write"}))
		l, _, err := login(t, b)
		if err != nil {
			t.Fatal(err)
		}
		got := mustPoll(t, b, l.ReadKey)
		m := jsonObject(t, got)
		if n, ok := m["expires_in"].(json.Number); !ok || n != "3600" {
			t.Errorf("expires_in = %#v, want the number 3600: %s", m["expires_in"], got)
		}
		if m["scope"] != "read write" || m["token_type"] != "Bearer" {
			t.Errorf("Poll = %s", got)
		}
		// url.Values.Encode sorts keys; the JSON keeps that order.
		if !regexp.MustCompile(`^\{"access_token":"[^"]+","expires_in":3600,"refresh_token":"[^"]+","scope":"read write","token_type":"Bearer"\}$`).Match(got) {
			t.Errorf("Poll = %s, members out of the provider's order", got)
		}
	})
}

func TestJSONAnswerPassedByteForByte(t *testing.T) {
	t.Parallel()
	bodies := []struct{ contentType, body string }{
		{"application/json", `{"access_token" : "x",  "token_type":"bearer","expires_in":3600 , "scope":"a b"}` + "\n"},
		{"application/json;charset=UTF-8", "\t{\"token_type\":\"bearer\",\"access_token\":\"\\u0041b\",\"expires_in\":\"3600\",\"nested\":{\"a\":[1,2.50,true,null]}}  "},
		{"text/html", `{"access_token":"x","Token_Type":"BEARER","expires_in":1e3}`}, // JSON whatever the label
		{"", `{"access_token":"x","hub_id":123456789012345678901234567890}`},         // big numbers untouched
	}
	for _, c := range bodies {
		f := newFake(t, reply(200, c.contentType, c.body))
		b := newBroker(t, f.config(Config{}))
		l, _, err := login(t, b)
		if err != nil {
			t.Fatalf("%q: %v", c.body, err)
		}
		if got := mustPoll(t, b, l.ReadKey); string(got) != c.body {
			t.Errorf("Poll =\n%q\nwant the provider's bytes\n%q", got, c.body)
		}
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

func TestAuthorizeURL(t *testing.T) {
	t.Parallel()
	b := newBroker(t, Config{
		AuthorizeEndpoint: "https://provider.example/oauth/authorize?tenant=x&prompt=none#frag",
		Scope:             "a b",
		PKCE:              true,
		AuthorizeParams:   map[string][]string{"prompt": {"consent"}, "access_type": {"offline"}},
	})
	l := b.Authorize()
	u := mustParseURL(t, l.URL)
	q := u.Query()
	want := map[string]string{
		"client_id": testClientID, "redirect_uri": testRedirectURI, "response_type": "code",
		"scope": "a b", "tenant": "x", "prompt": "consent", "access_type": "offline",
		"code_challenge_method": "S256",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q (URL %s)", k, q.Get(k), v, l.URL)
		}
	}
	if len(q["prompt"]) != 1 || q.Get("state") == "" || q.Get("code_challenge") == "" || u.Fragment != "" {
		t.Errorf("URL %s", l.URL)
	}
	if u.Host != "provider.example" || u.Path != "/oauth/authorize" {
		t.Errorf("URL %s", l.URL)
	}
	// The read key and the state are URL-safe and differ per login.
	l2 := b.Authorize()
	if l2.ReadKey == l.ReadKey || mustParseURL(t, l2.URL).Query().Get("state") == q.Get("state") {
		t.Error("two logins share a read key or state")
	}
	for _, s := range []string{l.ReadKey, q.Get("state")} {
		if !regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(s) {
			t.Errorf("%q is not URL-safe", s)
		}
	}
	// No scope: no scope parameter.
	b3 := newBroker(t, Config{})
	if mustParseURL(t, b3.Authorize().URL).Query().Has("scope") {
		t.Error("empty scope sent")
	}
	// Parameters handoff sets may not come from AuthorizeParams.
	for _, k := range []string{"state", "code_challenge", "client_id", "redirect_uri"} {
		cfg := Config{Sealer: testSealer(t, "x"), LoginTTL: time.Minute, TokenTTL: time.Minute, ProviderTimeout: time.Second,
			MaxPending: 1, AuthorizeEndpoint: "https://p.example/a", AuthorizeParams: map[string][]string{k: {"v"}}}
		if _, err := New(cfg); err == nil {
			t.Errorf("AuthorizeParams %s accepted", k)
		}
	}
}

// TestCancelled: access_denied at the redirect is a cancellation, reported
// by /poll with the provider's description (or one that says cancelled).
func TestCancelled(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, errParam, desc string
		wantCode, wantDesc   string
	}{
		{"access_denied", "access_denied", "The user denied the request.", "access_denied", "The user denied the request."},
		{"no description", "access_denied", "", "access_denied", "the login was cancelled at the provider"},
		{"long description bounded", "access_denied", strings.Repeat("é", 400), "access_denied", ""},
		// Any other code is a refusal: TestRefused.
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, reply(200, "application/json", `{"access_token":"a"}`))
			b := newBroker(t, f.config(Config{PKCE: true}))
			l := b.Authorize()
			q := approve(t, l.URL)
			// error wins over code
			err := b.Redirect(context.Background(), Callback{State: q.Get("state"), Code: q.Get("code"), Error: c.errParam, ErrorDescription: c.desc})
			e := ferr(t, err, KindCancelled, c.wantCode)
			_, perr := b.Poll(l.ReadKey, PollOptions{})
			pe := ferr(t, perr, KindGone, c.wantCode)
			if c.wantDesc != "" && (e.Description != c.wantDesc || pe.Description != c.wantDesc) {
				t.Errorf("descriptions %q / %q, want %q", e.Description, pe.Description, c.wantDesc)
			}
			if pe.Description == "" || len(pe.Description) > 310 {
				t.Errorf("description %d bytes", len(pe.Description))
			}
			if f.hits.Load() != 0 {
				t.Errorf("%d token requests after a cancelled login", f.hits.Load())
			}
			// Later polls answer the same.
			_, perr = b.Poll(l.ReadKey, PollOptions{})
			ferr(t, perr, KindGone, c.wantCode)
		})
	}
	t.Run("no code and no error", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, reply(200, "application/json", `{"access_token":"a"}`))
		b := newBroker(t, f.config(Config{}))
		l := b.Authorize()
		q := approve(t, l.URL)
		ferr(t, b.Redirect(context.Background(), Callback{State: q.Get("state")}), KindInvalidRequest, "invalid_request")
		_, err := b.Poll(l.ReadKey, PollOptions{})
		ferr(t, err, KindGone, "invalid_request")
		if f.hits.Load() != 0 {
			t.Error("token request without a code")
		}
	})
}

// slowly answers after the client gave up (or after a bound, so the server
// can close).
func slowly(d time.Duration) func(http.ResponseWriter, *http.Request, seen) {
	return func(w http.ResponseWriter, r *http.Request, _ seen) {
		select {
		case <-r.Context().Done():
		case <-time.After(d):
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"late"}`)
	}
}

func TestProviderFailures(t *testing.T) {
	t.Parallel()
	big := `{"access_token":"` + strings.Repeat("x", 2<<20) + `"}`
	redirectTarget := newFake(t, reply(200, "application/json", `{"access_token":"stolen"}`))
	// After the parallel subtests below, not before them.
	t.Cleanup(func() {
		if n := redirectTarget.hits.Load(); n != 0 {
			t.Errorf("a token endpoint's redirect was followed (%d requests)", n)
		}
	})
	cases := []struct {
		name     string
		token    func(http.ResponseWriter, *http.Request, seen)
		kind     Kind
		code     string
		status   int
		withBody bool // Error.Body holds the provider's JSON
	}{
		{"400 invalid_grant", reply(400, "application/json", `{"error":"invalid_grant","error_description":"code expired"}`), KindProviderRejected, "invalid_grant", 400, true},
		{"400 not JSON", reply(400, "text/html", "<h1>Bad</h1>"), KindProviderRejected, "invalid_grant", 400, false},
		{"401 invalid_client", reply(401, "application/json", `{"error":"invalid_client"}`), KindProviderRejected, "invalid_client", 401, true},
		{"403 JSON without error", reply(403, "application/json", `{"message":"nope"}`), KindProviderRejected, "invalid_grant", 403, true},
		{"401 text", reply(401, "text/plain", "who are you"), KindProviderRejected, "invalid_client", 401, false},
		{"401 JSON without error", reply(401, "application/json", `{"message":"bad credentials"}`), KindProviderRejected, "invalid_client", 401, true},
		{"error code with a quote", reply(400, "application/json", `{"error":"bad\"code"}`), KindProviderRejected, "invalid_grant", 400, true}, // unfit to pass on: the status says it
		{"500", reply(500, "application/json", `{"error":"server_error"}`), KindProviderFailed, "server_error", 500, false},
		{"503 text", reply(503, "text/plain", "maintenance"), KindProviderFailed, "server_error", 503, false},
		{"200 HTML", reply(200, "text/html", "<!doctype html><p>Sign in</p>"), KindProviderFailed, "server_error", 200, false},
		{"200 garbage", reply(200, "application/octet-stream", "\x00\xff\xfe garbage"), KindProviderFailed, "server_error", 200, false},
		{"200 broken JSON", reply(200, "application/json", `{"access_token":"x"`), KindProviderFailed, "server_error", 200, false},
		{"200 JSON array", reply(200, "application/json", `[{"access_token":"x"}]`), KindProviderFailed, "server_error", 200, false},
		{"200 empty", reply(200, "application/json", ""), KindProviderFailed, "server_error", 200, false},
		{"200 too large", reply(200, "application/json", big), KindProviderFailed, "server_error", 0, false},
		{"200 error (GitHub)", reply(200, "application/json", `{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired.","error_uri":"https://docs.github.com"}`), KindProviderRejected, "bad_verification_code", 200, true},
		{"200 form error (GitHub)", reply(200, "application/x-www-form-urlencoded", "error=bad_verification_code&error_description=The+code+passed+is+incorrect"), KindProviderRejected, "bad_verification_code", 200, true},
		{"200 ok:false (Slack)", reply(200, "application/json", `{"ok":false,"error":"invalid_code"}`), KindProviderRejected, "invalid_code", 200, true},
		{"200 ok:false without error", reply(200, "application/json", `{"ok":false,"access_token":"x"}`), KindProviderRejected, "server_error", 200, true},
		{"200 without access_token", reply(200, "application/json", `{"token_type":"bearer","expires_in":3600}`), KindProviderFailed, "server_error", 200, false},
		{"200 empty access_token", reply(200, "application/json", `{"access_token":"","token_type":"bearer"}`), KindProviderFailed, "server_error", 200, false},
		{"200 null access_token", reply(200, "application/json", `{"access_token":null}`), KindProviderFailed, "server_error", 200, false},
		{"302 not followed", func(w http.ResponseWriter, r *http.Request, _ seen) {
			http.Redirect(w, r, redirectTarget.srv.URL+"/token", http.StatusTemporaryRedirect)
		}, KindProviderFailed, "server_error", 307, false},
		{"slow", slowly(30 * time.Second), KindProviderTimeout, "temporarily_unavailable", 0, false},
		{"slow body", func(w http.ResponseWriter, r *http.Request, _ seen) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":`)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
			io.WriteString(w, `"x"}`)
		}, KindProviderTimeout, "temporarily_unavailable", 0, false},
		{"connection dropped", func(w http.ResponseWriter, r *http.Request, _ seen) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, KindProviderFailed, "server_error", 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, c.token)
			// A short limit only where the provider is meant to miss it:
			// elsewhere a loaded machine must not turn answers into timeouts.
			timeout := 10 * time.Second
			if c.kind == KindProviderTimeout {
				timeout = 300 * time.Millisecond
			}
			b := newBroker(t, f.config(Config{ProviderTimeout: timeout, PKCE: true}))
			l, q, err := login(t, b)
			e := ferr(t, err, c.kind, c.code)
			if c.status != 0 && e.Status != c.status {
				t.Errorf("Status = %d, want %d", e.Status, c.status)
			}
			if (e.Body != nil) != c.withBody {
				t.Errorf("Body = %q", e.Body)
			}
			if e.Body != nil && !json.Valid(e.Body) {
				t.Errorf("Body is not JSON: %q", e.Body)
			}
			if !ValidErrorCode(e.Code) || len(e.Description) > 310 {
				t.Errorf("code %q / description %q unfit to show", e.Code, e.Description)
			}
			secretsAbsent(t, err, testClientSecret, q.Get("code"), q.Get("state"), l.ReadKey)
			_, perr := b.Poll(l.ReadKey, PollOptions{})
			ferr(t, perr, KindGone, c.code)
			if n := f.hits.Load(); n != 1 {
				t.Errorf("%d token requests, want 1", n)
			}
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		b := newBroker(t, Config{AuthorizeEndpoint: "http://127.0.0.1:1/authorize", TokenEndpoint: srv.URL + "/token?secret=in-url"})
		l := b.Authorize()
		st := mustParseURL(t, l.URL).Query().Get("state")
		err := b.Redirect(context.Background(), Callback{State: st, Code: "c"})
		ferr(t, err, KindProviderFailed, "server_error")
		if strings.Contains(err.Error(), "in-url") {
			t.Errorf("error %q carries the endpoint's query", err)
		}
	})
}

// Slack installs that ask only for user scopes answer with no top-level
// access_token: the user token sits under authed_user, where the preset's
// TokensAt says to look.
// The cap on a provider's answer is 1 MiB (docs/protocol.md, "Talking to
// the provider"): an answer of exactly that size is delivered whole, one
// byte more is refused as too large. Form-encoded answers matter most: cut
// at the cap, one would still parse, as a shorter token.
func TestProviderAnswerCap(t *testing.T) {
	t.Parallel()
	const documentedCap = 1 << 20
	form := func(size int) string {
		const head = "token_type=bearer&access_token="
		return head + strings.Repeat("x", size-len(head))
	}
	cases := []struct {
		name, contentType, body string
		tooLarge                bool
	}{
		{"form at the cap", "application/x-www-form-urlencoded", form(documentedCap), false},
		{"form one byte over", "application/x-www-form-urlencoded", form(documentedCap + 1), true},
		{"form of 2 MiB", "application/x-www-form-urlencoded", form(2 << 20), true},
		{"JSON of 2 MiB", "application/json", `{"access_token":"` + strings.Repeat("x", 2<<20) + `"}`, true},
	}
	for _, c := range cases {
		for _, chunked := range []bool{false, true} { // with and without Content-Length
			t.Run(fmt.Sprintf("%s, chunked %v", c.name, chunked), func(t *testing.T) {
				t.Parallel()
				f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ seen) {
					w.Header().Set("Content-Type", c.contentType)
					if !chunked {
						w.Header().Set("Content-Length", strconv.Itoa(len(c.body)))
					}
					io.WriteString(w, c.body)
				})
				b := newBroker(t, f.config(Config{}))
				l, _, err := login(t, b)
				if c.tooLarge {
					e := ferr(t, err, KindProviderFailed, "server_error")
					if !strings.Contains(e.Description, "too large") {
						t.Errorf("description %q, want the answer called too large", e.Description)
					}
					_, perr := b.Poll(l.ReadKey, PollOptions{})
					ferr(t, perr, KindGone, "server_error")
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				got := jsonObject(t, mustPoll(t, b, l.ReadKey))
				if at, _ := got["access_token"].(string); len(at) != documentedCap-len("token_type=bearer&access_token=") {
					t.Errorf("access_token of %d bytes, want the whole of it", len(at))
				}
			})
		}
	}
}

func TestSlackShapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body string
		kind Kind
	}{
		{`{"ok":true,"app_id":"A1","authed_user":{"id":"U1","scope":"search:read","access_token":"xoxp-1","token_type":"user"},"team":{"id":"T1"}}`, 0},
		{`{"ok":true,"access_token":"xoxb-1","token_type":"bot","authed_user":{"id":"U1"}}`, 0},
		{`{"ok":true,"authed_user":{"id":"U1"}}`, KindProviderFailed},
		{`{"ok":true,"authed_user":{"access_token":""}}`, KindProviderFailed},
		{`{"ok":false,"error":"invalid_code","warning":"superfluous_charset"}`, KindProviderRejected},
	}
	for _, c := range cases {
		f := newFake(t, reply(200, "application/json; charset=utf-8", c.body))
		b := newBroker(t, f.config(Config{TokensAt: "authed_user"}))
		l, _, err := login(t, b)
		if c.kind == 0 {
			if err != nil {
				t.Errorf("%s: %v", c.body, err)
				continue
			}
			if got := mustPoll(t, b, l.ReadKey); string(got) != c.body {
				t.Errorf("Poll = %s, want %s", got, c.body)
			}
		} else {
			ferr(t, err, c.kind, "")
		}
	}
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

// Members are read by their exact names, and one of an unexpected type
// does not hide the others.
func TestTokenFieldsRobust(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body string
		ok         bool
		code       string
	}{
		{"ok as a string", `{"ok":"true","access_token":"a"}`, true, ""},
		{"authed_user as a string", `{"authed_user":"U1","access_token":"a"}`, true, ""},
		{"error_description as a number", `{"error":"invalid_grant","error_description":5}`, false, "invalid_grant"},
		{"Access_Token is not access_token", `{"Access_Token":"a"}`, false, "server_error"},
		{"Error is not error", `{"Error":"x","access_token":"a"}`, true, ""},
		{"ok false without error", `{"ok":false,"access_token":"a"}`, false, "server_error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, err := answerShape{}.parseTokenResponse(200, "application/json", []byte(c.body))
			if c.ok {
				if err != nil || string(body) != c.body {
					t.Fatalf("got %q, %v; want the body unchanged", body, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != c.code {
				t.Fatalf("got %v, want code %s", err, c.code)
			}
		})
	}
}

// A provider that throttles handoff (429) has failed for now; the user did
// nothing wrong, so the code is temporarily_unavailable, not invalid_grant.
func TestProviderThrottled(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", `{"error":"rate_limited"}`} {
		_, err := answerShape{}.parseTokenResponse(429, "application/json", []byte(body))
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindProviderFailed || e.Code != "temporarily_unavailable" {
			t.Fatalf("429 %q: got %v, want KindProviderFailed temporarily_unavailable", body, err)
		}
	}
}

// A preset maps its provider's own error codes to the RFC 6749 code a
// plugin can act on; the provider's code leads error_description, and the
// JSON /refresh passes on carries the same error. A refusal without a
// usable code gets the code of its HTTP status.
func TestRefusalCodes(t *testing.T) {
	t.Parallel()
	shape := answerShape{errorCodes: map[string]string{
		"bad_verification_code": "invalid_grant",
		"invalid_refresh_token": "invalid_grant",
		"bad_client_secret":     "invalid_client",
	}}
	cases := []struct {
		name, ct, body string
		status         int
		code, desc     string
		bodyUnchanged  bool
	}{
		{"mapped, 200 JSON (GitHub)", "application/json",
			`{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired.","error_uri":"https://docs.github.com"}`,
			200, "invalid_grant", "bad_verification_code: The code passed is incorrect or expired.", false},
		{"mapped, 200 form (GitHub)", "application/x-www-form-urlencoded",
			"error=bad_verification_code&error_description=expired",
			200, "invalid_grant", "bad_verification_code: expired", false},
		{"mapped, ok:false (Slack)", "application/json", `{"ok":false,"error":"invalid_refresh_token"}`,
			200, "invalid_grant", "invalid_refresh_token", false},
		{"mapped to invalid_client", "application/json", `{"ok":false,"error":"bad_client_secret"}`,
			200, "invalid_client", "bad_client_secret", false},
		{"not mapped: passed on as it is", "application/json", `{"error":"invalid_grant","error_description":"gone"}`,
			400, "invalid_grant", "gone", true},
		{"not mapped, 200 ok:false", "application/json", `{"ok":false,"error":"invalid_code"}`,
			200, "invalid_code", "the provider refused the request", true},
		{"error true (Figma)", "application/json", `{"error":true,"status":400,"message":"Invalid code"}`,
			400, "invalid_grant", "Invalid code", false},
		{"status and message (Twitch)", "application/json", `{"status":400,"message":"Invalid refresh token"}`,
			400, "invalid_grant", "Invalid refresh token", false},
		{"401 without a code", "application/json", `{"message":"bad client"}`,
			401, "invalid_client", "bad client", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := shape.parseTokenResponse(c.status, c.ct, []byte(c.body))
			e := ferr(t, err, KindProviderRejected, c.code)
			if e.Description != c.desc {
				t.Errorf("Description = %q, want %q", e.Description, c.desc)
			}
			if c.bodyUnchanged {
				if string(e.Body) != c.body {
					t.Errorf("Body = %s, want the provider's bytes", e.Body)
				}
				return
			}
			var m map[string]any
			if err := json.Unmarshal(e.Body, &m); err != nil {
				t.Fatalf("Body %s: %v", e.Body, err)
			}
			if m["error"] != c.code || m["error_description"] != c.desc {
				t.Errorf("Body %s: want error %q and error_description %q", e.Body, c.code, c.desc)
			}
			var in map[string]any
			if json.Unmarshal([]byte(c.body), &in) == nil {
				for k, v := range in {
					if k != "error" && k != "error_description" && fmt.Sprint(m[k]) != fmt.Sprint(v) {
						t.Errorf("member %s = %v, want the provider's %v", k, m[k], v)
					}
				}
			}
		})
	}
}

// A preset's TokenParams go into the code exchange (Shopify's expiring=1),
// never into a refresh, and never in place of handoff's own parameters.
func TestTokenParams(t *testing.T) {
	t.Parallel()
	f := newFake(t, reply(200, "application/json", `{"access_token":"a","refresh_token":"r"}`))
	b := newBroker(t, f.config(Config{TokenParams: url.Values{"expiring": {"1"}}}))
	if _, _, err := login(t, b); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Refresh(context.Background(), "r"); err != nil {
		t.Fatal(err)
	}
	r := f.requests()
	if got := r[0].Form.Get("expiring"); got != "1" || r[0].Form.Get("grant_type") != "authorization_code" {
		t.Errorf("code exchange %v: want expiring=1", r[0].Form)
	}
	if r[1].Form.Has("expiring") {
		t.Errorf("refresh %v carries the code exchange's parameters", r[1].Form)
	}
	for _, k := range []string{"grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret", "refresh_token"} {
		cfg := f.config(Config{TokenParams: url.Values{k: {"x"}}, Sealer: testSealer(t, "x"), LoginTTL: time.Minute, TokenTTL: time.Minute, ProviderTimeout: time.Second, MaxPending: 1})
		if _, err := New(cfg); err == nil {
			t.Errorf("New accepted TokenParams setting %s", k)
		}
	}
	cfg := f.config(Config{ErrorCodes: map[string]string{"bad": `in"valid`}, Sealer: testSealer(t, "x"), LoginTTL: time.Minute, TokenTTL: time.Minute, ProviderTimeout: time.Second, MaxPending: 1})
	if _, err := New(cfg); err == nil {
		t.Error("New accepted an error mapping to a code unfit to pass on")
	}
}

// The preset's name goes on the broker's log lines, so a deployment with
// several apps says which provider refused.
func TestProviderNameInLogs(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	f := newFake(t, reply(400, "application/json", `{"error":"invalid_grant"}`))
	b := newBroker(t, f.config(Config{ProviderName: "Notion", Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &buf}, nil))}))
	login(t, b)
	if !strings.Contains(buf.String(), "provider=Notion") {
		t.Errorf("log %q does not name the provider", buf.String())
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
