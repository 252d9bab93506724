package flow

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"handoff/crypto"
)

// Fuzz targets for everything that reads what others send: provider
// answers, and the state and read key that come back from browsers and
// plugins. Run one with, e.g.,
//
//	go test ./flow -run '^$' -fuzz '^FuzzParseTokenResponse$' -fuzztime 20s

func isJSONObject(b []byte) bool {
	t := bytes.TrimSpace(b)
	if len(t) == 0 || t[0] != '{' || !json.Valid(b) {
		return false
	}
	var m map[string]json.RawMessage
	return json.Unmarshal(b, &m) == nil
}

// fuzzShape is a preset's view of answers: an error map and tokens below
// the top level, so the fuzzer also reaches the rewriting of refusals.
var fuzzShape = answerShape{tokensAt: "authed_user", errorCodes: map[string]string{"bad": "invalid_grant", "invalid_code": "invalid_grant"}}

func FuzzParseTokenResponse(f *testing.F) {
	seeds := []struct {
		status int
		ct     string
		body   string
	}{
		{200, "application/json", `{"access_token":"a","token_type":"bearer","expires_in":3600}`},
		{200, "application/x-www-form-urlencoded", "access_token=a&expires_in=3600&scope=a%2Cb"},
		{200, "text/plain", "access_token=a&expires_in=3600"},
		{200, "application/json", `{"ok":false,"error":"invalid_code"}`},
		{200, "application/json", `{"ok":true,"authed_user":{"access_token":"xoxp"}}`},
		{200, "application/json", `{"error":{"code":1}}`},
		{400, "application/json", `{"error":"invalid_grant","error_description":"x"}`},
		{401, "text/html", "<h1>no</h1>"},
		{500, "", ""},
		{302, "application/json", `{"access_token":"a"}`},
		{200, "application/json", `{"ok":"yes","access_token":"a"}`},
		{200, "application/x-www-form-urlencoded", "error=bad&error_description=%FF"},
		{-1, "application/x-www-form-urlencoded; charset", "=&="},
	}
	for _, s := range seeds {
		f.Add(s.status, s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, contentType string, raw []byte) {
		out, err := fuzzShape.parseTokenResponse(status, contentType, raw)
		if err == nil {
			if !isJSONObject(out) {
				t.Fatalf("success with %q, not a JSON object", out)
			}
			if status < 200 || status > 299 {
				t.Fatalf("success for HTTP %d", status)
			}
			if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) && !bytes.Equal(out, raw) {
				t.Fatalf("JSON answer re-encoded: %q -> %q", raw, out)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v is not a *flow.Error", err)
		}
		if e.Kind != KindProviderRejected && e.Kind != KindProviderFailed {
			t.Fatalf("kind %d", e.Kind)
		}
		if !ValidErrorCode(e.Code) {
			t.Fatalf("code %q unfit to pass on", e.Code)
		}
		if !utf8.ValidString(e.Description) || len(e.Description) > 310 {
			t.Fatalf("description %q", e.Description)
		}
		if e.Body != nil && !isJSONObject(e.Body) {
			t.Fatalf("Body %q is not a JSON object", e.Body)
		}
	})
}

func FuzzFormToJSON(f *testing.F) {
	for _, s := range []string{
		"access_token=a&expires_in=3600",
		"a=1&a=2&b_in=0&c_in=00&d_in=123456789012345",
		"%zz=1", "=x", "a", "&&&", "a=%C3%28", "k=v+w&x_in=-1", "x=%22%5C%00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, ok := formToJSON(s)
		if !ok {
			return
		}
		if !isJSONObject(out) {
			t.Fatalf("formToJSON(%q) = %q, not a JSON object", s, out)
		}
		// Every member is the form's first value for that key.
		q, err := url.ParseQuery(s)
		if err != nil {
			// url.ParseQuery refuses semicolons (a URL-smuggling guard);
			// in a provider's answer they are just characters of a key.
			if !strings.Contains(s, ";") {
				t.Fatalf("formToJSON accepted %q, which url.ParseQuery refuses: %v", s, err)
			}
			return
		}
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(out))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		if len(m) != len(q) {
			t.Fatalf("formToJSON(%q) = %q: %d members for %d keys", s, out, len(m), len(q))
		}
		for k, v := range m {
			want := q.Get(k)
			switch v := v.(type) {
			case string:
				if v != want {
					t.Fatalf("%q: member %q = %q, want %q", s, k, v, want)
				}
			case json.Number:
				if !strings.HasSuffix(k, "_in") || string(v) != want {
					t.Fatalf("%q: member %q = number %s, form value %q", s, k, v, want)
				}
			default:
				t.Fatalf("%q: member %q is %T", s, k, v)
			}
		}
	})
}

func FuzzWithRefreshToken(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, ` { "refresh_token" : "x" } `, `{"a":"}"}`, "{\n}\n", `[]`, `{"a":{}}`, `x`} {
		f.Add([]byte(s), "rt")
	}
	f.Add([]byte(`{"access_token":"a"}`), "\xff\"\\")
	f.Fuzz(func(t *testing.T, body []byte, rt string) {
		out := withRefreshToken(body, rt, "")
		if !isJSONObject(body) {
			return // parseTokenResponse never hands it anything else
		}
		if !isJSONObject(out) {
			t.Fatalf("withRefreshToken(%q, %q) = %q, not a JSON object", body, rt, out)
		}
		var m map[string]json.RawMessage
		json.Unmarshal(out, &m)
		if _, ok := m["refresh_token"]; !ok && bytes.Equal(out, body) {
			// Unchanged: only when a refresh_token member (in any case, as
			// encoding/json matches names) was already there.
			var in map[string]json.RawMessage
			json.Unmarshal(body, &in)
			found := false
			for k := range in {
				if strings.EqualFold(k, "refresh_token") {
					found = true
				}
			}
			if !found {
				t.Fatalf("withRefreshToken(%q) added nothing", body)
			}
		}
		if !bytes.Equal(out, body) {
			// Added: the provider's bytes are a prefix, up to its closing brace.
			end := bytes.LastIndexByte(body, '}')
			if !bytes.HasPrefix(out, body[:end]) || !bytes.HasSuffix(out, body[end:]) {
				t.Fatalf("withRefreshToken(%q) = %q changed the provider's bytes", body, out)
			}
			var rtOut string
			if err := json.Unmarshal(m["refresh_token"], &rtOut); err != nil || utf8.ValidString(rt) && rtOut != rt {
				t.Fatalf("refresh_token %s, want %q", m["refresh_token"], rt)
			}
		}
	})
}

// With tokens below the top level, the refresh token is added at most once,
// where the access token sits, and never beside one the provider sent.
func FuzzWithRefreshTokenNested(f *testing.F) {
	for _, s := range []string{
		`{"authed_user":{"access_token":"a"}}`, `{"authed_user":{"access_token":"a","refresh_token":"b"}}`,
		`{"access_token":"a","authed_user":{}}`, `{"authed_user":{"access_token":"a"},"authed_user":{}}`,
		`{ "authed_user" : { } , "x" : [ "}" ] }`, `{"authed_user":"a"}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !isJSONObject(body) {
			return
		}
		out := withRefreshToken(body, "rt", "authed_user")
		if !isJSONObject(out) {
			t.Fatalf("%q -> %q, not a JSON object", body, out)
		}
		var in, got map[string]json.RawMessage
		json.Unmarshal(body, &in)
		json.Unmarshal(out, &got)
		var nin, ngot map[string]json.RawMessage
		json.Unmarshal(in["authed_user"], &nin)
		json.Unmarshal(got["authed_user"], &ngot)
		_, topHad := in["refresh_token"]
		_, nestedHad := nin["refresh_token"]
		if (topHad || nin != nil && nestedHad) && !bytes.Equal(out, body) {
			t.Fatalf("%q -> %q: a refresh token was there already", body, out)
		}
		if bytes.Equal(out, body) {
			return
		}
		added := 0
		if _, ok := got["refresh_token"]; ok && !topHad {
			added++
		}
		if _, ok := ngot["refresh_token"]; ok && !nestedHad {
			added++
		}
		if added != 1 {
			t.Fatalf("%q -> %q: %d refresh tokens added", body, out, added)
		}
	})
}

func fuzzBroker(f *testing.F, machine string) *Broker {
	b, err := New(Config{
		ClientID: "c", RedirectURI: "http://127.0.0.1/redirect",
		AuthorizeEndpoint: "http://127.0.0.1/authorize", TokenEndpoint: "http://127.0.0.1/token",
		LoginTTL: 60e9, TokenTTL: 60e9, ProviderTimeout: 1e9, MaxPending: 10, PKCE: true,
		MachineID: machine, Sealer: testSealer(f, "fuzz"),
	})
	if err != nil {
		f.Fatal(err)
	}
	return b
}

func FuzzOpenState(f *testing.F) {
	b := fuzzBroker(f, "machine-1")
	l := b.Authorize()
	st := mustParseURL(f, l.URL).Query().Get("state")
	for _, s := range []string{st, l.ReadKey, "", "A", st[:len(st)-1], st + "A", strings.Repeat("_", 1024)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := b.openState(s)
		if !ok {
			return
		}
		// Only values this test's key sealed open (the seeds, sealed in
		// whichever process added them): canonical, with our machine and a
		// full verifier. The fuzzer cannot forge one.
		checkOpened(t, s, got.readKey, "machine-1")
		if len(got.verifier) != 43 {
			t.Fatalf("openState(%q): verifier %q", s, got.verifier)
		}
	})
}

func FuzzOpenReadKey(f *testing.F) {
	b := fuzzBroker(f, "")
	l := b.Authorize()
	st := mustParseURL(f, l.URL).Query().Get("state")
	for _, s := range []string{l.ReadKey, st, "", "A", l.ReadKey[:len(l.ReadKey)-1], l.ReadKey + "=", "\r\n" + l.ReadKey} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, ok := b.openReadKey(s); ok {
			checkOpened(t, s, got, "")
		}
		// Poll, which wraps it, answers every input without panicking.
		_, err := b.Poll(s, PollOptions{})
		if err == nil {
			t.Fatalf("Poll(%q) delivered tokens", s)
		}
	})
}

func checkOpened(t *testing.T, s string, k readKey, machine string) {
	t.Helper()
	raw, err := rawURL.DecodeString(s)
	if err != nil || rawURL.EncodeToString(raw) != s {
		t.Fatalf("%q opened but is not a canonical encoding", s)
	}
	if k.machine != machine || k.expires.Before(time.Now().Add(-time.Hour)) || k.expires.After(time.Now().Add(time.Minute)) {
		t.Fatalf("%q opened to %+v, which this test never sealed", s, k)
	}
}

// FuzzChoices feeds /authorize parameters (as a form) to the choice
// checks: either a 400 naming a parameter, or a login that asks for no more
// than the app allows, with each parameter handoff sets exactly once and
// the chosen variables sealed in its state.
func FuzzChoices(f *testing.F) {
	for _, s := range []string{
		"", "shop=acme", "shop=acme&scope=read+files:read&prompt=consent&login_hint=ada%40example.com",
		"shop=acme&scope=admin,read", "shop=ACME", "shop=a&state=x", "shop=a&prompt=none+login",
		"shop=a&login_hint=%00", "shop=a&zone=..", "shop=a&zone=x%2Fy", "shop=a&_=1&scope=",
	} {
		f.Add(s)
	}
	b, err := New(Config{
		ClientID: "client", ClientSecret: "secret", RedirectURI: "https://handoff.example/redirect",
		AuthorizeEndpoint: "https://{shop}.shop.example/{zone}/authorize?x=1",
		TokenEndpoint:     "https://{shop}.shop.example/token",
		Scope:             "read", ScopeSeparator: ",", AllowedScopes: []string{"read", "write", "files:read"},
		AuthorizeParams: url.Values{"prompt": {"consent"}},
		Vars:            []TemplateVar{{Name: "shop", Pattern: `[a-z0-9][a-z0-9-]{0,59}`}, {Name: "zone", Pattern: `.{0,40}`}},
		PKCE:            true, LoginTTL: time.Minute, TokenTTL: time.Minute, ProviderTimeout: time.Second, MaxPending: 10,
		Sealer: func() *crypto.Sealer { s, _ := crypto.NewSealer(make([]byte, 32)); return s }(),
	})
	if err != nil {
		f.Fatal(err)
	}
	allowed := map[string]bool{"read": true, "write": true, "files:read": true}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		p := func(name string) Param {
			v, ok := q[name]
			if !ok {
				return Param{}
			}
			return Param{Value: v[0], Found: true}
		}
		l, err := b.AuthorizeWith(p)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalidRequest || e.Code != "invalid_request" {
				t.Fatalf("error %v", err)
			}
			name, _, _ := strings.Cut(e.Description, ": ")
			if !q.Has(name) && name != "shop" && name != "zone" {
				t.Fatalf("%q: the error names %q, which the request does not carry", s, name)
			}
			return
		}
		u, err := url.Parse(l.URL)
		if err != nil {
			t.Fatalf("%q: URL %q: %v", s, l.URL, err)
		}
		if !strings.HasSuffix(u.Hostname(), ".shop.example") || strings.Count(u.Hostname(), ".") != 2 {
			t.Fatalf("%q: host %q", s, u.Host)
		}
		got := u.Query()
		for _, k := range append(reservedParams[:], "scope", "prompt", "x") {
			if len(got[k]) != 1 {
				t.Fatalf("%q: %s appears %d times in %s", s, k, len(got[k]), l.URL)
			}
		}
		for _, w := range strings.Split(got.Get("scope"), ",") {
			if !allowed[w] {
				t.Fatalf("%q: scope %q asks for %q", s, got.Get("scope"), w)
			}
		}
		if !slices.Contains(prompts[:], got.Get("prompt")) {
			t.Fatalf("%q: prompt %q", s, got.Get("prompt"))
		}
		if h := got.Get("login_hint"); utf8.RuneCountInString(h) > maxLoginHint || !validLoginHint(h) {
			t.Fatalf("%q: login_hint %q", s, h)
		}
		st, ok := b.openState(got.Get("state"))
		if !ok {
			t.Fatalf("%q: the state does not open", s)
		}
		if len(st.vars) != 2 || st.vars[0] != q.Get("shop") || u.Hostname() != st.vars[0]+".shop.example" {
			t.Fatalf("%q: sealed %q for host %q", s, st.vars, u.Host)
		}
		if u.EscapedPath() != "/"+st.vars[1]+"/authorize" {
			t.Fatalf("%q: path %q for zone %q", s, u.EscapedPath(), st.vars[1])
		}
	})
}
