package security

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeProvider is a strict OAuth 2.0 authorization server that remembers
// everything secret it issued or received (codes, tokens, PKCE verifiers), so
// the tests can look for each of them in handoff's logs and pages, and counts
// token requests, so they can prove that a refused state never reached it.
type fakeProvider struct {
	URL          string
	clientID     string
	clientSecret string
	secrets      *secretSet

	tokenRequests atomic.Int64
	// fault, when set, sees each token request first; it answers and
	// returns true, or returns false to let the normal grant run.
	fault atomic.Pointer[faultFunc]

	mu        sync.Mutex
	codes     map[string]string // code -> PKCE challenge ("" without PKCE)
	refresh   map[string]bool
	issued    map[string]string // code -> the access token it was exchanged for
	verifiers []string          // code_verifier values received
}

type faultFunc func(w http.ResponseWriter, r *http.Request) bool

func newFakeProvider(t *testing.T, secrets *secretSet) *fakeProvider {
	t.Helper()
	owned(t)
	p := &fakeProvider{
		clientID:     "client-" + random(8),
		clientSecret: random(32),
		secrets:      secrets,
		codes:        map[string]string{},
		refresh:      map[string]bool{},
		issued:       map[string]string{},
	}
	secrets.add(p.clientSecret)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *fakeProvider) setFault(f faultFunc) {
	if f == nil {
		p.fault.Store(nil)
		return
	}
	p.fault.Store(&f)
}

// authorize approves at once (or, with deny=1 added by the test playing the
// user, refuses) and sends the browser back with the state it was given.
func (p *fakeProvider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	back, err := url.Parse(q.Get("redirect_uri"))
	if q.Get("client_id") != p.clientID || err != nil || q.Get("response_type") != "code" {
		http.Error(w, "bad authorize request", http.StatusBadRequest)
		return
	}
	if q.Get("code_challenge") != "" && q.Get("code_challenge_method") != "S256" {
		http.Error(w, "S256 only", http.StatusBadRequest)
		return
	}
	v := url.Values{"state": {q.Get("state")}}
	if q.Get("deny") != "" {
		v.Set("error", "access_denied")
		v.Set("error_description", "The user denied the request.")
	} else {
		code := random(24)
		p.secrets.add(code)
		p.mu.Lock()
		p.codes[code] = q.Get("code_challenge")
		p.mu.Unlock()
		v.Set("code", code)
	}
	v.Set("iss", p.URL) // an extra parameter handoff must ignore
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (p *fakeProvider) token(w http.ResponseWriter, r *http.Request) {
	p.tokenRequests.Add(1)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	f := r.PostForm
	if v := f.Get("code_verifier"); v != "" {
		p.secrets.add(v)
		p.mu.Lock()
		p.verifiers = append(p.verifiers, v)
		p.mu.Unlock()
	}
	if ff := p.fault.Load(); ff != nil && (*ff)(w, r) {
		return
	}
	if f.Get("client_id") != p.clientID ||
		subtle.ConstantTimeCompare([]byte(f.Get("client_secret")), []byte(p.clientSecret)) != 1 {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch f.Get("grant_type") {
	case "authorization_code":
		code := f.Get("code")
		challenge, ok := p.codes[code]
		delete(p.codes, code) // single use
		if !ok || challenge != "" && s256(f.Get("code_verifier")) != challenge {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		p.issued[code] = p.issue(w, true)
	case "refresh_token":
		if !p.refresh[f.Get("refresh_token")] {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		p.issue(w, false) // as Google does: the old refresh token stays valid
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
	}
}

// issue writes a token response and returns its access token. p.mu is held.
func (p *fakeProvider) issue(w http.ResponseWriter, withRefresh bool) string {
	body := map[string]any{"access_token": random(32), "token_type": "bearer", "expires_in": 3600}
	p.secrets.add(body["access_token"].(string))
	if withRefresh {
		rt := random(32)
		p.refresh[rt] = true
		p.secrets.add(rt)
		body["refresh_token"] = rt
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(body)
	return body["access_token"].(string)
}

// accessFor returns the access token that code was exchanged for.
func (p *fakeProvider) accessFor(code string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.issued[code]
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": "refused by the fake provider"})
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// random returns n random bytes, base64url-encoded: every window of it is
// unguessable, so finding one in a log means it leaked.
func random(n int) string { return base64.RawURLEncoding.EncodeToString(randBytes(n)) }

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
