package testkit

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"handoff/internal/mockprovider"
)

// Consent gets through a provider that decides at once and through
// mockprovider's consent page, approving or denying, and collects the code.
func TestConsent(t *testing.T) {
	const redirect = "http://127.0.0.1:1/redirect"
	for _, c := range []struct {
		name        string
		autoApprove bool
		approve     bool
		want        string // the parameter the provider sends back
	}{
		{"decides at once", true, true, "code"},
		{"consent page, approved", false, true, "code"},
		{"consent page, denied", false, false, "error"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(mockprovider.New(mockprovider.Options{ClientID: "c", ClientSecret: "s", AutoApprove: c.autoApprove}))
			defer srv.Close()
			secrets := &Secrets{}
			p := &Plugin{Secrets: secrets}
			q := url.Values{"client_id": {"c"}, "response_type": {"code"}, "redirect_uri": {redirect}, "state": {"st-1"}}
			back, err := p.Consent(Login{URL: srv.URL + "/authorize?" + q.Encode()}, c.approve)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(back)
			if err != nil || !strings.HasPrefix(back, redirect+"?") || u.Query().Get("state") != "st-1" || u.Query().Get(c.want) == "" {
				t.Fatalf("sent back to %q, want %s?…%s=…&state=st-1", back, redirect, c.want)
			}
			if code := u.Query().Get("code"); code != "" && len(secrets.Leaks(code)) != 1 {
				t.Errorf("the code was not collected as a secret")
			}
		})
	}
}

// AuthorizeWith sends the login's choices in a form body, a CORS simple
// request from the plugin's Origin; Authorize sends no body at all.
func TestAuthorizeWith(t *testing.T) {
	type seen struct{ method, path, origin, contentType, body string }
	var mu sync.Mutex
	var got seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = seen{r.Method, r.URL.RequestURI(), r.Header.Get("Origin"), r.Header.Get("Content-Type"), string(b)}
		mu.Unlock()
		io.WriteString(w, `{"url":"https://provider.test/authorize?state=st-1","readKey":"rk-1"}`)
	}))
	defer srv.Close()
	const origin = "https://abc.plugins.framercdn.com"
	p := &Plugin{Base: srv.URL, Origin: origin}
	for _, c := range []struct {
		name    string
		choices url.Values
		want    seen
	}{
		{"no choices", nil, seen{"POST", "/authorize", origin, "", ""}},
		{"choices", url.Values{"scope": {"profile email"}, "login_hint": {"ada@example.test"}, "shop": {"s-1"}},
			seen{"POST", "/authorize", origin, "application/x-www-form-urlencoded",
				"login_hint=ada%40example.test&scope=profile+email&shop=s-1"}},
	} {
		l, err := p.AuthorizeWith(c.choices)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if got != c.want {
			t.Errorf("%s: handoff got %+v, want %+v", c.name, got, c.want)
		}
		mu.Unlock()
		if l.ReadKey != "rk-1" || l.State != "st-1" {
			t.Errorf("%s: %+v", c.name, l)
		}
	}
	if _, err := p.Authorize(); err != nil {
		t.Fatal(err)
	}
	if want := (seen{"POST", "/authorize", origin, "", ""}); got != want {
		t.Errorf("Authorize: handoff got %+v, want %+v", got, want)
	}
}

// Consent gives Plugin.Username on mockprovider's consent page: the tokens
// the code brings are the user's.
func TestConsentUsername(t *testing.T) {
	const redirect = "http://127.0.0.1:1/redirect"
	for _, c := range []struct{ username, want string }{{"ada", "ada"}, {"", "demo-user"}} {
		srv := httptest.NewServer(mockprovider.New(mockprovider.Options{ClientID: "c", ClientSecret: "s"}))
		defer srv.Close()
		p := &Plugin{Username: c.username}
		q := url.Values{"client_id": {"c"}, "response_type": {"code"}, "redirect_uri": {redirect}, "state": {"st-1"}}
		back, err := p.Consent(Login{URL: srv.URL + "/authorize?" + q.Encode()}, true)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(back)
		if err != nil {
			t.Fatal(err)
		}
		form := url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")}, "redirect_uri": {redirect},
			"client_id": {"c"}, "client_secret": {"s"}}
		r, err := p.Do("POST", srv.URL+"/token", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			strings.NewReader(form.Encode()))
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err != nil || r.Status != 200 || json.Unmarshal(r.Body, &tok) != nil {
			t.Fatalf("token: %v %v", r, err)
		}
		r, err = p.Do("GET", srv.URL+"/userinfo", http.Header{"Authorization": {"Bearer " + tok.AccessToken}}, nil)
		if err != nil || r.Status != 200 || !strings.Contains(string(r.Body), `"sub":"`+c.want+`"`) {
			t.Errorf("Username %q: userinfo %v %v, want sub %s", c.username, r, err, c.want)
		}
	}
}

// Do sends a "Host" entry, from the call or from Plugin.Header, as the
// request's Host, and the other entries as they are.
func TestDoHost(t *testing.T) {
	var mu sync.Mutex
	var host, mark string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		host, mark = r.Host, r.Header.Get("X-Mark")
		mu.Unlock()
	}))
	defer srv.Close()
	for _, c := range []struct {
		name           string
		plugin, header http.Header
		want           string
	}{
		{"none", nil, nil, strings.TrimPrefix(srv.URL, "http://")},
		{"in the call", nil, http.Header{"Host": {"handoff.example"}}, "handoff.example"},
		{"in the call, lower case", nil, http.Header{"host": {"handoff.example"}}, "handoff.example"},
		{"in Plugin.Header", http.Header{"Host": {"plugin.example"}}, nil, "plugin.example"},
		{"the call's wins", http.Header{"Host": {"plugin.example"}}, http.Header{"Host": {"handoff.example"}}, "handoff.example"},
	} {
		p := &Plugin{Header: c.plugin}
		h := http.Header{"X-Mark": {c.name}}
		for k, v := range c.header {
			h[k] = v
		}
		if r, err := p.Do("GET", srv.URL+"/", h, nil); err != nil || r.Status != 200 {
			t.Fatalf("%s: %v %v", c.name, r, err)
		}
		mu.Lock()
		if host != c.want || mark != c.name {
			t.Errorf("%s: Host %q and X-Mark %q, want %q and %q", c.name, host, mark, c.want, c.name)
		}
		mu.Unlock()
	}
}

// Leaks finds any 16 characters of a secret in a row, and nothing shorter.
func TestLeaks(t *testing.T) {
	s := &Secrets{}
	s.Add("0123456789abcdefghij", "short", "")
	for text, want := range map[string]int{
		"nothing here":                   0,
		"…3456789abcdefghi…":             1, // 16 characters of the long one
		"…3456789abcdefgh…":              0, // 15
		"a short one":                    1,
		"0123456789abcdefghij and short": 2,
	} {
		if got := len(s.Leaks(text)); got != want {
			t.Errorf("Leaks(%q): %d, want %d", text, got, want)
		}
	}
	var none *Secrets
	none.Add("x")
	if none.Leaks("x") != nil {
		t.Error("a nil Secrets found a leak")
	}
}
