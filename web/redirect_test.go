package web_test

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestRedirect covers GET /redirect (docs/protocol.md): the pages, and that a bad
// state never reaches the provider.
func TestRedirect(t *testing.T) {
	t.Parallel()

	t.Run("success", func(t *testing.T) {
		s := start(t, setup{})
		l := s.authorize()
		// The provider may add parameters of its own; they are ignored.
		r := s.do("GET", s.consent(l)+"&iss=https%3A%2F%2Fexample.com&authuser=0&scope=x", nil)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		checkPage(t, r, "You're authenticated")
		if !strings.Contains(string(r.body), "return to Framer") {
			t.Errorf("success page does not say to return to Framer:\n%s", r.body)
		}
		if p := s.poll(l.ReadKey); p.status != 200 {
			t.Errorf("poll after success: %d %s", p.status, p.body)
		}
	})

	t.Run("invalid, expired or replayed state: 400, provider never called", func(t *testing.T) {
		s := start(t, setup{})
		other := start(t, setup{sealSecret: "a different key"})
		short := start(t, setup{loginTTL: 50 * time.Millisecond})

		used := s.authorize()
		if r := s.do("GET", s.consent(used), nil); r.status != 200 {
			t.Fatalf("first use: %d", r.status)
		}
		good := s.authorize().State
		flipped := []byte(good)
		flipped[10] ^= 0x01
		expired := short.authorize().State
		time.Sleep(100 * time.Millisecond)

		cases := map[string]string{
			"no state":            "/redirect?code=abc",
			"empty state":         "/redirect?code=abc&state=",
			"garbage":             "/redirect?code=abc&state=garbage",
			"one bit flipped":     "/redirect?code=abc&state=" + string(flipped),
			"truncated":           "/redirect?code=abc&state=" + good[:len(good)-3],
			"extended":            "/redirect?code=abc&state=" + good + "AAAA",
			"other key":           "/redirect?code=abc&state=" + other.authorize().State,
			"read key as state":   "/redirect?code=abc&state=" + s.authorize().ReadKey,
			"replayed":            "/redirect?code=abc&state=" + used.State,
			"replayed with error": "/redirect?error=access_denied&state=" + used.State,
			"no state with error": "/redirect?error=access_denied",
		}
		for name, target := range cases {
			t.Run(name, func(t *testing.T) {
				before := s.prov.tokenCalls.Load()
				r := s.do("GET", target, nil, "Origin", testPluginOrigin)
				if r.status != 400 {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				checkPage(t, r, "invalid or expired")
				checkCORS(t, r, testPluginOrigin)
				if after := s.prov.tokenCalls.Load(); after != before {
					t.Errorf("the provider got %d token requests for a bad state", after-before)
				}
			})
		}
		t.Run("expired", func(t *testing.T) {
			before := short.prov.tokenCalls.Load()
			r := short.do("GET", "/redirect?code=abc&state="+expired, nil)
			if r.status != 400 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			checkPage(t, r, "invalid or expired")
			if short.prov.tokenCalls.Load() != before {
				t.Error("the provider got a token request for an expired state")
			}
		})
		// The replay did not remove the tokens waiting for the poll.
		if r := s.poll(used.ReadKey); r.status != 200 {
			t.Errorf("poll after replays: %d %s", r.status, r.body)
		}
	})

	t.Run("cancelled: 200 page, description escaped, poll 410", func(t *testing.T) {
		s := start(t, setup{})
		l := s.authorize()
		desc := `<script>alert("x")</script> & <b>bold</b>`
		r := s.do("GET", "/redirect?"+url.Values{
			"state":             {l.State},
			"error":             {"access_denied"},
			"error_description": {desc},
			"code":              {"ignored-because-error-wins"},
		}.Encode(), nil)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		checkPage(t, r, "cancelled")
		body := string(r.body)
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<b>bold") {
			t.Errorf("provider's description is not escaped:\n%s", body)
		}
		if !strings.Contains(body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;") {
			t.Errorf("provider's description is not shown as text:\n%s", body)
		}
		if s.prov.tokenCalls.Load() != 0 {
			t.Error("error=access_denied still exchanged the code")
		}
		p := s.poll(l.ReadKey)
		checkError(t, p, 410, "access_denied")
		checkError(t, s.poll(l.ReadKey), 410, "access_denied")
	})

	t.Run("provider failures", func(t *testing.T) {
		cases := []struct {
			mode     string
			status   int
			page     string
			pollCode string
		}{
			{"500", 502, "could not be completed", "server_error"},
			{"garbage", 502, "could not be completed", "server_error"},
			{"slow", 504, "took too long", "temporarily_unavailable"},
		}
		for _, c := range cases {
			t.Run(c.mode, func(t *testing.T) {
				t.Parallel()
				s := start(t, setup{timeout: 300 * time.Millisecond})
				l := s.authorize()
				loc := s.consent(l)
				s.prov.setMode(c.mode, "")
				r := s.do("GET", loc, nil)
				if r.status != c.status {
					t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
				}
				checkPage(t, r, c.page)
				checkError(t, s.poll(l.ReadKey), 410, c.pollCode)
			})
		}
	})

	t.Run("refused code", func(t *testing.T) {
		s := start(t, setup{})
		l := s.authorize()
		loc := s.consent(l)
		u, _ := url.Parse(loc)
		q := u.Query()
		q.Set("code", "not-a-code-the-provider-issued")
		r := s.do("GET", "/redirect?"+q.Encode(), nil)
		if r.status != 502 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		checkPage(t, r, "could not be completed")
		checkError(t, s.poll(l.ReadKey), 410, "invalid_grant")
	})
}
