// Package mockprovider is a small OAuth 2.0 authorization server for handoff's
// demo mode, tests and benchmarks. It is strict where a real provider is
// (client authentication, redirect URI, single-use codes that expire, PKCE
// S256) so that a broker that sends the wrong request fails against it. It is
// never a real identity provider: it signs nobody in and says so on its page.
package mockprovider

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
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
	// tokenHook and revokeHook, when set, see each token or revocation
	// request first (SetTokenHook, SetRevokeHook).
	tokenHook, revokeHook atomic.Pointer[Hook]
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

func randomToken(prefix string) string {
	var b [24]byte
	rand.Read(b[:])
	return prefix + "_" + base64.RawURLEncoding.EncodeToString(b[:])
}
