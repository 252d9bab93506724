package web_test

import (
	"bytes"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRefresh covers POST /refresh (docs/protocol.md).
func TestRefresh(t *testing.T) {
	t.Parallel()
	s := start(t, setup{timeout: 300 * time.Millisecond})
	var mu sync.Mutex // the provider's mode is shared by the subtests

	checkTokens := func(t *testing.T, r response, rt string) {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control %q", got)
		}
		if got := r.header.Get("Content-Type"); got != "application/json" {
			t.Errorf("Content-Type %q", got)
		}
		m := r.json(t)
		if m["access_token"] == nil {
			t.Errorf("no access_token in %s", r.body)
		}
		// The mock omits refresh_token on refresh, as Google does: handoff
		// adds the one the plugin sent.
		if rt != "" && m["refresh_token"] != rt {
			t.Errorf("refresh_token %v, want the one sent, %q", m["refresh_token"], rt)
		}
	}

	t.Run("query code", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		rt := s.refreshToken(t)
		r := s.do("POST", "/refresh?code="+rt, nil, "Origin", testPluginOrigin)
		checkTokens(t, r, rt)
		checkCORS(t, r, testPluginOrigin)
	})
	t.Run("form body", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		rt := s.refreshToken(t)
		checkTokens(t, s.do("POST", "/refresh", strings.NewReader("refresh_token="+url.QueryEscape(rt)),
			"Content-Type", "application/x-www-form-urlencoded"), rt)
	})
	t.Run("multipart form body (fetch with FormData)", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		rt := s.refreshToken(t)
		body := "--XyZ\r\nContent-Disposition: form-data; name=\"refresh_token\"\r\n\r\n" + rt + "\r\n--XyZ--\r\n"
		checkTokens(t, s.do("POST", "/refresh", strings.NewReader(body),
			"Content-Type", "multipart/form-data; boundary=XyZ"), rt)
	})
	t.Run("JSON body", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		rt := s.refreshToken(t)
		checkTokens(t, s.do("POST", "/refresh", strings.NewReader(`{"refresh_token":"`+rt+`"}`),
			"Content-Type", "application/json"), rt)
	})
	t.Run("'+' sent unencoded in the query", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		const token = "plus+a/b+c=="
		for _, target := range []string{
			"/refresh?code=" + token,                  // as existing plugins send it
			"/refresh?code=" + url.QueryEscape(token), // properly encoded
		} {
			r := s.do("POST", target, nil)
			checkTokens(t, r, token)
			seen := s.prov.refreshTokensSeen()
			if got := seen[len(seen)-1]; got != token {
				t.Errorf("%s: provider saw refresh_token %q, want %q", target, got, token)
			}
		}
		// In a body the token is decoded as sent: '+' stays '+'.
		r := s.do("POST", "/refresh", strings.NewReader(`{"refresh_token":"`+token+`"}`), "Content-Type", "application/json")
		checkTokens(t, r, token)
	})
	t.Run("missing token", func(t *testing.T) {
		for _, c := range []struct{ target, body, ct string }{
			{"/refresh", "", ""},
			{"/refresh?code=", "", ""},
			{"/refresh", "refresh_token=", "application/x-www-form-urlencoded"},
			{"/refresh", `{"refresh_token":""}`, "application/json"},
			{"/refresh", `{"code":"x"}`, "application/json"},
		} {
			r := s.do("POST", c.target, strings.NewReader(c.body), "Content-Type", c.ct, "Origin", testPluginOrigin)
			checkError(t, r, 400, "invalid_request")
			checkCORS(t, r, testPluginOrigin)
		}
	})
	t.Run("provider refuses: its status and JSON", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		before := s.prov.tokenCalls.Load()
		r := s.do("POST", "/refresh?code=rt_unknown", nil, "Origin", testPluginOrigin)
		if r.status != 400 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if m := r.json(t); m["error"] != "invalid_grant" {
			t.Errorf("body %s", r.body)
		}
		if !bytes.Equal(r.body, s.prov.answer()) {
			t.Errorf("body %s, want the provider's %s", r.body, s.prov.answer())
		}
		checkCORS(t, r, testPluginOrigin)
		if s.prov.tokenCalls.Load() == before {
			t.Error("provider not called")
		}

		s.prov.setMode("refuse403", "")
		defer s.prov.setMode("", "")
		r = s.do("POST", "/refresh?code=rt_whatever", nil)
		if r.status != 403 || !bytes.Equal(r.body, s.prov.answer()) {
			t.Errorf("status %d body %s, want 403 and the provider's JSON", r.status, r.body)
		}
	})
	t.Run("provider fails", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		defer s.prov.setMode("", "")
		for mode, want := range map[string]struct {
			status int
			code   string
		}{
			"500":     {502, "server_error"},
			"garbage": {502, "server_error"},
			"slow":    {504, "temporarily_unavailable"},
		} {
			s.prov.setMode(mode, "")
			r := s.do("POST", "/refresh?code=rt_x", nil, "Origin", testPluginOrigin)
			checkError(t, r, want.status, want.code)
			checkCORS(t, r, testPluginOrigin)
		}
	})
}
