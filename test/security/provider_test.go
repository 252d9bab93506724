package security

import (
	"crypto/rand"
	"encoding/base64"
	"net/http/httptest"
	"sync"
	"testing"

	"handoff/internal/mockprovider"
	"handoff/internal/testkit"
)

// fakeProvider is internal/mockprovider, strict as a real provider is, with
// a random client, its consent page (so a test can approve or deny), the
// iss parameter of RFC 9207 (handoff must ignore it), and every code, token
// and PKCE verifier it issues or receives added to the test's secrets, to
// be looked for in handoff's logs and pages. It counts token requests
// (TokenRequests), so tests can prove that a refused state never reached
// it, and a test may play a fault at its token or revocation endpoint
// (SetTokenHook, SetRevokeHook).
type fakeProvider struct {
	*mockprovider.Provider
	URL          string
	clientID     string
	clientSecret string
	secrets      *testkit.Secrets

	mu     sync.Mutex
	issued map[string]string // code -> the access token it was exchanged for
}

// newFakeProvider starts a fake provider; opts may change its options
// (RequirePKCE, say) before it starts.
func newFakeProvider(t *testing.T, secrets *testkit.Secrets, opts ...func(*mockprovider.Options)) *fakeProvider {
	t.Helper()
	owned(t)
	p := &fakeProvider{
		clientID:     "client-" + random(8),
		clientSecret: random(32),
		secrets:      secrets,
		issued:       map[string]string{},
	}
	secrets.Add(p.clientSecret)
	o := mockprovider.Options{
		ClientID:     p.clientID,
		ClientSecret: p.clientSecret,
		Issuer:       "https://provider.test",
		Observe: func(e mockprovider.Event) {
			secrets.Add(e.Value)
			if e.Kind == "access_token" && e.Code != "" {
				p.mu.Lock()
				p.issued[e.Code] = e.Value
				p.mu.Unlock()
			}
		},
	}
	for _, f := range opts {
		f(&o)
	}
	p.Provider = mockprovider.New(o)
	srv := httptest.NewServer(p.Provider)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// env is handoff's configuration for an app of p's client served at base,
// with each of extra on top in turn (the last wins).
func (p *fakeProvider) env(base string, extra ...map[string]string) map[string]string {
	vars := map[string]string{
		"CLIENT_ID":          p.clientID,
		"CLIENT_SECRET":      p.clientSecret,
		"REDIRECT_URI":       base + "/redirect",
		"AUTHORIZE_ENDPOINT": p.URL + "/authorize",
		"TOKEN_ENDPOINT":     p.URL + "/token",
	}
	for _, m := range extra {
		for k, v := range m {
			vars[k] = v
		}
	}
	return vars
}

// accessFor returns the access token that code was exchanged for.
func (p *fakeProvider) accessFor(code string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.issued[code]
}

// random returns n random bytes, base64url-encoded: every window of it is
// unguessable, so finding one in a log means it leaked.
func random(n int) string { return base64.RawURLEncoding.EncodeToString(randBytes(n)) }

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
