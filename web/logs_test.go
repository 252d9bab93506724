package web_test

import (
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

// TestNoSecretsInLogsOrPages runs logins that succeed and fail with the log
// at debug level, and checks that no secret, code, token, read key or state
// (nor a PKCE verifier) reaches the log or a page (SECURITY.md, property 1).
func TestNoSecretsInLogsOrPages(t *testing.T) {
	t.Parallel()
	s, logs := startLogging(t, setup{}, slog.LevelDebug)
	var secrets []string
	var pages []string
	keep := func(vs ...string) {
		for _, v := range vs {
			if v != "" {
				secrets = append(secrets, v, url.QueryEscape(v))
			}
		}
	}
	keep(testClientSecret)

	// A login that succeeds, then a refresh.
	l := s.authorize()
	loc := s.consent(l)
	u, _ := url.Parse(loc)
	keep(l.ReadKey, u.Query().Get("state"), u.Query().Get("code"))
	pages = append(pages, string(s.do("GET", loc, nil).body))
	pages = append(pages, string(s.do("GET", loc, nil).body)) // replayed
	r := s.poll(l.ReadKey)
	var tok map[string]any
	if err := json.Unmarshal(r.body, &tok); err != nil {
		t.Fatal(err)
	}
	at, _ := tok["access_token"].(string)
	rt, _ := tok["refresh_token"].(string)
	keep(at, rt)
	s.poll(l.ReadKey)
	r = s.do("POST", "/refresh?code="+rt, nil)
	_ = json.Unmarshal(r.body, &tok)
	at2, _ := tok["access_token"].(string)
	keep(at2)
	s.do("POST", "/refresh", strings.NewReader("refresh_token=rt_revoked-SECRET"), "Content-Type", "application/x-www-form-urlencoded")
	keep("rt_revoked-SECRET")

	// Failures: a refused code, a cancelled login, forged values.
	l2 := s.authorize()
	loc2 := s.consent(l2)
	u2, _ := url.Parse(loc2)
	q := u2.Query()
	keep(l2.ReadKey, q.Get("state"), q.Get("code"))
	q.Set("code", "forged-code-SECRET")
	keep("forged-code-SECRET")
	pages = append(pages, string(s.do("GET", "/redirect?"+q.Encode(), nil).body))
	s.poll(l2.ReadKey)
	l3 := s.authorize()
	keep(l3.ReadKey, l3.State)
	pages = append(pages, string(s.do("GET", "/redirect?error=access_denied&state="+l3.State, nil).body))
	s.poll(l3.ReadKey)
	pages = append(pages, string(s.do("GET", "/redirect?code=c0de-SECRET&state=st4te-SECRET", nil).body))
	keep("c0de-SECRET", "st4te-SECRET")
	s.poll("forged-readkey-SECRET")
	keep("forged-readkey-SECRET")
	s.do("GET", "/nowhere?code=path-SECRET", nil)
	keep("path-SECRET")

	// The PKCE verifiers travelled only to the provider: secrets too.
	verifiers := s.prov.verifiersSeen()
	if len(verifiers) < 2 {
		t.Fatalf("the provider saw %d PKCE verifiers, want one per exchange", len(verifiers))
	}
	keep(verifiers...)

	out := logs.String()
	if !strings.Contains(out, "level=INFO") || !strings.Contains(out, "request") {
		t.Fatalf("no request log lines:\n%s", out)
	}
	for _, sec := range secrets {
		if strings.Contains(out, sec) {
			t.Errorf("the log contains %q:\n%s", sec, out)
		}
		for i, p := range pages {
			if strings.Contains(p, sec) {
				t.Errorf("page %d contains %q", i, sec)
			}
		}
	}
}
