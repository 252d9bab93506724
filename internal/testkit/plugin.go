package testkit

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Response is one answer, read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// ErrorCode is the code of a JSON error body, or "".
func (r Response) ErrorCode() string { return ErrorCode(r.Body) }

// Outcome is the data-outcome of a handoff page, or "".
func (r Response) Outcome() string { return Outcome(r.Body) }

// JSON decodes a JSON object body.
func (r Response) JSON() (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil || m == nil {
		return nil, fmt.Errorf("not a JSON object (HTTP %d): %.200q", r.Status, r.Body)
	}
	return m, nil
}

func (r Response) String() string { return fmt.Sprintf("%d %.300s", r.Status, r.Body) }

// NoRedirects is a client that never follows redirects, so that each hop of
// a login is a step the test sees.
var NoRedirects = &http.Client{
	Timeout: 30 * time.Second,
	Transport: &http.Transport{
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Plugin talks to handoff as a Framer plugin written for
// framer/plugin-oauth does: it knows a base URL and appends
// /authorize, /poll?readKey= and /refresh?code= to it, with POSTs from its
// Origin that stay CORS simple requests: body-less, or with a login's
// choices in a form body (AuthorizeWith). It also plays the user's browser:
// it opens the login URL at the provider, goes through the provider's
// consent (as Username on internal/mockprovider's consent page), and
// follows the provider back to handoff's redirect route.
//
// Its methods return errors rather than failing a test, so goroutines may
// use them; Login is the whole journey for a test's own goroutine.
type Plugin struct {
	Base   string
	Origin string       // sent on the plugin's requests; "" sends none
	Client *http.Client // nil: NoRedirects
	// Secrets, when set, collects the read keys, states, codes and tokens
	// the plugin sees, to be looked for in logs and pages.
	Secrets *Secrets
	// PollEvery is PollUntilDone's pause between polls; 0 is 150 ms.
	PollEvery time.Duration
	// Header, when set, is added to every request (a test's own marks).
	Header http.Header
	// Username is the user name Consent gives on internal/mockprovider's
	// consent page; "" gives none (the mock then says demo-user).
	Username string
}

// Login is one started login as the plugin knows it.
type Login struct {
	URL     string // the provider's authorize URL
	ReadKey string
	State   string   // the state in URL
	Answer  Response // /authorize's answer
}

func (p *Plugin) client() *http.Client {
	if p.Client != nil {
		return p.Client
	}
	return NoRedirects
}

// Do sends one request and reads the whole answer. A "Host" entry in
// p.Header or header is the request's Host (the header Go's client sends
// instead of the URL's host), as it is on the wire.
func (p *Plugin) Do(method, target string, header http.Header, body io.Reader) (Response, error) {
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return Response{}, err
	}
	for _, h := range []http.Header{p.Header, header} {
		for k, vs := range h {
			if http.CanonicalHeaderKey(k) == "Host" {
				if len(vs) > 0 {
					req.Host = vs[0]
				}
				continue
			}
			req.Header[k] = vs
		}
	}
	res, err := p.client().Do(req)
	if err != nil {
		return Response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: reading the answer: %w", method, req.URL.Path, err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}

// call is a request of the plugin's own: a POST from its Origin, body-less
// or with form, a form body (either way a CORS simple request).
func (p *Plugin) call(path string, form url.Values) (Response, error) {
	h := http.Header{}
	if p.Origin != "" {
		h.Set("Origin", p.Origin)
	}
	var body io.Reader
	if len(form) > 0 {
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		body = strings.NewReader(form.Encode())
	}
	return p.Do(http.MethodPost, p.Base+path, h, body)
}

// Authorize starts a login.
func (p *Plugin) Authorize() (Login, error) { return p.AuthorizeWith(nil) }

// AuthorizeWith starts a login with the plugin's choices for it (scope,
// prompt, login_hint, a preset's template variables:
// docs/protocol.md#authorize) in a form body; no choices send no body.
func (p *Plugin) AuthorizeWith(choices url.Values) (Login, error) {
	r, err := p.call("/authorize", choices)
	if err != nil {
		return Login{}, err
	}
	if r.Status != http.StatusOK {
		return Login{}, fmt.Errorf("POST /authorize: %v", r)
	}
	var v struct {
		URL     string `json:"url"`
		ReadKey string `json:"readKey"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil || v.URL == "" || v.ReadKey == "" {
		return Login{}, fmt.Errorf("POST /authorize: no url or readKey: %v", r)
	}
	u, err := url.Parse(v.URL)
	if err != nil {
		return Login{}, fmt.Errorf("POST /authorize: url: %w", err)
	}
	l := Login{URL: v.URL, ReadKey: v.ReadKey, State: u.Query().Get("state"), Answer: r}
	p.Secrets.Add(l.ReadKey, l.State)
	return l, nil
}

// Poll polls once.
func (p *Plugin) Poll(readKey string) (Response, error) {
	r, err := p.call("/poll?readKey="+url.QueryEscape(readKey), nil)
	p.collectTokens(r)
	return r, err
}

// Refresh runs the refresh grant with the token in the query, as plugins
// written for the older backend send it (docs/protocol.md#refresh).
func (p *Plugin) Refresh(refreshToken string) (Response, error) {
	r, err := p.call("/refresh?code="+url.QueryEscape(refreshToken), nil)
	p.collectTokens(r)
	return r, err
}

// collectTokens adds the tokens of a 200 answer to the secrets.
func (p *Plugin) collectTokens(r Response) {
	if p.Secrets == nil || r.Status != http.StatusOK {
		return
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(r.Body, &tok) == nil {
		p.Secrets.Add(tok.AccessToken, tok.RefreshToken)
	}
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)

// Consent opens the login URL as the user's browser does and goes through
// the provider's consent: a provider that decides at once answers with its
// redirect; internal/mockprovider's consent page is submitted, approving or
// denying, with p.Username when set. It returns where the provider sends the
// browser back to.
func (p *Plugin) Consent(l Login, approve bool) (string, error) {
	r, err := p.Do(http.MethodGet, l.URL, nil, nil)
	if err != nil {
		return "", fmt.Errorf("provider authorize: %w", err)
	}
	if r.Status == http.StatusOK && strings.Contains(string(r.Body), `name="decision"`) {
		form := url.Values{"decision": {"deny"}}
		if approve {
			form.Set("decision", "approve")
		}
		if p.Username != "" {
			form.Set("username", p.Username)
		}
		for _, m := range hiddenInput.FindAllStringSubmatch(string(r.Body), -1) {
			form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		u, err := url.Parse(l.URL)
		if err != nil {
			return "", err
		}
		u.RawQuery = ""
		r, err = p.Do(http.MethodPost, u.String(), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			strings.NewReader(form.Encode()))
		if err != nil {
			return "", fmt.Errorf("provider consent: %w", err)
		}
	}
	if r.Status != http.StatusFound && r.Status != http.StatusSeeOther {
		return "", fmt.Errorf("provider authorize: %v", r)
	}
	back := r.Header.Get("Location")
	if u, err := url.Parse(back); err == nil {
		p.Secrets.Add(u.Query().Get("code"))
	}
	return back, nil
}

// Visit is the browser arriving at u (handoff's redirect route).
func (p *Plugin) Visit(u string) (Response, error) {
	return p.Do(http.MethodGet, u, nil, nil)
}

// PollUntilDone polls as Framer's plugins do until the answer is not 404
// authorization_pending (200 with the tokens, or 410: stop), for at most
// limit. Network errors and 5xx answers are retried a few times, as the
// example client does. It returns the last answer and how many polls it
// took.
func (p *Plugin) PollUntilDone(readKey string, limit time.Duration) (Response, int, error) {
	every := p.PollEvery
	if every == 0 {
		every = 150 * time.Millisecond
	}
	deadline := time.Now().Add(limit)
	polls, failures := 0, 0
	for {
		r, err := p.Poll(readKey)
		polls++
		switch {
		case err != nil || r.Status >= 500:
			if failures++; failures > 5 {
				return r, polls, fmt.Errorf("poll: %v %v", err, r)
			}
		case r.Status == http.StatusNotFound && r.ErrorCode() == "authorization_pending":
		default:
			return r, polls, nil
		}
		if time.Now().After(deadline) {
			return r, polls, errors.New("poll: still pending at the deadline")
		}
		time.Sleep(every)
	}
}

// Login runs the plugin's whole journey on the test's goroutine: authorize,
// a poll while the user logs in (404 pending), the consent, the provider's
// redirect to handoff (wantRedirect is where it must send the browser: the
// app's REDIRECT_URI), the poll that gets the tokens, and a last poll that
// must say they were already delivered. It returns the tokens.
func (p *Plugin) Login(t TB, wantRedirect string) map[string]any {
	t.Helper()
	l, err := p.Authorize()
	if err != nil {
		t.Fatal(err)
	}
	if r, err := p.Poll(l.ReadKey); err != nil || r.Status != http.StatusNotFound || r.ErrorCode() != "authorization_pending" {
		t.Fatalf("poll before the login: %v %v", r, err)
	}
	back, err := p.Consent(l, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(back, wantRedirect+"?") {
		t.Fatalf("the provider sent the browser to %q, want %s?…", back, wantRedirect)
	}
	if page, err := p.Visit(back); err != nil || page.Status != http.StatusOK || page.Outcome() != "authenticated" {
		t.Fatalf("redirect page: %v %v", page, err)
	}
	r, err := p.Poll(l.ReadKey)
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("poll after the login: %v %v", r, err)
	}
	tokens, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if again, err := p.Poll(l.ReadKey); err != nil || again.Status != http.StatusGone || again.ErrorCode() != "already_delivered" {
		t.Fatalf("second poll: %v %v", again, err)
	}
	return tokens
}

// TB is the part of testing.TB that Login uses.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}
