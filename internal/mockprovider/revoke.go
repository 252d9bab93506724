package mockprovider

import "net/http"

// revoke implements RFC 7009: any token of a grant revokes the whole grant
// (its access and refresh tokens), and an unknown token is no error.
func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	p.revokes.Add(1)
	f, ok := p.clientRequest(w, r, &p.revokeHook)
	if !ok {
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
