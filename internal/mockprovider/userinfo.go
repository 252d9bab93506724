package mockprovider

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

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
