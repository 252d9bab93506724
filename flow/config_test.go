package flow

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
)

// New refuses a configuration it cannot serve safely, whatever the caller
// checked before: config.Load is not its only caller.
func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	valid := func() Config {
		return Config{
			ClientID: testClientID, ClientSecret: testClientSecret, RedirectURI: testRedirectURI,
			AuthorizeEndpoint: "https://p.example/authorize", TokenEndpoint: "https://p.example/token",
			LoginTTL: time.Minute, TokenTTL: time.Minute, ProviderTimeout: time.Second, MaxPending: 10,
			Sealer: testSealer(t, "config"),
		}
	}
	cases := []struct {
		name   string
		change func(*Config)
		says   string // in the error
	}{
		{"no sealer", func(c *Config) { c.Sealer = nil }, "sealer"},
		{"zero LoginTTL", func(c *Config) { c.LoginTTL = 0 }, "positive"},
		{"negative TokenTTL", func(c *Config) { c.TokenTTL = -time.Second }, "positive"},
		{"zero ProviderTimeout", func(c *Config) { c.ProviderTimeout = 0 }, "positive"},
		{"zero MaxPending", func(c *Config) { c.MaxPending = 0 }, "positive"},
		{"negative ProviderConcurrency", func(c *Config) { c.ProviderConcurrency = -1 }, "ProviderConcurrency"},
		{"authorize endpoint that does not parse", func(c *Config) { c.AuthorizeEndpoint = "https://p.example:bad/authorize" }, "authorize endpoint"},
		{"state in AuthorizeParams", func(c *Config) { c.AuthorizeParams = url.Values{"state": {"fixed"}} }, `"state"`},
		{"response_type in AuthorizeParams", func(c *Config) { c.AuthorizeParams = url.Values{"response_type": {"token"}} }, `"response_type"`},
		{"code_challenge_method in AuthorizeParams", func(c *Config) { c.AuthorizeParams = url.Values{"code_challenge_method": {"plain"}} }, `"code_challenge_method"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid()
			c.change(&cfg)
			b, err := New(cfg)
			if err == nil {
				b.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q does not say %q", err, c.says)
			}
		})
	}
	t.Run("the valid one", func(t *testing.T) {
		t.Parallel()
		b, err := New(valid())
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if b.cfg.ProviderConcurrency != DefaultProviderConcurrency || b.cfg.RefreshEndpoint != "https://p.example/token" {
			t.Errorf("defaults: ProviderConcurrency %d, RefreshEndpoint %q", b.cfg.ProviderConcurrency, b.cfg.RefreshEndpoint)
		}
	})
}

// A token endpoint that does not parse is refused by New, and one that
// cannot be requested at all fails the login as the provider's failure
// (502 server_error): not as a timeout, not as the user's fault; neither
// error holds the endpoint (whose query may hold a key): both reach the log.
func TestBadTokenEndpoint(t *testing.T) {
	t.Parallel()
	cfg := Config{ClientID: testClientID, ClientSecret: testClientSecret, RedirectURI: testRedirectURI,
		AuthorizeEndpoint: "http://127.0.0.1:1/authorize", TokenEndpoint: "http://p.example:bad/token?key=SECRET",
		LoginTTL: time.Minute, TokenTTL: time.Minute, ProviderTimeout: time.Second, MaxPending: 10, Sealer: testSealer(t, "bad endpoint")}
	if _, err := New(cfg); err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("New with an unparsable token endpoint: %v; want an error without the URL", err)
	}
	for _, endpoint := range []string{
		"ftp://127.0.0.1:1/token?key=SECRET", // no client for the scheme
		"/token?key=SECRET",                  // not absolute
	} {
		t.Run(endpoint, func(t *testing.T) {
			t.Parallel()
			b := newBroker(t, Config{TokenEndpoint: endpoint, ProviderTimeout: 30 * time.Second})
			l := b.Authorize()
			st := mustParseURL(t, l.URL).Query().Get("state")
			err := b.Redirect(context.Background(), Callback{State: st, Code: "c"})
			ferr(t, err, KindProviderFailed, "server_error")
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %q names the endpoint's query", err)
			}
			pollErr(t, b, l.ReadKey, KindGone, "server_error")
			// The refresh grant goes to the same endpoint.
			_, err = b.Refresh(context.Background(), "rt")
			ferr(t, err, KindProviderFailed, "server_error")
		})
	}
	// New refuses an endpoint that does not parse, so only a request made
	// with one past New shows that the request's own error is redacted too.
	b := newBroker(t, Config{})
	_, err := b.tokenRequest(context.Background(), "http://p.example:bad/token?key=SECRET", nil)
	ferr(t, err, KindProviderFailed, "server_error")
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error %q names the endpoint's query", err)
	}
}
