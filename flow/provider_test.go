package flow

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"handoff/internal/mockprovider"
	"handoff/internal/testkit"
)

// Token exchanges against internal/mockprovider and small fakes: every way
// a provider can fail or refuse, and exchanges under load or cancellation.
// What handoff sends is in provider_request_test.go, what it makes of the
// answer in provider_answer_test.go, the client authentication styles in
// authstyle_test.go.

// slowly answers after the client gave up (or after a bound, so the server
// can close).
func slowly(d time.Duration) func(http.ResponseWriter, *http.Request, seen) {
	return func(w http.ResponseWriter, r *http.Request, _ seen) {
		select {
		case <-r.Context().Done():
		case <-time.After(d):
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"late"}`)
	}
}

func TestProviderFailures(t *testing.T) {
	t.Parallel()
	big := `{"access_token":"` + strings.Repeat("x", 2<<20) + `"}`
	redirectTarget := newFake(t, reply(200, "application/json", `{"access_token":"stolen"}`))
	// After the parallel subtests below, not before them.
	t.Cleanup(func() {
		if n := redirectTarget.hits.Load(); n != 0 {
			t.Errorf("a token endpoint's redirect was followed (%d requests)", n)
		}
	})
	cases := []struct {
		name     string
		token    func(http.ResponseWriter, *http.Request, seen)
		kind     Kind
		code     string
		status   int
		withBody bool // Error.Body holds the provider's JSON
	}{
		{"400 invalid_grant", reply(400, "application/json", `{"error":"invalid_grant","error_description":"code expired"}`), KindProviderRejected, "invalid_grant", 400, true},
		{"400 not JSON", reply(400, "text/html", "<h1>Bad</h1>"), KindProviderRejected, "invalid_grant", 400, false},
		{"401 invalid_client", reply(401, "application/json", `{"error":"invalid_client"}`), KindProviderRejected, "invalid_client", 401, true},
		{"403 JSON without error", reply(403, "application/json", `{"message":"nope"}`), KindProviderRejected, "invalid_grant", 403, true},
		{"401 text", reply(401, "text/plain", "who are you"), KindProviderRejected, "invalid_client", 401, false},
		{"401 JSON without error", reply(401, "application/json", `{"message":"bad credentials"}`), KindProviderRejected, "invalid_client", 401, true},
		{"error code with a quote", reply(400, "application/json", `{"error":"bad\"code"}`), KindProviderRejected, "invalid_grant", 400, true}, // unfit to pass on: the status says it
		{"500", reply(500, "application/json", `{"error":"server_error"}`), KindProviderFailed, "server_error", 500, false},
		{"503 text", reply(503, "text/plain", "maintenance"), KindProviderFailed, "server_error", 503, false},
		{"200 HTML", reply(200, "text/html", "<!doctype html><p>Sign in</p>"), KindProviderFailed, "server_error", 200, false},
		{"200 garbage", reply(200, "application/octet-stream", "\x00\xff\xfe garbage"), KindProviderFailed, "server_error", 200, false},
		{"200 broken JSON", reply(200, "application/json", `{"access_token":"x"`), KindProviderFailed, "server_error", 200, false},
		{"200 JSON array", reply(200, "application/json", `[{"access_token":"x"}]`), KindProviderFailed, "server_error", 200, false},
		{"200 empty", reply(200, "application/json", ""), KindProviderFailed, "server_error", 200, false},
		{"200 too large", reply(200, "application/json", big), KindProviderFailed, "server_error", 0, false},
		{"200 error (GitHub)", reply(200, "application/json", `{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired.","error_uri":"https://docs.github.com"}`), KindProviderRejected, "bad_verification_code", 200, true},
		{"200 form error (GitHub)", reply(200, "application/x-www-form-urlencoded", "error=bad_verification_code&error_description=The+code+passed+is+incorrect"), KindProviderRejected, "bad_verification_code", 200, true},
		{"200 ok:false (Slack)", reply(200, "application/json", `{"ok":false,"error":"invalid_code"}`), KindProviderRejected, "invalid_code", 200, true},
		{"200 ok:false without error", reply(200, "application/json", `{"ok":false,"access_token":"x"}`), KindProviderRejected, "server_error", 200, true},
		{"200 without access_token", reply(200, "application/json", `{"token_type":"bearer","expires_in":3600}`), KindProviderFailed, "server_error", 200, false},
		{"200 empty access_token", reply(200, "application/json", `{"access_token":"","token_type":"bearer"}`), KindProviderFailed, "server_error", 200, false},
		{"200 null access_token", reply(200, "application/json", `{"access_token":null}`), KindProviderFailed, "server_error", 200, false},
		{"302 not followed", func(w http.ResponseWriter, r *http.Request, _ seen) {
			http.Redirect(w, r, redirectTarget.srv.URL+"/token", http.StatusTemporaryRedirect)
		}, KindProviderFailed, "server_error", 307, false},
		{"slow", slowly(30 * time.Second), KindProviderTimeout, "temporarily_unavailable", 0, false},
		{"slow body", func(w http.ResponseWriter, r *http.Request, _ seen) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":`)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
			io.WriteString(w, `"x"}`)
		}, KindProviderTimeout, "temporarily_unavailable", 0, false},
		{"connection dropped", func(w http.ResponseWriter, r *http.Request, _ seen) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, KindProviderFailed, "server_error", 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, c.token)
			b := newBroker(t, f.config(Config{ProviderTimeout: timeoutFor(c.kind), PKCE: true}))
			l, q, err := login(t, b)
			e := ferr(t, err, c.kind, c.code)
			if c.status != 0 && e.Status != c.status {
				t.Errorf("Status = %d, want %d", e.Status, c.status)
			}
			if (e.Body != nil) != c.withBody {
				t.Errorf("Body = %q", e.Body)
			}
			if e.Body != nil && !json.Valid(e.Body) {
				t.Errorf("Body is not JSON: %q", e.Body)
			}
			if !ValidErrorCode(e.Code) || len(e.Description) > 310 {
				t.Errorf("code %q / description %q unfit to show", e.Code, e.Description)
			}
			secretsAbsent(t, err, testClientSecret, q.Get("code"), q.Get("state"), l.ReadKey)
			pollErr(t, b, l.ReadKey, KindGone, c.code)
			if n := f.hits.Load(); n != 1 {
				t.Errorf("%d token requests, want 1", n)
			}
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		b := newBroker(t, Config{AuthorizeEndpoint: "http://127.0.0.1:1/authorize", TokenEndpoint: srv.URL + "/token?secret=in-url"})
		l := b.Authorize()
		st := mustParseURL(t, l.URL).Query().Get("state")
		err := b.Redirect(context.Background(), Callback{State: st, Code: "c"})
		ferr(t, err, KindProviderFailed, "server_error")
		if strings.Contains(err.Error(), "in-url") {
			t.Errorf("error %q carries the endpoint's query", err)
		}
	})
}

// The exchange runs on a context of its own: a caller that goes away (a
// shutdown, a closed browser tab) does not waste the single-use code.
func TestExchangeSurvivesCancelledContext(t *testing.T) {
	t.Parallel()
	_, b := grantingFake(t, Config{})
	l := b.Authorize()
	q := approve(t, l.URL)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Redirect(ctx, Callback{State: q.Get("state"), Code: q.Get("code")}); err != nil {
		t.Fatal(err)
	}
	mustPoll(t, b, l.ReadKey)
}

func TestProviderCountsConcurrentLogins(t *testing.T) {
	t.Parallel()
	// Many logins at once against the mock provider: each gets its own
	// tokens, exactly one request each.
	p, srv := mockProvider(t, mockprovider.Options{RequirePKCE: true})
	b := newBroker(t, mockConfig(srv, Config{PKCE: true}))
	const n = 40
	var okCount atomic.Int64
	done := make(chan []byte, n)
	for range n {
		go func() {
			l, _, err := login(t, b)
			if err != nil {
				t.Error(err)
				done <- nil
				return
			}
			tokens, err := b.Poll(l.ReadKey, PollOptions{})
			if err == nil {
				okCount.Add(1)
			}
			done <- tokens
		}()
	}
	seenTokens := map[string]bool{}
	for range n {
		tok := <-done
		if tok == nil {
			continue
		}
		at := jsonObject(t, tok)["access_token"].(string)
		if seenTokens[at] {
			t.Error("two logins got the same tokens")
		}
		seenTokens[at] = true
	}
	if okCount.Load() != n || p.TokenRequests() != n {
		t.Errorf("%d delivered, %d token requests, want %d", okCount.Load(), p.TokenRequests(), n)
	}
}

// The preset's name goes on the broker's log lines, so a deployment with
// several apps says which provider refused.
func TestProviderNameInLogs(t *testing.T) {
	t.Parallel()
	var buf testkit.Buffer
	f := newFake(t, reply(400, "application/json", `{"error":"invalid_grant"}`))
	b := newBroker(t, f.config(Config{ProviderName: "Notion", Logger: slog.New(slog.NewTextHandler(&buf, nil))}))
	login(t, b)
	if !strings.Contains(buf.String(), "provider=Notion") {
		t.Errorf("log %q does not name the provider", buf.String())
	}
}
