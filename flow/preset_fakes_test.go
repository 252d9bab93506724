package flow

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The doc-faithful fakes of the presets' providers: the vocabulary a case
// (preset_cases_test.go) describes its provider in, and the fake that
// serves what the case says. The approach is described in
// preset_providers_test.go.

// credStyle is how a provider takes the client's credentials.
type credStyle int

const (
	credPost   credStyle = iota // in the body (client_secret_post)
	credBasic                   // HTTP Basic (client_secret_basic)
	credEither                  // the provider documents both
	credNone                    // none needed (Google's and Salesforce's revocation)
)

// fakeBody is the token request body a provider takes.
type fakeBody int

const (
	bodyForm fakeBody = iota
	bodyJSON
	bodyFormOrJSON // the provider documents both, or its docs are unclear
)

// refreshKind is what a provider's refresh does with refresh tokens.
type refreshKind int

const (
	refreshNone   refreshKind = iota // no refresh tokens at all
	refreshKeep                      // the answer has none; the old one stays valid
	refreshSame                      // the answer repeats the one sent
	refreshNew                       // a new one; the docs do not say the old one dies, so it stays valid
	refreshRotate                    // a new one, and the old one is refused from then on
)

// answerKind is the shape of a provider's success.
type answerKind int

const (
	answerRFC answerKind = iota
	answerGitHub
	answerSlackBot  // ok:true, the bot token at the top level
	answerSlackUser // ok:true, only user scopes: the tokens under authed_user
	answerSalesforce
	answerMailchimp
)

// refusalKind is the shape of a provider's refusal.
type refusalKind int

const (
	refuseRFC       refusalKind = iota // 4xx {"error", "error_description"}
	refuseGitHub                       // HTTP 200 {"error", "error_description", "error_uri"}
	refuseSlack                        // HTTP 200 {"ok": false, "error"}
	refuseFigma                        // 4xx {"error": true, "status", "message"}
	refuseTwitch                       // 4xx {"status", "message"}
	refuseZoom                         // 4xx {"reason", "error"}
	refusePinterest                    // 4xx {"code", "message"}
)

type fakeSpec struct {
	doc                      string // the documentation this fake follows
	authorizePath, tokenPath string
	refreshPaths             []string // besides tokenPath, where a refresh grant is taken
	revokePath               string   // the documented revocation endpoint, if any
	revokeCred               credStyle
	cred                     credStyle
	body                     fakeBody
	pkceRequired             bool // else a challenge is optional, and checked when sent
	params                   url.Values
	scopeSeps                string // the separators taken between scopes
	// The documented conditions for a refresh token: authorize parameters,
	// one of some scopes, code-exchange parameters.
	offline       url.Values
	offlineScopes []string
	offlineToken  url.Values
	refresh       refreshKind
	answer        answerKind
	tokensAt      string // where the login's tokens sit ("" = top level)
	redirectExtra url.Values
	refusal       refusalKind
	// The provider's own codes for a bad code and a bad refresh token
	// (invalid_grant when empty), the status of a refused refresh (400
	// when 0), and what handoff reports for both (invalid_grant when empty).
	badCode, badRefresh string
	refreshStatus       int
	want                string
}

// presetFake is the fake provider for one case.
type presetFake struct {
	spec fakeSpec
	srv  *httptest.Server

	mu       sync.Mutex
	codes    map[string]url.Values // code -> the authorize request's query
	refresh  map[string]bool       // valid refresh tokens
	n        int
	last     []byte // the last success answer, as sent
	refuse   string // when set, the next token request is refused with this code
	problems []string
}

const presetClientID, presetSecret = "preset client", "preset:secret+/%"

func newPresetFake(t *testing.T, spec fakeSpec) *presetFake {
	f := &presetFake{spec: spec, codes: map[string]url.Values{}, refresh: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *presetFake) problem(format string, args ...any) string {
	msg := fmt.Sprintf(format, args...)
	f.mu.Lock()
	f.problems = append(f.problems, msg)
	f.mu.Unlock()
	return msg
}

func (f *presetFake) problemList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.problems)
}

func (f *presetFake) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == f.spec.authorizePath:
		f.authorize(w, r)
	case r.Method == http.MethodPost && (r.URL.Path == f.spec.tokenPath || slices.Contains(f.spec.refreshPaths, r.URL.Path)):
		f.token(w, r)
	case f.spec.revokePath != "" && r.URL.Path == f.spec.revokePath:
		f.revoke(w, r)
	default:
		http.Error(w, f.problem("no such endpoint: %s %s", r.Method, r.URL.Path), http.StatusNotFound)
	}
}

// checks collects what is wrong with one request.
type checks []string

func (c *checks) check(ok bool, format string, args ...any) {
	if !ok {
		*c = append(*c, fmt.Sprintf(format, args...))
	}
}

func (f *presetFake) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var bad checks
	bad.check(q.Get("client_id") == presetClientID, "client_id %q", q.Get("client_id"))
	bad.check(q.Get("response_type") == "code", "response_type %q", q.Get("response_type"))
	bad.check(q.Get("redirect_uri") == testRedirectURI, "redirect_uri %q", q.Get("redirect_uri"))
	bad.check(q.Get("state") != "", "no state")
	for k := range f.spec.params {
		bad.check(q.Get(k) == f.spec.params.Get(k), "%s = %q, want %q", k, q.Get(k), f.spec.params.Get(k))
	}
	if s := q.Get("scope"); s != "" && strings.ContainsAny(s, " ,") {
		bad.check(f.spec.scopeSeps != "" && strings.ContainsAny(s, f.spec.scopeSeps) &&
			!strings.ContainsAny(s, strings.Trim(" ,", f.spec.scopeSeps)),
			"scope %q: the provider takes %q between scopes", s, f.spec.scopeSeps)
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	if f.spec.pkceRequired || challenge != "" {
		bad.check(len(challenge) == 43 && strings.EqualFold(method, "S256"),
			"PKCE: code_challenge %q method %q", challenge, method)
	}
	if len(bad) > 0 {
		http.Error(w, f.problem("authorize: %s", strings.Join(bad, "; ")), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.n++
	code := fmt.Sprintf("code-%d", f.n)
	f.codes[code] = q
	f.mu.Unlock()
	back := url.Values{"code": {code}, "state": {q.Get("state")}}
	for k, v := range f.spec.redirectExtra {
		back[k] = v
	}
	http.Redirect(w, r, testRedirectURI+"?"+back.Encode(), http.StatusFound)
}

// credentials checks the client's authentication in s by style.
func credentials(bad *checks, s seen, style credStyle) {
	basic := s.HasBasic && s.BasicUser == presetClientID && s.BasicPass == presetSecret
	body := s.Form.Get("client_id") == presetClientID && s.Form.Get("client_secret") == presetSecret
	switch style {
	case credPost:
		bad.check(body, "client_id and client_secret required in the body")
	case credBasic:
		bad.check(basic, "HTTP Basic credentials required (got basic=%v user %q)", s.HasBasic, s.BasicUser)
	case credEither:
		bad.check(basic || body, "client credentials required, as Basic or in the body")
	}
}

func (f *presetFake) token(w http.ResponseWriter, r *http.Request) {
	s := record(r)
	var bad checks
	ct := r.Header.Get("Content-Type")
	isJSON := ct == "application/json"
	switch f.spec.body {
	case bodyForm:
		bad.check(ct == "application/x-www-form-urlencoded", "Content-Type %q, want a form", ct)
	case bodyJSON:
		bad.check(isJSON, "Content-Type %q, want application/json", ct)
	case bodyFormOrJSON:
		bad.check(isJSON || ct == "application/x-www-form-urlencoded", "Content-Type %q", ct)
	}
	if isJSON {
		var m map[string]any
		bad.check(json.Unmarshal(s.Body, &m) == nil, "body is not a JSON object: %q", s.Body)
	}
	// handoff's own rule (docs/protocol.md#talking-to-the-provider), not the
	// provider's: nothing in the URL of a token request.
	bad.check(r.URL.RawQuery == "", "query %q on a token request", r.URL.RawQuery)
	credentials(&bad, s, f.spec.cred)

	f.mu.Lock()
	refuse := f.refuse
	f.refuse = ""
	f.mu.Unlock()
	grant := s.Form.Get("grant_type")
	switch {
	case grant == "authorization_code" && r.URL.Path == f.spec.tokenPath:
		code := s.Form.Get("code")
		f.mu.Lock()
		aq, ok := f.codes[code]
		delete(f.codes, code)
		f.mu.Unlock()
		if !ok {
			f.refuseWith(w, or(f.spec.badCode, "invalid_grant"), http.StatusBadRequest, "the code is invalid or expired")
			return
		}
		bad.check(s.Form.Get("redirect_uri") == aq.Get("redirect_uri"), "redirect_uri %q", s.Form.Get("redirect_uri"))
		if aq.Has("code_challenge") {
			sum := sha256.Sum256([]byte(s.Form.Get("code_verifier")))
			bad.check(base64.RawURLEncoding.EncodeToString(sum[:]) == aq.Get("code_challenge"), "code_verifier does not match")
		}
		if f.refused(w, "token", bad, refuse) {
			return
		}
		f.answerLogin(w, r, aq, s.Form)
	case grant == "refresh_token":
		rt := s.Form.Get("refresh_token")
		f.mu.Lock()
		ok := f.refresh[rt]
		if ok && f.spec.refresh == refreshRotate {
			delete(f.refresh, rt)
		}
		f.mu.Unlock()
		if !ok {
			f.refuseWith(w, or(f.spec.badRefresh, "invalid_grant"), or(f.spec.refreshStatus, http.StatusBadRequest), "the refresh token is invalid")
			return
		}
		bad.check(!s.Form.Has("code") && !s.Form.Has("code_verifier"), "code or verifier in a refresh")
		if f.refused(w, "refresh", bad, refuse) {
			return
		}
		f.answerRefresh(w, r, rt)
	default:
		f.refuseWith(w, "unsupported_grant_type", http.StatusBadRequest, f.problem("grant_type %q at %s", grant, r.URL.Path))
	}
}

// refused answers a request the fake found fault with (a problem the test
// then reports) or one the test asked it to refuse, and says whether it did.
func (f *presetFake) refused(w http.ResponseWriter, grant string, bad checks, refuse string) bool {
	switch {
	case len(bad) > 0:
		f.refuseWith(w, "invalid_request", http.StatusBadRequest, f.problem("%s: %s", grant, strings.Join(bad, "; ")))
	case refuse != "":
		f.refuseWith(w, refuse, http.StatusBadRequest, "refused as the test asked")
	default:
		return false
	}
	return true
}

func or[T comparable](v, fallback T) T {
	var zero T
	if v == zero {
		return fallback
	}
	return v
}

// offline reports whether the login asked for what the provider documents
// as the condition of a refresh token.
func (f *presetFake) offline(aq, exchange url.Values) bool {
	if f.spec.refresh == refreshNone {
		return false
	}
	for k := range f.spec.offline {
		if aq.Get(k) != f.spec.offline.Get(k) {
			return false
		}
	}
	for k := range f.spec.offlineToken {
		if exchange.Get(k) != f.spec.offlineToken.Get(k) {
			return false
		}
	}
	if len(f.spec.offlineScopes) > 0 {
		scopes := strings.FieldsFunc(aq.Get("scope"), func(r rune) bool { return r == ' ' || r == ',' })
		return slices.ContainsFunc(f.spec.offlineScopes, func(s string) bool { return slices.Contains(scopes, s) })
	}
	return true
}

func (f *presetFake) newToken(prefix string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return fmt.Sprintf("%s-%d", prefix, f.n)
}

func (f *presetFake) keep(rt string) {
	f.mu.Lock()
	f.refresh[rt] = true
	f.mu.Unlock()
}

// jsonString is s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (f *presetFake) answerLogin(w http.ResponseWriter, r *http.Request, aq, exchange url.Values) {
	at, rt := f.newToken("at"), ""
	if f.offline(aq, exchange) {
		rt = f.newToken("rt")
		f.keep(rt)
	}
	withRT := func(prefix string) string { // ,"refresh_token":… or nothing
		if rt == "" {
			return ""
		}
		return prefix + `"refresh_token":` + jsonString(rt)
	}
	var body string
	switch f.spec.answer {
	case answerGitHub:
		if rt != "" { // a GitHub App with expiring user tokens
			body = `{"access_token":"` + at + `","expires_in":28800` + withRT(",") + `,"refresh_token_expires_in":15897600,"scope":"","token_type":"bearer"}`
		} else {
			body = `{"access_token":"` + at + `","scope":"repo,read:user","token_type":"bearer"}`
		}
		if !strings.Contains(r.Header.Get("Accept"), "application/json") { // GitHub's default is a form
			var m map[string]any
			json.Unmarshal([]byte(body), &m)
			v := url.Values{}
			for k, x := range m {
				v.Set(k, fmt.Sprint(x))
			}
			f.send(w, "application/x-www-form-urlencoded; charset=utf-8", http.StatusOK, v.Encode())
			return
		}
	case answerSlackBot:
		body = `{"ok":true,"access_token":"xoxb-` + at + `","token_type":"bot","scope":"channels:read,chat:write","bot_user_id":"U0B","app_id":"A1",` +
			`"team":{"id":"T1","name":"Team"},"enterprise":null,"authed_user":{"id":"U1"},"is_enterprise_install":false,"expires_in":43200` + withRT(",") + `}`
	case answerSlackUser:
		body = `{"ok":true,"app_id":"A1","authed_user":{"id":"U1","scope":"search:read","access_token":"xoxp-` + at + `","token_type":"user","expires_in":43200` +
			withRT(",") + `},"team":{"id":"T1","name":"Team"},"enterprise":null,"is_enterprise_install":false}`
	case answerSalesforce: // no expires_in; instance_url is where the API is
		body = `{"access_token":"` + at + `"` + withRT(",") + `,"signature":"c2ln","scope":"api refresh_token","instance_url":"https://handoff-test.my.salesforce.com",` +
			`"id":"https://login.salesforce.com/id/00D/005","token_type":"Bearer","issued_at":"1700000000000"}`
	case answerMailchimp: // never expires: expires_in 0, no scopes
		body = `{"access_token":"` + at + `","expires_in":0,"scope":null}`
	default:
		body = `{"access_token":"` + at + `","token_type":"bearer","expires_in":3599` + withRT(",") + `}`
	}
	f.send(w, "application/json; charset=utf-8", http.StatusOK, body)
}

func (f *presetFake) answerRefresh(w http.ResponseWriter, _ *http.Request, sent string) {
	at := f.newToken("at")
	rt := ""
	switch f.spec.refresh {
	case refreshSame:
		rt = sent
	case refreshNew, refreshRotate:
		rt = f.newToken("rt")
		f.keep(rt)
	}
	withRT := ""
	if rt != "" {
		withRT = `,"refresh_token":` + jsonString(rt)
	}
	var body string
	switch f.spec.answer {
	case answerSlackBot, answerSlackUser: // the refreshed token at the top level, bot or user
		kind := map[answerKind]string{answerSlackBot: "bot", answerSlackUser: "user"}[f.spec.answer]
		body = `{"ok":true,"app_id":"A1","access_token":"xoxe.xox-` + at + `","expires_in":43200` + withRT +
			`,"token_type":"` + kind + `","team":{"id":"T1","name":"Team"},"enterprise":null,"is_enterprise_install":false}`
	case answerGitHub:
		body = `{"access_token":"` + at + `","expires_in":28800` + withRT + `,"refresh_token_expires_in":15897600,"scope":"","token_type":"bearer"}`
	case answerSalesforce:
		body = `{"access_token":"` + at + `","signature":"c2ln","scope":"api refresh_token","instance_url":"https://handoff-test.my.salesforce.com",` +
			`"id":"https://login.salesforce.com/id/00D/005","token_type":"Bearer","issued_at":"1700000000001"}`
	default:
		body = `{"access_token":"` + at + `","token_type":"bearer","expires_in":3599` + withRT + `}`
	}
	f.send(w, "application/json", http.StatusOK, body)
}

func (f *presetFake) send(w http.ResponseWriter, contentType string, status int, body string) {
	if status == http.StatusOK {
		f.mu.Lock()
		f.last = []byte(body)
		f.mu.Unlock()
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// refuseWith writes a refusal in the provider's shape.
func (f *presetFake) refuseWith(w http.ResponseWriter, code string, status int, desc string) {
	var body string
	switch f.spec.refusal {
	case refuseGitHub:
		status = http.StatusOK
		body = `{"error":` + jsonString(code) + `,"error_description":` + jsonString(desc) +
			`,"error_uri":"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"}`
	case refuseSlack:
		status = http.StatusOK
		body = `{"ok":false,"error":` + jsonString(code) + `}`
	case refuseFigma:
		body = fmt.Sprintf(`{"error":true,"status":%d,"message":%s,"i18n":null}`, status, jsonString(desc))
	case refuseTwitch:
		body = fmt.Sprintf(`{"status":%d,"message":%s}`, status, jsonString(desc))
	case refuseZoom:
		body = `{"reason":` + jsonString(desc) + `,"error":` + jsonString(code) + `}`
	case refusePinterest:
		body = `{"code":1,"message":` + jsonString(desc) + `}`
	default:
		body = `{"error":` + jsonString(code) + `,"error_description":` + jsonString(desc) + `}`
	}
	f.send(w, "application/json", status, body)
}

// revoke is the provider's documented revocation endpoint, ready for the
// /revoke mechanism's test below.
func (f *presetFake) revoke(w http.ResponseWriter, r *http.Request) {
	s := record(r)
	var bad checks
	github := strings.HasPrefix(f.spec.revokePath, "/applications/")
	switch {
	case github:
		// GitHub's REST API takes plain HTTP Basic credentials, not the
		// form-encoded ones of RFC 6749 §2.3.1.
		id, secret, ok := r.BasicAuth()
		bad.check(ok && id == presetClientID && secret == presetSecret, "REST API Basic credentials required (got %v %q)", ok, id)
	case f.spec.revokeCred != credNone:
		credentials(&bad, s, f.spec.revokeCred)
	}
	if github { // DELETE, JSON {"access_token"}
		bad.check(r.Method == http.MethodDelete, "method %s, want DELETE", r.Method)
		bad.check(s.Form.Get("access_token") != "", "no access_token in the JSON body")
	} else {
		bad.check(r.Method == http.MethodPost, "method %s, want POST", r.Method)
		bad.check(s.Form.Get("token") != "", "no token")
	}
	if len(bad) > 0 {
		f.refuseWith(w, "invalid_request", http.StatusBadRequest, f.problem("revoke: %s", strings.Join(bad, "; ")))
		return
	}
	w.WriteHeader(http.StatusOK)
}
