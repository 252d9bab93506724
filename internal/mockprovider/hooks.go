package mockprovider

import (
	"net/http"
	"sync/atomic"
)

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

// Hook sees a request to the token or revocation endpoint, its form
// parsed, before the provider does: it answers and returns true (a fault a
// test plays), or returns false to let the provider answer.
type Hook func(w http.ResponseWriter, r *http.Request) bool

// SetTokenHook makes hook see each token request first. nil removes it.
func (p *Provider) SetTokenHook(hook Hook) { setHook(&p.tokenHook, hook) }

// SetRevokeHook makes hook see each revocation request first. nil removes
// it.
func (p *Provider) SetRevokeHook(hook Hook) { setHook(&p.revokeHook, hook) }

func setHook(slot *atomic.Pointer[Hook], hook Hook) {
	if hook == nil {
		slot.Store(nil)
		return
	}
	slot.Store(&hook)
}

func (p *Provider) observe(kind, value, code string) {
	if p.opts.Observe != nil && value != "" {
		p.opts.Observe(Event{Kind: kind, Value: value, Code: code})
	}
}
