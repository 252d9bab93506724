// Package mockprovider is a small OAuth 2.0 authorization server for handoff's
// demo mode, tests and benchmarks. It is strict where a real provider is
// (client authentication, redirect URI, single-use codes that expire, PKCE
// S256) so that a broker that sends the wrong request fails against it. It is
// never a real identity provider: it signs nobody in and says so on its page.
package mockprovider

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"handoff/internal/pagestyle"
)

// Options shape the provider's behaviour.
type Options struct {
	ClientID     string
	ClientSecret string
	// RedirectURIs are the registered redirect URIs; empty allows any.
	RedirectURIs []string
	// Prefix is the path the handler is mounted at, e.g. "/mock".
	Prefix string
	// AcceptPost and AcceptBasic choose the client authentication methods
	// accepted at the token endpoint. Neither set means both.
	AcceptPost, AcceptBasic bool
	// RequirePKCE refuses authorization requests without an S256 challenge.
	RequirePKCE bool
	// FormResponse answers token requests form-encoded, as GitHub does
	// without Accept: application/json.
	FormResponse bool
	// RotateRefreshTokens issues a new refresh token on each refresh;
	// otherwise the refresh answer omits refresh_token, as Google does.
	RotateRefreshTokens bool
	// AutoApprove skips the consent page and redirects at once.
	AutoApprove bool
	// CodeTTL bounds how long a code can be redeemed; zero means a minute.
	CodeTTL time.Duration
	// Scopes are the scopes the provider knows; a login asking for another
	// is sent back with invalid_scope (RFC 6749 §4.1.2.1). Empty allows any.
	// The email scope adds the user's email to /userinfo.
	Scopes []string
	// Issuer, when set, is sent back as the iss parameter with the code
	// or error (RFC 9207), as more and more providers do.
	Issuer string
	// Observe, when set, is told of every secret the provider issues or
	// receives, so tests can look for them in logs and pages. It is
	// called with the provider's lock held: it must not call the
	// Provider.
	Observe func(Event)
}

// Event is one secret the provider issued or received.
type Event struct {
	Kind  string // "code", "access_token", "refresh_token" or "code_verifier"
	Value string
	// Code is, for tokens issued for a code, that code.
	Code string
}

// Provider is an http.Handler serving /authorize, /token, /revoke (RFC 7009)
// and /userinfo under Options.Prefix.
type Provider struct {
	opts Options
	mux  *http.ServeMux

	mu       sync.Mutex
	codes    map[string]grant // code -> grant
	refresh  map[string]grant // refresh token -> grant
	access   map[string]grant // access token -> grant
	requests atomic.Int64
	revokes  atomic.Int64
	// tokenHook, when set, sees each token request first (SetTokenHook).
	tokenHook atomic.Pointer[func(http.ResponseWriter, *http.Request) bool]
	// swept is when each map was last swept for expired entries, so a full
	// map of live entries is scanned once a second, not on every put.
	swept map[*map[string]grant]time.Time
}

type grant struct {
	id            string // one per consent: revoking any token of it revokes all
	user          string
	scope         string
	redirectURI   string
	challenge     string
	expires       time.Time
	authorization time.Time
}

// maxGrants bounds each of the provider's maps, so a demo left running
// cannot be made to grow without limit.
const maxGrants = 10000

//go:embed consent.html
var pages embed.FS

var consentPage = template.Must(template.ParseFS(pages, "consent.html"))

// The mock provider's pages wear handoff's style sheet, so the demo looks
// like one product, and allow it by its hash: they are as strict as
// handoff's own.
var (
	pageStyle  = template.CSS(pagestyle.CSS) // compiled in, never input
	consentCSP = "default-src 'none'; style-src '" + pagestyle.Hash +
		"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

// New returns a Provider.
func New(opts Options) *Provider {
	if !opts.AcceptPost && !opts.AcceptBasic {
		opts.AcceptPost, opts.AcceptBasic = true, true
	}
	if opts.CodeTTL <= 0 {
		opts.CodeTTL = time.Minute
	}
	p := &Provider{
		opts:    opts,
		mux:     http.NewServeMux(),
		codes:   map[string]grant{},
		refresh: map[string]grant{},
		access:  map[string]grant{},
		swept:   map[*map[string]grant]time.Time{},
	}
	p.mux.HandleFunc("GET "+opts.Prefix+"/authorize", p.authorize)
	p.mux.HandleFunc("POST "+opts.Prefix+"/authorize", p.decide)
	p.mux.HandleFunc("POST "+opts.Prefix+"/token", p.token)
	p.mux.HandleFunc("POST "+opts.Prefix+"/revoke", p.revoke)
	p.mux.HandleFunc("GET "+opts.Prefix+"/userinfo", p.userinfo)
	return p
}

func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.mux.ServeHTTP(w, r) }

// TokenRequests counts requests to the token endpoint, so tests can assert
// that a refused state never reached the provider.
func (p *Provider) TokenRequests() int64 { return p.requests.Load() }

// RevokeRequests counts requests to the revocation endpoint.
func (p *Provider) RevokeRequests() int64 { return p.revokes.Load() }

// SetTokenHook makes hook see each token request (its form parsed) before
// the provider does: it answers and returns true (a fault a test plays),
// or returns false to let the grant run. nil removes it.
func (p *Provider) SetTokenHook(hook func(w http.ResponseWriter, r *http.Request) bool) {
	if hook == nil {
		p.tokenHook.Store(nil)
		return
	}
	p.tokenHook.Store(&hook)
}

func (p *Provider) observe(kind, value, code string) {
	if p.opts.Observe != nil && value != "" {
		p.opts.Observe(Event{Kind: kind, Value: value, Code: code})
	}
}

// authorize checks the client's request and shows the consent page (or, with
// AutoApprove, approves at once).
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if msg := p.checkAuthorize(q); msg != "" {
		refuse(w, http.StatusBadRequest, msg)
		return
	}
	if unknown := p.unknownScope(q.Get("scope")); unknown != "" {
		// The client is known and its redirect URI registered: the error
		// goes back to it, as RFC 6749 §4.1.2.1 says.
		p.back(w, r, q.Get("redirect_uri"), url.Values{
			"error":             {"invalid_scope"},
			"error_description": {"unknown scope: " + unknown},
			"state":             {q.Get("state")},
		})
		return
	}
	if p.opts.AutoApprove {
		p.approve(w, r, q, "demo-user")
		return
	}
	setPageHeaders(w)
	consentPage.Execute(w, map[string]any{
		"Style":  pageStyle,
		"Action": p.opts.Prefix + "/authorize",
		"Fields": map[string]string{
			"client_id":             q.Get("client_id"),
			"redirect_uri":          q.Get("redirect_uri"),
			"state":                 q.Get("state"),
			"scope":                 q.Get("scope"),
			"code_challenge":        q.Get("code_challenge"),
			"code_challenge_method": q.Get("code_challenge_method"),
			"response_type":         q.Get("response_type"),
		},
		"Scopes": strings.Fields(q.Get("scope")),
	})
}

// unknownScope returns a scope the provider does not know, or "".
func (p *Provider) unknownScope(scope string) string {
	if len(p.opts.Scopes) == 0 {
		return ""
	}
	for _, s := range strings.Fields(scope) {
		if !slices.Contains(p.opts.Scopes, s) {
			return s
		}
	}
	return ""
}

func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", consentCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
}

// refuse answers a request the mock provider will not serve with an error
// page in the consent page's style, saying why ("mock provider: …").
func refuse(w http.ResponseWriter, status int, msg string) {
	setPageHeaders(w)
	w.WriteHeader(status)
	consentPage.Execute(w, map[string]any{"Style": pageStyle, "Error": msg})
}

// decide handles the consent form.
func (p *Provider) decide(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		refuse(w, http.StatusBadRequest, "bad form")
		return
	}
	q := r.PostForm
	if msg := p.checkAuthorize(q); msg != "" {
		refuse(w, http.StatusBadRequest, msg)
		return
	}
	if unknown := p.unknownScope(q.Get("scope")); unknown != "" {
		http.Error(w, "mock provider: unknown scope", http.StatusBadRequest)
		return
	}
	if q.Get("decision") != "approve" {
		p.back(w, r, q.Get("redirect_uri"), url.Values{
			"error":             {"access_denied"},
			"error_description": {"The user denied the request."},
			"state":             {q.Get("state")},
		})
		return
	}
	user := q.Get("username")
	if user == "" {
		user = "demo-user"
	}
	p.approve(w, r, q, user)
}

func (p *Provider) checkAuthorize(q url.Values) string {
	switch {
	case q.Get("client_id") != p.opts.ClientID:
		return "unknown client_id"
	case q.Get("response_type") != "code":
		return "response_type must be code"
	case !p.registered(q.Get("redirect_uri")):
		return "redirect_uri is not registered"
	case q.Get("code_challenge") != "" && q.Get("code_challenge_method") != "S256":
		return "only S256 code challenges are supported"
	case p.opts.RequirePKCE && q.Get("code_challenge") == "":
		return "PKCE is required"
	}
	return ""
}

func (p *Provider) registered(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil || !u.IsAbs() {
		return false
	}
	if len(p.opts.RedirectURIs) == 0 {
		return true
	}
	for _, r := range p.opts.RedirectURIs {
		if r == uri {
			return true
		}
	}
	return false
}

func (p *Provider) approve(w http.ResponseWriter, r *http.Request, q url.Values, user string) {
	code := randomToken("code")
	p.mu.Lock()
	full := !p.put(&p.codes, code, grant{
		id:          randomToken("grant"),
		user:        user,
		scope:       q.Get("scope"),
		redirectURI: q.Get("redirect_uri"),
		challenge:   q.Get("code_challenge"),
		expires:     time.Now().Add(p.opts.CodeTTL),
	})
	if !full {
		p.observe("code", code, "")
	}
	p.mu.Unlock()
	if full {
		refuse(w, http.StatusServiceUnavailable, "too many pending codes")
		return
	}
	p.back(w, r, q.Get("redirect_uri"), url.Values{"code": {code}, "state": {q.Get("state")}})
}

// put stores g under key, first dropping expired entries when the map is
// full; it reports false when there is still no room. A full map is swept at
// most once a second: under load (the benchmark) a map full of live entries
// would otherwise be scanned on every put. p.mu must be held.
func (p *Provider) put(mp *map[string]grant, key string, g grant) bool {
	m := *mp
	if len(m) >= maxGrants {
		now := time.Now()
		if now.Sub(p.swept[mp]) < time.Second {
			return false
		}
		p.swept[mp] = now
		for k, v := range m {
			if now.After(v.expires) {
				delete(m, k)
			}
		}
		if len(m) >= maxGrants {
			return false
		}
	}
	m[key] = g
	return true
}

func (p *Provider) back(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values) {
	u, _ := url.Parse(redirectURI) // checked by checkAuthorize
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if p.opts.Issuer != "" {
		q.Set("iss", p.opts.Issuer)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// token implements the authorization_code and refresh_token grants.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		p.oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be form-encoded")
		return
	}
	f := r.PostForm
	if v := f.Get("code_verifier"); v != "" && p.opts.Observe != nil {
		p.mu.Lock()
		p.observe("code_verifier", v, "")
		p.mu.Unlock()
	}
	if hook := p.tokenHook.Load(); hook != nil && (*hook)(w, r) {
		return
	}
	if !p.authenticated(r, f) {
		w.Header().Set("WWW-Authenticate", `Basic realm="mock"`)
		p.oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	switch f.Get("grant_type") {
	case "authorization_code":
		code := f.Get("code")
		g, ok := p.codes[code]
		delete(p.codes, code) // single use, even when the request fails
		switch {
		case !ok || now.After(g.expires):
			p.oauthError(w, http.StatusBadRequest, "invalid_grant", "the code is invalid, expired or used")
		case f.Get("redirect_uri") != g.redirectURI:
			p.oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match")
		case g.challenge != "" && !verifierMatches(f.Get("code_verifier"), g.challenge):
			p.oauthError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		case g.challenge == "" && f.Get("code_verifier") != "":
			p.oauthError(w, http.StatusBadRequest, "invalid_grant", "code_verifier without code_challenge")
		default:
			p.issue(w, g, true, code)
		}
	case "refresh_token":
		rt := f.Get("refresh_token")
		g, ok := p.refresh[rt]
		if !ok {
			p.oauthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token is invalid")
			return
		}
		if p.opts.RotateRefreshTokens {
			delete(p.refresh, rt)
		}
		p.issue(w, g, p.opts.RotateRefreshTokens, "")
	default:
		p.oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "unsupported grant_type")
	}
}

// revoke implements RFC 7009: any token of a grant revokes the whole grant
// (its access and refresh tokens), and an unknown token is no error.
func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	p.revokes.Add(1)
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		p.oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be form-encoded")
		return
	}
	f := r.PostForm
	if !p.authenticated(r, f) {
		w.Header().Set("WWW-Authenticate", `Basic realm="mock"`)
		p.oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	token := f.Get("token")
	if token == "" {
		p.oauthError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	p.mu.Lock()
	g, ok := p.refresh[token]
	if !ok {
		g, ok = p.access[token]
	}
	if ok {
		for _, m := range []map[string]grant{p.refresh, p.access} {
			for k, v := range m {
				if v.id == g.id {
					delete(m, k)
				}
			}
		}
	}
	p.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

func (p *Provider) authenticated(r *http.Request, f url.Values) bool {
	id, secret, basic := r.BasicAuth()
	if basic {
		if !p.opts.AcceptBasic || f.Has("client_secret") {
			return false
		}
		// RFC 6749 §2.3.1: both parts are form-encoded before Basic.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return false
		}
	} else {
		if !p.opts.AcceptPost {
			return false
		}
		id, secret = f.Get("client_id"), f.Get("client_secret")
	}
	return id == p.opts.ClientID &&
		subtle.ConstantTimeCompare([]byte(secret), []byte(p.opts.ClientSecret)) == 1
}

func verifierMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:]) == challenge
}

// issue writes a token response for g (a grant of code, when it was
// exchanged). p.mu must be held.
func (p *Provider) issue(w http.ResponseWriter, g grant, withRefresh bool, code string) {
	g.expires = time.Now().Add(time.Hour)
	access := randomToken("at")
	p.observe("access_token", access, code)
	fields := [][2]string{
		{"access_token", access},
		{"token_type", "Bearer"},
		{"expires_in", "3600"},
	}
	p.put(&p.access, access, g)
	if withRefresh {
		rt := randomToken("rt")
		g.expires = time.Now().Add(24 * time.Hour)
		if p.put(&p.refresh, rt, g) {
			fields = append(fields, [2]string{"refresh_token", rt})
			p.observe("refresh_token", rt, code)
		}
	}
	if g.scope != "" {
		fields = append(fields, [2]string{"scope", g.scope})
	}
	w.Header().Set("Cache-Control", "no-store")
	if p.opts.FormResponse {
		v := url.Values{}
		for _, f := range fields {
			v.Set(f[0], f[1])
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		w.Write([]byte(v.Encode()))
		return
	}
	m := map[string]any{}
	for _, f := range fields {
		if n, err := strconv.Atoi(f[1]); err == nil && f[0] == "expires_in" {
			m[f[0]] = n
		} else {
			m[f[0]] = f[1]
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(m)
}

func (p *Provider) oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// userinfo answers for a valid access token, so a client can prove the
// token it received works.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	const prefix = "Bearer "
	auth := r.Header.Get("Authorization")
	if len(auth) <= len(prefix) || auth[:len(prefix)] != prefix {
		p.oauthError(w, http.StatusUnauthorized, "invalid_token", "missing bearer token")
		return
	}
	p.mu.Lock()
	g, ok := p.access[auth[len(prefix):]]
	p.mu.Unlock()
	if !ok || time.Now().After(g.expires) {
		p.oauthError(w, http.StatusUnauthorized, "invalid_token", "unknown or expired token")
		return
	}
	claims := map[string]string{"sub": g.user, "name": g.user}
	if slices.Contains(strings.Fields(g.scope), "email") {
		claims["email"] = g.user + "@example.test"
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(claims)
}

func randomToken(prefix string) string {
	var b [24]byte
	rand.Read(b[:])
	return prefix + "_" + base64.RawURLEncoding.EncodeToString(b[:])
}
