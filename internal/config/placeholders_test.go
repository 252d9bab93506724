package config_test

import (
	"strings"
	"testing"

	"handoff/flow"
)

// TestEndpointPlaceholders: an endpoint may hold only the {name}s that will
// be filled for it — the preset's template variables in any endpoint,
// {tenant} (TENANT), and {client_id} in REVOKE_ENDPOINT alone. Any other
// would reach the provider as written (%7Bclient_id%7D), so start-up
// refuses it, naming the variable and the placeholder.
func TestEndpointPlaceholders(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		bad  string // the variable a problem must name; "" for accepted
		says string // what the problem must say
	}{
		{"{client_id} in AUTHORIZE_ENDPOINT", []string{"AUTHORIZE_ENDPOINT", "https://a.example/{client_id}/authorize"}, "AUTHORIZE_ENDPOINT", "{client_id}"},
		{"{client_id} in TOKEN_ENDPOINT", []string{"TOKEN_ENDPOINT", "https://a.example/token?client={client_id}"}, "TOKEN_ENDPOINT", "{client_id}"},
		{"{client_id} in REFRESH_ENDPOINT", []string{"REFRESH_ENDPOINT", "https://a.example/{client_id}/refresh"}, "REFRESH_ENDPOINT", "{client_id}"},
		{"{client_id} in REVOKE_ENDPOINT", []string{"REVOKE_ENDPOINT", "https://ghe.example/api/v3/applications/{client_id}/grant"}, "", ""},
		{"github's preset revocation", []string{"PROVIDER", "github", "AUTHORIZE_ENDPOINT", "", "TOKEN_ENDPOINT", ""}, "", ""},
		{"a typo: {tennant}", []string{"TOKEN_ENDPOINT", "https://login.microsoftonline.com/{tennant}/oauth2/v2.0/token"}, "TOKEN_ENDPOINT", "{tennant}"},
		{"a typo in microsoft's override", []string{"PROVIDER", "microsoft", "AUTHORIZE_ENDPOINT", "", "TOKEN_ENDPOINT", "https://login.microsoftonline.com/{tennant}/oauth2/v2.0/token"}, "TOKEN_ENDPOINT", "{tennant}"},
		{"microsoft's {tenant}", []string{"PROVIDER", "microsoft", "AUTHORIZE_ENDPOINT", "", "TOKEN_ENDPOINT", "", "TENANT", "contoso.onmicrosoft.com"}, "", ""},
		{"{tennant} in REVOKE_ENDPOINT", []string{"REVOKE_ENDPOINT", "https://a.example/{tennant}/revoke"}, "REVOKE_ENDPOINT", "{tennant}"},
		{"shopify's own {shop}", []string{"PROVIDER", "shopify", "AUTHORIZE_ENDPOINT", "", "TOKEN_ENDPOINT", ""}, "", ""},
		{"{shop} in shopify's REFRESH_ENDPOINT", []string{"PROVIDER", "shopify", "AUTHORIZE_ENDPOINT", "", "TOKEN_ENDPOINT", "",
			"REFRESH_ENDPOINT", "https://{shop}.myshopify.com/admin/oauth/access_token"}, "", ""},
		{"zendesk's own {subdomain}", []string{"PROVIDER", "zendesk", "AUTHORIZE_ENDPOINT", "", "TOKEN_ENDPOINT", ""}, "", ""},
		{"{shop} without a preset", []string{"AUTHORIZE_ENDPOINT", "https://a.example/{shop}/authorize"}, "AUTHORIZE_ENDPOINT", "{shop}"},
		{"{shop} in another preset's endpoint", []string{"PROVIDER", "zendesk", "AUTHORIZE_ENDPOINT", "",
			"TOKEN_ENDPOINT", "https://a.example/{shop}/token"}, "TOKEN_ENDPOINT", "{shop}"},
		{"a brace that is no placeholder", []string{"TOKEN_ENDPOINT", "https://a.example/token}"}, "TOKEN_ENDPOINT", "{ or }"},
		{"a brace in a query that may be a key", []string{"TOKEN_ENDPOINT", "https://a.example/token?key={KEY-VALUE-7}"}, "TOKEN_ENDPOINT", "{ or }"},
		{"under APPS, prefixed", []string{"APPS", "one", "ONE_CLIENT_ID", "1", "ONE_CLIENT_SECRET", "k7x2m9qz4w1p8vb",
			"ONE_REDIRECT_URI", "https://h.example/one/redirect", "ONE_PROVIDER", "google",
			"ONE_AUTHORIZE_ENDPOINT", "https://a.example/{client_id}/authorize"}, "ONE_AUTHORIZE_ENDPOINT", "{client_id}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := load(t, c.env...)
			if c.bad == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				// What config accepts, flow accepts.
				b, err := flow.New(cfg.Apps[0].Flow)
				if err != nil {
					t.Fatalf("flow.New: %v", err)
				}
				b.Close()
				return
			}
			if err == nil {
				t.Fatalf("Load accepted %q", c.env)
			}
			ps := problems(t, err)
			var found bool
			for _, p := range ps {
				found = found || strings.HasPrefix(p, c.bad+":") && strings.Contains(p, c.says)
			}
			if !found {
				t.Errorf("problems %q, want one about %s that says %q", ps, c.bad, c.says)
			}
			for _, hidden := range []string{"KEY-VALUE-7", "s3cr3t-CLIENTSECRET", "k7x2m9qz4w1p8vb"} {
				if strings.Contains(err.Error(), hidden) {
					t.Errorf("the error shows a value: %v", err)
				}
			}
		})
	}
}
