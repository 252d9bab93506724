package mockprovider

import "net/http"

// Event is one secret the provider issued or received.
type Event struct {
	Kind  string // "code", "access_token", "refresh_token" or "code_verifier"
	Value string
	// Code is, for tokens issued for a code, that code.
	Code string
}

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
