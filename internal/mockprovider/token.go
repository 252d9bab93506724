package mockprovider

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// token implements the authorization_code and refresh_token grants.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	f, ok := p.clientRequest(w, r, &p.tokenHook)
	if !ok {
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

// clientRequest reads a client's request to the token or revocation
// endpoint: its form (64 KiB at most; a code_verifier in it is observed),
// then hook's turn (a fault a test plays), then the client's
// authentication. It reports false when it has answered the request.
func (p *Provider) clientRequest(w http.ResponseWriter, r *http.Request, hook *atomic.Pointer[Hook]) (url.Values, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		p.oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be form-encoded")
		return nil, false
	}
	f := r.PostForm
	if v := f.Get("code_verifier"); v != "" && p.opts.Observe != nil {
		p.mu.Lock()
		p.observe("code_verifier", v, "")
		p.mu.Unlock()
	}
	if h := hook.Load(); h != nil && (*h)(w, r) {
		return nil, false
	}
	if !p.authenticated(r, f) {
		w.Header().Set("WWW-Authenticate", `Basic realm="mock"`)
		p.oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return nil, false
	}
	return f, true
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
