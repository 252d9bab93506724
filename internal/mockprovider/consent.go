package mockprovider

import (
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"handoff/internal/pagestyle"
)

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
