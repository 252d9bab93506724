package security

// Provider faults (issue 3, property 6): whatever the provider does, the user
// sees an error page, the plugin's poll gets 410 with a code, /refresh gets a
// JSON error, the server stays healthy, and no goroutine outlives the test.

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"handoff/internal/mockprovider"
	"handoff/internal/testkit"
)

func TestProviderFaultsAreSurvived(t *testing.T) {
	// Registered first, so it runs last: after every server below has shut
	// down and every provider has closed.
	ignoreBefore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		if err := findLeaks(20*time.Second, ignoreBefore); err != nil {
			t.Errorf("goroutines leaked: %v", err)
		}
	})

	secrets := &testkit.Secrets{}
	p := newFakeProvider(t, secrets)

	// A token endpoint whose TLS certificate nobody trusts.
	var tlsHits atomic.Int64
	untrusted := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tlsHits.Add(1)
	}))
	untrusted.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake errors are expected
	untrusted.StartTLS()
	t.Cleanup(untrusted.Close)

	// Where a token endpoint that redirects would send the secret again.
	var stolen atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { stolen.Add(1) }))
	t.Cleanup(elsewhere.Close)

	closedPort := strconv.Itoa(testkit.FreePort(t))

	answer := func(status int, contentType, body string) mockprovider.Hook {
		return func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(status)
			io.WriteString(w, body)
			return true
		}
	}
	// raw writes text on the connection, whatever it is, and hangs up.
	raw := func(text string) mockprovider.Hook {
		return func(w http.ResponseWriter, r *http.Request) bool {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err == nil {
				buf.WriteString(text)
				buf.Flush()
				conn.Close()
			}
			return true
		}
	}
	cases := []struct {
		name          string
		tokenEndpoint string
		fault         mockprovider.Hook
		page          int
		outcome       string
		code          string // at /poll, and at /refresh unless refreshStatus says otherwise
		refreshStatus int
	}{
		{name: "provider down (closed port)", tokenEndpoint: "http://127.0.0.1:" + closedPort + "/token",
			page: 502, outcome: "provider_error", code: "server_error", refreshStatus: 502},
		{name: "slow past PROVIDER_TIMEOUT", fault: func(w http.ResponseWriter, r *http.Request) bool {
			select { // until handoff gives up and hangs up
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
			return true
		}, page: 504, outcome: "provider_timeout", code: "temporarily_unavailable", refreshStatus: 504},
		{name: "headers in time, body too slow", fault: func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":"`)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
			return true
		}, page: 504, outcome: "provider_timeout", code: "temporarily_unavailable", refreshStatus: 504},
		{name: "500", fault: answer(500, "text/plain", "internal error"),
			page: 502, outcome: "provider_error", code: "server_error", refreshStatus: 502},
		{name: "503 with an OAuth error body", fault: answer(503, "application/json", `{"error":"temporarily_unavailable"}`),
			page: 502, outcome: "provider_error", code: "server_error", refreshStatus: 502},
		{name: "HTML garbage with 200", fault: answer(200, "text/html", "<html><body><h1>Welcome!</h1><script>x()</script></body></html>"),
			page: 502, outcome: "provider_error", code: "server_error", refreshStatus: 502},
		{name: "truncated JSON", fault: answer(200, "application/json", `{"access_token":"abc","token_type":`),
			page: 502, outcome: "provider_error", code: "server_error", refreshStatus: 502},
		{name: "a 5 MB body", fault: answer(200, "application/json", `{"access_token":"`+strings.Repeat("a", 5<<20)+`"}`),
			page: 502, outcome: "provider_error", code: "server_error", refreshStatus: 502},
		{name: "200 with an error", fault: answer(200, "application/json", `{"error":"invalid_grant","error_description":"code expired"}`),
			page: 502, outcome: "provider_error", code: "invalid_grant", refreshStatus: 400},
		{name: "200 with Slack's ok:false", fault: answer(200, "application/json", `{"ok":false,"error":"invalid_code"}`),
			page: 502, outcome: "provider_error", code: "invalid_code", refreshStatus: 400},
		{name: "200 without an access token", fault: answer(200, "application/json", `{"token_type":"bearer"}`),
			page: 502, outcome: "provider_error", code: "server_error", refreshStatus: 502},
		{name: "an error code made of markup", fault: answer(400, "application/json", `{"error":"<img src=x onerror=alert(1)>","error_description":"<script>alert(1)</script>"}`),
			page: 502, outcome: "provider_error", code: "<img src=x onerror=alert(1)>", refreshStatus: 400},
		{name: "connection dropped mid-answer", fault: raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"access"), page: 502, outcome: "provider_error", code: "server_error", refreshStatus: 502},
		{name: "garbage instead of HTTP", fault: raw("\x16\x03\x01 this is not HTTP at all\r\n\r\n"), page: 502, outcome: "provider_error", code: "server_error", refreshStatus: 502},
		{name: "redirect to another host", fault: func(w http.ResponseWriter, r *http.Request) bool {
			http.Redirect(w, r, elsewhere.URL+"/token", http.StatusTemporaryRedirect)
			return true
		}, page: 502, outcome: "provider_error", code: "server_error", refreshStatus: 502},
		{name: "TLS certificate not trusted", tokenEndpoint: untrusted.URL + "/token",
			page: 502, outcome: "provider_error", code: "server_error", refreshStatus: 502},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"PROVIDER_TIMEOUT": "1s"}
			if tc.tokenEndpoint != "" {
				env["TOKEN_ENDPOINT"] = tc.tokenEndpoint
			}
			p.SetTokenHook(tc.fault)
			defer p.SetTokenHook(nil)
			h := startHandoff(t, p, env)

			l := h.authorize(t)
			r := h.client.get(t, h.client.consent(t, l, false))
			wantPage(t, "the user's page", r, tc.page, tc.outcome)
			if strings.Contains(r.body, "<img src=x") || strings.Contains(r.body, "<script>alert") {
				t.Errorf("the provider's markup reached the page unescaped: %s", r.body)
			}
			for range 2 {
				wantCode(t, "the plugin's poll", h.poll(t, l.readKey), http.StatusGone, tc.code)
			}

			r = h.client.post(t, h.URL+"/refresh", "application/x-www-form-urlencoded",
				url.Values{"refresh_token": {"rt-" + random(16)}}.Encode())
			wantCode(t, "/refresh", r, tc.refreshStatus, tc.code)
			if r := h.client.get(t, h.URL+"/healthz"); r.status != http.StatusOK || r.body != `{"status":"ok"}` {
				t.Errorf("/healthz after the fault: %v", r)
			}
			// The server still completes a login once the provider heals.
			if tc.tokenEndpoint == "" {
				p.SetTokenHook(nil)
				h.fullLogin(t)
			}
		})
	}
	if n := stolen.Load(); n != 0 {
		t.Errorf("a redirecting token endpoint made handoff send %d request(s) elsewhere", n)
	}
	if n := tlsHits.Load(); n != 0 {
		t.Errorf("%d request(s) went through an untrusted TLS connection", n)
	}
}
