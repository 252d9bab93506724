package flow

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Per-login choices (docs/protocol.md#authorize): what a plugin may choose,
// what it may not, and that the redirect uses the sealed values only.

// shopVar is a template variable as a Shopify-like preset declares it.
var shopVar = TemplateVar{Name: "shop", Pattern: `[a-z0-9][a-z0-9-]{0,59}`}

// query is a Params over a query string, as web reads a form.
func query(s string) Params {
	q, err := url.ParseQuery(s)
	if err != nil {
		panic(err)
	}
	return func(name string) Param {
		v, ok := q[name]
		if !ok {
			return Param{}
		}
		return Param{Value: v[0], Found: true}
	}
}

// notText is a Params where name has a JSON value that is not a string.
func notText(name string) Params {
	return func(n string) Param {
		if n == name {
			return Param{Found: true, NotText: true}
		}
		return Param{}
	}
}

func TestChoiceRules(t *testing.T) {
	t.Parallel()
	// A Slack-like app: comma-separated scopes, a template variable in the
	// path, prompt=consent among its AUTHORIZE_PARAMS.
	b := newBroker(t, Config{
		AuthorizeEndpoint: "https://provider.example/{region}/authorize?keep=1",
		Scope:             "read,write",
		ScopeSeparator:    ",",
		AllowedScopes:     []string{"read", "write", "admin", "files:read"},
		AuthorizeParams:   url.Values{"prompt": {"consent"}, "access_type": {"offline"}},
		Vars:              []TemplateVar{{Name: "region", Pattern: `eu|us`}, {Name: "team", Pattern: `.*`}},
		PKCE:              true,
	})
	long := strings.Repeat("é", 256)
	cases := []struct {
		name   string
		params Params
		bad    string            // the parameter a 400 names; "" for success
		want   map[string]string // authorize URL parameters then ("" = absent)
	}{
		// Template variable the URL needs.
		{"no parameters: region required", nil, "region", nil},
		{"cache-buster only: region still required", query("_=123"), "region", nil},
		{"region given", query("region=eu"), "", map[string]string{
			"scope": "read,write", "prompt": "consent", "login_hint": "", "keep": "1", "access_type": "offline"}},
		{"region outside the pattern", query("region=asia"), "region", nil},
		{"region in another case", query("region=EU"), "region", nil},
		{"region as a JSON number", notText("region"), "region", nil},
		{"region empty is none", query("region="), "region", nil},
		// A pattern that admits anything still admits URL-unreserved
		// characters only.
		{"team with a slash", query("region=eu&team=a/b"), "team", nil},
		{"team with an at", query("region=eu&team=a@b"), "team", nil},
		{"team with a question mark", query("region=eu&team=a%3Fb"), "team", nil},
		{"team dot dot", query("region=eu&team=.."), "team", nil},
		{"team too long", query("region=eu&team=" + strings.Repeat("a", 256)), "team", nil},
		{"team 255 unreserved", query("region=eu&team=" + strings.Repeat("a", 250) + "-._~"), "", nil},
		// scope
		{"scope subset, in another order", query("region=eu&scope=files:read+read"), "", map[string]string{"scope": "read,files:read"}},
		{"scope with repeats and extra spaces", query("region=eu&scope=+admin++admin+"), "", map[string]string{"scope": "admin"}},
		{"scope beyond ALLOWED_SCOPES", query("region=eu&scope=read+delete"), "scope", nil},
		{"scope in the provider's separator", query("region=eu&scope=read,write"), "scope", nil},
		{"scope empty is the app's", query("region=eu&scope="), "", map[string]string{"scope": "read,write"}},
		{"scope as a JSON list", notText("scope"), "scope", nil},
		// prompt
		{"prompt none", query("region=eu&prompt=none"), "", map[string]string{"prompt": "none"}},
		{"prompt login", query("region=eu&prompt=login"), "", map[string]string{"prompt": "login"}},
		{"prompt select_account replaces AUTHORIZE_PARAMS'", query("region=eu&prompt=select_account"), "", map[string]string{"prompt": "select_account"}},
		{"prompt consent", query("region=eu&prompt=consent"), "", map[string]string{"prompt": "consent"}},
		{"prompt of two words", query("region=eu&prompt=login+consent"), "prompt", nil},
		{"prompt in capitals", query("region=eu&prompt=Consent"), "prompt", nil},
		{"prompt unknown", query("region=eu&prompt=create"), "prompt", nil},
		// login_hint
		{"login_hint", query("region=eu&login_hint=ada%40example.com"), "", map[string]string{"login_hint": "ada@example.com"}},
		{"login_hint 256 characters", query("region=eu&login_hint=" + url.QueryEscape(long)), "", map[string]string{"login_hint": long}},
		{"login_hint 257 characters", query("region=eu&login_hint=" + url.QueryEscape(long+"x")), "login_hint", nil},
		{"login_hint with a newline", query("region=eu&login_hint=a%0Ab"), "login_hint", nil},
		{"login_hint with a NUL", query("region=eu&login_hint=a%00b"), "login_hint", nil},
		{"login_hint not UTF-8", query("region=eu&login_hint=%C3%28"), "login_hint", nil},
		{"login_hint a bidi override", query("region=eu&login_hint=a%E2%80%AEb"), "login_hint", nil},
		// Other parameters are ignored.
		{"unknown parameters", query("region=eu&foo=bar&_=1&shop=x"), "", map[string]string{"scope": "read,write", "foo": ""}},
	}
	for _, name := range reservedParams {
		cases = append(cases,
			struct {
				name   string
				params Params
				bad    string
				want   map[string]string
			}{"reserved " + name, query("region=eu&" + name + "=x"), name, nil},
			struct {
				name   string
				params Params
				bad    string
				want   map[string]string
			}{"reserved " + name + " even empty", query("region=eu&" + name + "="), name, nil})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := b.AuthorizeWith(c.params)
			if c.bad != "" {
				e := ferr(t, err, KindInvalidRequest, "invalid_request")
				if !strings.HasPrefix(e.Description, c.bad+": ") {
					t.Errorf("description %q does not start by naming %s", e.Description, c.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u := mustParseURL(t, l.URL)
			q := u.Query()
			if u.Path != "/eu/authorize" {
				t.Errorf("path %q, want the region filled in", u.Path)
			}
			for _, k := range append(reservedParams[:], "scope", "keep") {
				if len(q[k]) != 1 {
					t.Errorf("%s appears %d times in %s", k, len(q[k]), l.URL)
				}
			}
			for k, want := range c.want {
				if got := q.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if _, ok := b.openReadKey(l.ReadKey); !ok {
				t.Error("the read key does not open")
			}
			if _, ok := b.openState(q.Get("state")); !ok {
				t.Error("the state does not open")
			}
		})
	}
}

// A login without choices is the plain one, byte for byte, however it is
// asked for; a login with choices is not.
func TestNoChoicesIsThePlainLogin(t *testing.T) {
	for _, p := range []Params{nil, query(""), query("_=1700000000&cachebust=x"), query("scope=&prompt=&login_hint=")} {
		plain := goldenLogin(t, func(b *Broker) Login { return b.Authorize() })
		got := goldenLogin(t, func(b *Broker) Login {
			l, err := b.AuthorizeWith(p)
			if err != nil {
				t.Fatal(err)
			}
			return l
		})
		if got != plain {
			t.Errorf("AuthorizeWith =\n%#v\nwant Authorize's\n%#v", got, plain)
		}
	}
	chosen := goldenLogin(t, func(b *Broker) Login {
		l, err := b.AuthorizeWith(query("prompt=consent"))
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
	if !strings.Contains(chosen.URL, "prompt=consent") {
		t.Errorf("prompt not in %s", chosen.URL)
	}
}

// The choices travel sealed in the state, compactly, and come back out.
func TestChoicesSealed(t *testing.T) {
	t.Parallel()
	b := newBroker(t, Config{
		AuthorizeEndpoint: "https://{shop}.shop.example/authorize",
		Scope:             "a b",
		AllowedScopes:     []string{"a", "b", "c"},
		Vars:              []TemplateVar{shopVar, {Name: "zone", Pattern: `[0-9]`}},
		PKCE:              true,
		MachineID:         "m1",
	})
	l, err := b.AuthorizeWith(query("shop=acme&scope=c+a&prompt=login&login_hint=ada&zone=7"))
	if err != nil {
		t.Fatal(err)
	}
	u := mustParseURL(t, l.URL)
	if u.Host != "acme.shop.example" {
		t.Errorf("host %q", u.Host)
	}
	st, ok := b.openState(u.Query().Get("state"))
	if !ok {
		t.Fatal("state does not open")
	}
	if st.scope != 0b101 || prompts[st.prompt-1] != "login" || len(st.vars) != 2 || st.vars[0] != "acme" || st.vars[1] != "7" {
		t.Errorf("sealed choices %+v", st.choices)
	}
	if st.hint != "" {
		t.Error("the login hint was sealed; it only shapes the provider's page")
	}
	if st.machine != "m1" || st.verifier == "" {
		t.Errorf("machine %q verifier %q", st.machine, st.verifier)
	}
	rk, _ := b.openReadKey(l.ReadKey)
	if rk.id != st.id {
		t.Error("read key and state name different logins")
	}
	// Compact: the state of this login is not much longer than a plain one.
	if n := len(u.Query().Get("state")); n > 200 {
		t.Errorf("state of %d characters", n)
	}
}

// Choices too long for a state are a 400 naming a variable, not a panic.
func TestChoicesTooLongForAState(t *testing.T) {
	t.Parallel()
	vars := []TemplateVar{{Name: "a", Pattern: `[a-z]+`}, {Name: "b", Pattern: `[a-z]+`}, {Name: "c", Pattern: `[a-z]+`}}
	b := newBroker(t, Config{AuthorizeEndpoint: "https://p.example/{a}/{b}/{c}", Vars: vars})
	long := strings.Repeat("x", 255)
	_, err := b.AuthorizeWith(query("a=" + long + "&b=" + long + "&c=" + long))
	e := ferr(t, err, KindInvalidRequest, "invalid_request")
	if !strings.HasSuffix(e.Description, "too long") {
		t.Errorf("description %q", e.Description)
	}
	if _, err := b.AuthorizeWith(query("a=" + long + "&b=" + long + "&c=x")); err != nil {
		t.Errorf("two long values fit: %v", err)
	}
}

// shopProvider is a fake provider on loopback that answers for any host:
// the broker's client dials it whatever the URL's host, so a template
// variable in the host reaches it, and it records where each token request
// went.
type shopProvider struct {
	*fakeProvider
	client *http.Client
	mu     sync.Mutex
	hosts  []string
}

func newShopProvider(t *testing.T) *shopProvider {
	t.Helper()
	p := &shopProvider{}
	p.fakeProvider = newFake(t, func(w http.ResponseWriter, r *http.Request, s seen) {
		p.mu.Lock()
		p.hosts = append(p.hosts, r.Host)
		p.mu.Unlock()
		reply(200, "application/json", `{"access_token":"at-`+r.Host+`"}`)(w, r, s)
	})
	addr := p.srv.Listener.Addr().String()
	p.client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	return p
}

func (p *shopProvider) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.hosts...)
}

// The exchange goes to the sealed shop's token URL; nothing on the redirect
// picks it, and a shop the provider sends back must be the sealed one.
func TestTemplateVariablesAtTheRedirect(t *testing.T) {
	t.Parallel()
	p := newShopProvider(t)
	_, port, _ := net.SplitHostPort(p.srv.Listener.Addr().String())
	b := newBroker(t, Config{
		AuthorizeEndpoint: "http://{shop}.shop.test:" + port + "/admin/oauth/authorize",
		TokenEndpoint:     "http://{shop}.shop.test:" + port + "/admin/{shop}/token",
		Vars:              []TemplateVar{shopVar},
		PKCE:              true,
		HTTPClient:        p.client,
	})
	start := func(shop string) (Login, string) {
		t.Helper()
		l, err := b.AuthorizeWith(query("shop=" + shop))
		if err != nil {
			t.Fatal(err)
		}
		return l, mustParseURL(t, l.URL).Query().Get("state")
	}
	redirect := func(state string, extra string) error {
		t.Helper()
		return b.RedirectWith(context.Background(), Callback{State: state, Code: "c"}, query(extra))
	}

	cases := []struct {
		name, echo string
		ok         bool
	}{
		{"no echo", "", true},
		{"echo of the value", "shop=acme", true},
		{"echo of the host it made (Shopify)", "shop=acme.shop.test", true},
		{"another shop", "shop=evil", false},
		{"another shop's host", "shop=evil.shop.test", false},
		{"the host with a port", "shop=acme.shop.test:" + port, false},
		{"empty", "shop=", false},
		{"other parameters only", "host=x&timestamp=1&hmac=y", true},
	}
	for _, c := range cases {
		l, state := start("acme")
		before := len(p.requests())
		err := redirect(state, c.echo)
		if !c.ok {
			ferr(t, err, KindInvalidState, "invalid_request")
			if n := len(p.requests()); n != before {
				t.Errorf("%s: the provider was called", c.name)
			}
			// The state is not spent: the provider's real redirect
			// still completes the login.
			if err := redirect(state, "shop=acme"); err != nil {
				t.Errorf("%s: the real redirect after a refused one: %v", c.name, err)
			}
		} else if err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		got := p.requests()
		if len(got) != before+1 || got[before] != "acme.shop.test:"+port {
			t.Errorf("%s: token requests went to %v, want acme.shop.test:%s", c.name, got[before:], port)
		}
		if r := p.fakeProvider.requests(); r[len(r)-1].Path != "/admin/acme/token" {
			t.Errorf("%s: token path %q", c.name, r[len(r)-1].Path)
		}
		mustPoll(t, b, l.ReadKey)
	}

	// Two logins for two shops each exchange at their own.
	l1, s1 := start("one")
	l2, s2 := start("two")
	if err := redirect(s2, "shop=two"); err != nil {
		t.Fatal(err)
	}
	if err := redirect(s1, ""); err != nil {
		t.Fatal(err)
	}
	if got := string(mustPoll(t, b, l1.ReadKey)); got != `{"access_token":"at-one.shop.test:`+port+`"}` {
		t.Errorf("login one got %s", got)
	}
	if got := string(mustPoll(t, b, l2.ReadKey)); got != `{"access_token":"at-two.shop.test:`+port+`"}` {
		t.Errorf("login two got %s", got)
	}
}

// A preset cannot declare a variable that would shadow a parameter handoff
// reads, nor one with a pattern that does not compile.
func TestTemplateVariableDeclarations(t *testing.T) {
	t.Parallel()
	for _, v := range []TemplateVar{
		{Name: "scope", Pattern: "x"}, {Name: "state", Pattern: "x"}, {Name: "login_hint", Pattern: "x"},
		{Name: "Shop", Pattern: "x"}, {Name: "", Pattern: "x"}, {Name: "shop", Pattern: "("},
	} {
		_, err := New(Config{AuthorizeEndpoint: "https://p.example/{" + v.Name + "}", TokenEndpoint: "https://p.example/t",
			Vars: []TemplateVar{v}, Sealer: testSealer(t, "x"), LoginTTL: time.Minute, TokenTTL: time.Minute, ProviderTimeout: time.Second, MaxPending: 1})
		if err == nil {
			t.Errorf("New accepted the variable %+v", v)
		}
	}
	_, err := New(Config{AuthorizeEndpoint: "https://p.example/", TokenEndpoint: "https://p.example/t",
		Vars: []TemplateVar{shopVar, shopVar}, Sealer: testSealer(t, "x"), LoginTTL: time.Minute, TokenTTL: time.Minute, ProviderTimeout: time.Second, MaxPending: 1})
	if err == nil {
		t.Error("New accepted a variable declared twice")
	}
}

// A template variable's value is refused alike at /authorize and at
// /refresh and /revoke: missing, outside URL-unreserved characters, or not
// matching its pattern.
func TestVarValueCheckedAlike(t *testing.T) {
	t.Parallel()
	b := newBroker(t, Config{
		AuthorizeEndpoint: "https://{shop}.shop.example/authorize",
		TokenEndpoint:     "https://{shop}.shop.example/token",
		Vars:              []TemplateVar{shopVar},
	})
	for _, q := range []string{"", "shop=", "shop=a%2Fb", "shop=..", "shop=Acme", "shop=-acme"} {
		_, chooseErr := b.choose(query(q))
		_, endpointErr := b.endpointFor(b.tokenEndpoint, query(q))
		c := ferr(t, chooseErr, KindInvalidRequest, "invalid_request")
		e := ferr(t, endpointErr, KindInvalidRequest, "invalid_request")
		if c.Description != e.Description || !strings.HasPrefix(c.Description, "shop: ") {
			t.Errorf("%q: /authorize says %q, /refresh %q", q, c.Description, e.Description)
		}
	}
}
