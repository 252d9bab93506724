package flow

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"handoff/crypto"
	"handoff/internal/mockprovider"
)

// Shared test fixtures: sealers, brokers with safe defaults, a scriptable
// fake provider that records every request it gets, and a driver that plays
// the browser's part between the authorize URL and the redirect.

const (
	testClientID     = "client-id"
	testClientSecret = "client-secret"
	testRedirectURI  = "http://127.0.0.1:1/redirect" // never requested: the tests call Redirect
)

func testSealer(t testing.TB, label string) *crypto.Sealer {
	t.Helper()
	s, err := crypto.NewSealer(crypto.DeriveKey([]byte("test seal secret"), label))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newBroker returns a Broker for cfg with every zero field given a default
// that keeps tests fast and independent: generous TTLs, a short provider
// timeout, no poll limit.
func newBroker(t testing.TB, cfg Config) *Broker {
	t.Helper()
	if cfg.ClientID == "" {
		cfg.ClientID = testClientID
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = testClientSecret
	}
	if cfg.RedirectURI == "" {
		cfg.RedirectURI = testRedirectURI
	}
	if cfg.AuthorizeEndpoint == "" {
		cfg.AuthorizeEndpoint = "http://127.0.0.1:1/authorize"
	}
	if cfg.TokenEndpoint == "" {
		cfg.TokenEndpoint = "http://127.0.0.1:1/token"
	}
	if cfg.LoginTTL == 0 {
		cfg.LoginTTL = 10 * time.Minute
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = time.Minute
	}
	if cfg.ProviderTimeout == 0 {
		cfg.ProviderTimeout = 10 * time.Second
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = 1000
	}
	if cfg.Sealer == nil {
		cfg.Sealer = testSealer(t, "flow tests")
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// noFollow is the browser of the tests: it requests the authorize URL and
// stops at the provider's redirect.
var noFollow = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// approve requests a login's authorize URL from a provider that approves at
// once and returns the query the provider sent back to the redirect URI.
func approve(t testing.TB, authorizeURL string) url.Values {
	t.Helper()
	resp, err := noFollow.Get(authorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: HTTP %d, want 302: %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc.Query()
}

// login runs a login up to the redirect: Authorize, the provider's
// approval, and Redirect. It returns the login and Redirect's error.
func login(t testing.TB, b *Broker) (Login, url.Values, error) {
	t.Helper()
	l := b.Authorize()
	q := approve(t, l.URL)
	err := b.Redirect(context.Background(), Callback{State: q.Get("state"), Code: q.Get("code")})
	return l, q, err
}

// mustLogin runs login and requires the redirect to succeed.
func mustLogin(t testing.TB, b *Broker) (Login, url.Values) {
	t.Helper()
	l, q, err := login(t, b)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	return l, q
}

// ferr asserts that err is a *Error of kind (and code, unless empty).
func ferr(t testing.TB, err error, kind Kind, code string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *flow.Error of kind %s", err, err, kindName(kind))
	}
	if e.Kind != kind || code != "" && e.Code != code {
		t.Fatalf("error = kind %s code %q (%v), want kind %s code %q", kindName(e.Kind), e.Code, e, kindName(kind), code)
	}
	return e
}

func kindName(k Kind) string {
	names := map[Kind]string{
		KindInvalidRequest: "InvalidRequest", KindInvalidState: "InvalidState", KindPending: "Pending",
		KindGone: "Gone", KindSlowDown: "SlowDown", KindCancelled: "Cancelled",
		KindProviderRejected: "ProviderRejected", KindProviderFailed: "ProviderFailed",
		KindProviderTimeout: "ProviderTimeout", KindElsewhere: "Elsewhere", KindOwnerGone: "OwnerGone", KindBusy: "Busy",
		KindRefused:     "Refused",
		KindUnsupported: "Unsupported",
	}
	if n, ok := names[k]; ok {
		return n
	}
	return "Kind(?)"
}

// mustPoll polls once and requires the tokens.
func mustPoll(t testing.TB, b *Broker, key string) []byte {
	t.Helper()
	tokens, err := b.Poll(key, PollOptions{})
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	return tokens
}

// pollErr polls once and requires the error of kind (and code, unless
// empty).
func pollErr(t testing.TB, b *Broker, key string, kind Kind, code string) *Error {
	t.Helper()
	_, err := b.Poll(key, PollOptions{})
	return ferr(t, err, kind, code)
}

// mockProvider starts internal/mockprovider on loopback, approving at once.
func mockProvider(t testing.TB, opts mockprovider.Options) (*mockprovider.Provider, *httptest.Server) {
	t.Helper()
	if opts.ClientID == "" {
		opts.ClientID = testClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = testClientSecret
	}
	opts.AutoApprove = true
	p := mockprovider.New(opts)
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv
}

// mockConfig is a Config pointing at a mock provider served by srv.
func mockConfig(srv *httptest.Server, c Config) Config {
	c.AuthorizeEndpoint = srv.URL + "/authorize"
	c.TokenEndpoint = srv.URL + "/token"
	return c
}

// seen is one request a fake provider received.
type seen struct {
	Method, Path string
	Query        url.Values
	Header       http.Header
	Body         []byte
	Form         url.Values // the body, form-decoded (or from a JSON body)
	BasicUser    string     // form-decoded, per RFC 6749 §2.3.1
	BasicPass    string
	HasBasic     bool
}

// fakeProvider is a scriptable provider: /authorize approves at once (it
// records the query and redirects with a fresh code), and every other path
// is answered by token, after the request was recorded and counted.
type fakeProvider struct {
	srv   *httptest.Server
	token func(w http.ResponseWriter, r *http.Request, s seen)

	hits  atomic.Int64 // requests other than /authorize
	mu    sync.Mutex
	seen  []seen
	auths []url.Values // authorize queries
	codes int
}

func newFake(t testing.TB, token func(w http.ResponseWriter, r *http.Request, s seen)) *fakeProvider {
	t.Helper()
	f := &fakeProvider{token: token}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeProvider) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/authorize" {
		q := r.URL.Query()
		f.mu.Lock()
		f.auths = append(f.auths, q)
		f.codes++
		code := "code-" + string(rune('a'+f.codes%26)) + strings.Repeat("x", f.codes%7)
		f.mu.Unlock()
		u, _ := url.Parse(q.Get("redirect_uri"))
		back := u.Query()
		back.Set("code", code)
		back.Set("state", q.Get("state"))
		u.RawQuery = back.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
		return
	}
	f.hits.Add(1)
	s := record(r)
	f.mu.Lock()
	f.seen = append(f.seen, s)
	f.mu.Unlock()
	f.token(w, r, s)
}

// record reads what a token request carries.
func record(r *http.Request) seen {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s := seen{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			s.Form = url.Values{}
			for k, v := range m {
				if str, ok := v.(string); ok {
					s.Form.Set(k, str)
				} else {
					s.Form.Set(k, "<non-string>")
				}
			}
		}
	} else {
		s.Form, _ = url.ParseQuery(string(body))
	}
	if u, p, ok := r.BasicAuth(); ok {
		s.HasBasic = true
		s.BasicUser, _ = url.QueryUnescape(u)
		s.BasicPass, _ = url.QueryUnescape(p)
	}
	return s
}

func (f *fakeProvider) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.seen...)
}

func (f *fakeProvider) lastAuthorize() url.Values { return last(&f.mu, &f.auths) }

// last is the latest entry of a list a server appends to under mu, or the
// zero value before the first.
func last[T any](mu *sync.Mutex, list *[]T) T {
	mu.Lock()
	defer mu.Unlock()
	var v T
	if n := len(*list); n > 0 {
		v = (*list)[n-1]
	}
	return v
}

// grantingFake is a fake provider that answers every token request with an
// access token, and a broker for cfg in front of it.
func grantingFake(t testing.TB, cfg Config) (*fakeProvider, *Broker) {
	t.Helper()
	f := newFake(t, reply(200, "application/json", `{"access_token":"a"}`))
	return f, newBroker(t, f.config(cfg))
}

// config is a Config pointing at the fake.
func (f *fakeProvider) config(c Config) Config {
	c.AuthorizeEndpoint = f.srv.URL + "/authorize"
	c.TokenEndpoint = f.srv.URL + "/token"
	return c
}

// timeoutFor is the provider timeout for a case expecting kind: short only
// where the provider is meant to miss it; elsewhere a loaded machine must
// not turn answers into timeouts.
func timeoutFor(kind Kind) time.Duration {
	if kind == KindProviderTimeout {
		return 300 * time.Millisecond
	}
	return 10 * time.Second
}

// reply writes a canned answer.
func reply(status int, contentType, body string) func(http.ResponseWriter, *http.Request, seen) {
	return func(w http.ResponseWriter, _ *http.Request, _ seen) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// firstThen answers the first token request with first and every later one
// with then.
func firstThen(first, then func(http.ResponseWriter, *http.Request, seen)) func(http.ResponseWriter, *http.Request, seen) {
	var calls atomic.Int64
	return func(w http.ResponseWriter, r *http.Request, s seen) {
		if calls.Add(1) == 1 {
			first(w, r, s)
			return
		}
		then(w, r, s)
	}
}

// jsonObject decodes an object, failing the test if it is not one.
func jsonObject(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil || m == nil {
		t.Fatalf("not a JSON object: %q (%v)", b, err)
	}
	return m
}

// secretsAbsent fails the test if any of the secrets appear in the error's
// text or description: errors reach logs and pages.
func secretsAbsent(t testing.TB, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	var e *Error
	text := err.Error()
	if errors.As(err, &e) {
		text += " " + e.Description + " " + e.Code
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("error %q reveals a secret (%q)", text, s)
		}
	}
}

func mustParseURL(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var rawURL = base64.RawURLEncoding
