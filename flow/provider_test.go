package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"handoff/internal/mockprovider"
)

// The provider's answers to the token exchange, from small fakes: response
// formats, and every way a provider can refuse or fail.

func TestFormEncodedAnswerBecomesJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, contentType, body, want string
	}{
		{
			name:        "github style, order kept, numbers for *_in",
			contentType: "application/x-www-form-urlencoded; charset=utf-8",
			body:        "access_token=gho_a%2Bb%2F%3D&token_type=bearer&expires_in=28800&refresh_token=ghr_x&refresh_token_expires_in=15811200&scope=repo%2Cgist",
			want:        `{"access_token":"gho_a+b/=","token_type":"bearer","expires_in":28800,"refresh_token":"ghr_x","refresh_token_expires_in":15811200,"scope":"repo,gist"}`,
		},
		{
			name:        "text/plain, non-digit *_in stays a string, repeated key first wins",
			contentType: "text/plain",
			body:        "expires_in=12a&access_token=tok&access_token=other&foo_in=007&scope=a+b",
			want:        `{"expires_in":"12a","access_token":"tok","foo_in":"007","scope":"a b"}`,
		},
		{
			name:        "quotes and unicode are escaped",
			contentType: "application/x-www-form-urlencoded",
			body:        "access_token=%22q%22%5C%3C%2Fscript%3E&note=%C3%BC",
			want:        `{"access_token":"\"q\"\\</script>","note":"ü"}`, // application/json with nosniff: no HTML escaping needed
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, reply(200, c.contentType, c.body))
			b := newBroker(t, f.config(Config{}))
			l, _, err := login(t, b)
			if err != nil {
				t.Fatal(err)
			}
			got := mustPoll(t, b, l.ReadKey)
			if string(got) != c.want {
				t.Errorf("Poll =\n%s\nwant\n%s", got, c.want)
			}
			jsonObject(t, got)
		})
	}

	t.Run("mock provider", func(t *testing.T) {
		t.Parallel()
		_, srv := mockProvider(t, mockprovider.Options{FormResponse: true})
		b := newBroker(t, mockConfig(srv, Config{PKCE: true, Scope: "read write"}))
		l, _, err := login(t, b)
		if err != nil {
			t.Fatal(err)
		}
		got := mustPoll(t, b, l.ReadKey)
		m := jsonObject(t, got)
		if n, ok := m["expires_in"].(json.Number); !ok || n != "3600" {
			t.Errorf("expires_in = %#v, want the number 3600: %s", m["expires_in"], got)
		}
		if m["scope"] != "read write" || m["token_type"] != "Bearer" {
			t.Errorf("Poll = %s", got)
		}
		// url.Values.Encode sorts keys; the JSON keeps that order.
		if !regexp.MustCompile(`^\{"access_token":"[^"]+","expires_in":3600,"refresh_token":"[^"]+","scope":"read write","token_type":"Bearer"\}$`).Match(got) {
			t.Errorf("Poll = %s, members out of the provider's order", got)
		}
	})
}

func TestJSONAnswerPassedByteForByte(t *testing.T) {
	t.Parallel()
	bodies := []struct{ contentType, body string }{
		{"application/json", `{"access_token" : "x",  "token_type":"bearer","expires_in":3600 , "scope":"a b"}` + "\n"},
		{"application/json;charset=UTF-8", "\t{\"token_type\":\"bearer\",\"access_token\":\"\\u0041b\",\"expires_in\":\"3600\",\"nested\":{\"a\":[1,2.50,true,null]}}  "},
		{"text/html", `{"access_token":"x","Token_Type":"BEARER","expires_in":1e3}`}, // JSON whatever the label
		{"", `{"access_token":"x","hub_id":123456789012345678901234567890}`},         // big numbers untouched
	}
	for _, c := range bodies {
		f := newFake(t, reply(200, c.contentType, c.body))
		b := newBroker(t, f.config(Config{}))
		l, _, err := login(t, b)
		if err != nil {
			t.Fatalf("%q: %v", c.body, err)
		}
		if got := mustPoll(t, b, l.ReadKey); string(got) != c.body {
			t.Errorf("Poll =\n%q\nwant the provider's bytes\n%q", got, c.body)
		}
	}
}

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
		{"401 text", reply(401, "text/plain", "who are you"), KindProviderRejected, "invalid_client", 401, false},
		{"401 JSON without error", reply(401, "application/json", `{"message":"bad credentials"}`), KindProviderRejected, "invalid_client", 401, true},
		{"403 JSON without error", reply(403, "application/json", `{"message":"nope"}`), KindProviderRejected, "invalid_grant", 403, true},
		{"error code with a quote", reply(400, "application/json", `{"error":"bad\"code"}`), KindProviderRejected, "server_error", 400, true},
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
			_, perr := b.Poll(l.ReadKey, PollOptions{})
			ferr(t, perr, KindGone, c.code)
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

// The cap on a provider's answer is 1 MiB (docs/protocol.md, "Talking to
// the provider"): an answer of exactly that size is delivered whole, one
// byte more is refused as too large. Form-encoded answers matter most: cut
// at the cap, one would still parse, as a shorter token.
func TestProviderAnswerCap(t *testing.T) {
	t.Parallel()
	const documentedCap = 1 << 20
	form := func(size int) string {
		const head = "token_type=bearer&access_token="
		return head + strings.Repeat("x", size-len(head))
	}
	cases := []struct {
		name, contentType, body string
		tooLarge                bool
	}{
		{"form at the cap", "application/x-www-form-urlencoded", form(documentedCap), false},
		{"form one byte over", "application/x-www-form-urlencoded", form(documentedCap + 1), true},
		{"form of 2 MiB", "application/x-www-form-urlencoded", form(2 << 20), true},
		{"JSON of 2 MiB", "application/json", `{"access_token":"` + strings.Repeat("x", 2<<20) + `"}`, true},
	}
	for _, c := range cases {
		for _, chunked := range []bool{false, true} { // with and without Content-Length
			t.Run(fmt.Sprintf("%s, chunked %v", c.name, chunked), func(t *testing.T) {
				t.Parallel()
				f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ seen) {
					w.Header().Set("Content-Type", c.contentType)
					if !chunked {
						w.Header().Set("Content-Length", strconv.Itoa(len(c.body)))
					}
					io.WriteString(w, c.body)
				})
				b := newBroker(t, f.config(Config{}))
				l, _, err := login(t, b)
				if c.tooLarge {
					e := ferr(t, err, KindProviderFailed, "server_error")
					if !strings.Contains(e.Description, "too large") {
						t.Errorf("description %q, want the answer called too large", e.Description)
					}
					_, perr := b.Poll(l.ReadKey, PollOptions{})
					ferr(t, perr, KindGone, "server_error")
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				got := jsonObject(t, mustPoll(t, b, l.ReadKey))
				if at, _ := got["access_token"].(string); len(at) != documentedCap-len("token_type=bearer&access_token=") {
					t.Errorf("access_token of %d bytes, want the whole of it", len(at))
				}
			})
		}
	}
}

// Slack installs that ask only for user scopes answer with no top-level
// access_token: the user token sits under authed_user.
func TestSlackShapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body string
		kind Kind
	}{
		{`{"ok":true,"app_id":"A1","authed_user":{"id":"U1","scope":"search:read","access_token":"xoxp-1","token_type":"user"},"team":{"id":"T1"}}`, 0},
		{`{"ok":true,"access_token":"xoxb-1","token_type":"bot","authed_user":{"id":"U1"}}`, 0},
		{`{"ok":true,"authed_user":{"id":"U1"}}`, KindProviderFailed},
		{`{"ok":true,"authed_user":{"access_token":""}}`, KindProviderFailed},
		{`{"ok":false,"error":"invalid_code","warning":"superfluous_charset"}`, KindProviderRejected},
	}
	for _, c := range cases {
		f := newFake(t, reply(200, "application/json; charset=utf-8", c.body))
		b := newBroker(t, f.config(Config{}))
		l, _, err := login(t, b)
		if c.kind == 0 {
			if err != nil {
				t.Errorf("%s: %v", c.body, err)
				continue
			}
			if got := mustPoll(t, b, l.ReadKey); string(got) != c.body {
				t.Errorf("Poll = %s, want %s", got, c.body)
			}
		} else {
			ferr(t, err, c.kind, "")
		}
	}
}

// Members are read by their exact names, and one of an unexpected type
// does not hide the others.
func TestTokenFieldsRobust(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body string
		ok         bool
		code       string
	}{
		{"ok as a string", `{"ok":"true","access_token":"a"}`, true, ""},
		{"authed_user as a string", `{"authed_user":"U1","access_token":"a"}`, true, ""},
		{"error_description as a number", `{"error":"invalid_grant","error_description":5}`, false, "invalid_grant"},
		{"Access_Token is not access_token", `{"Access_Token":"a"}`, false, "server_error"},
		{"Error is not error", `{"Error":"x","access_token":"a"}`, true, ""},
		{"ok false without error", `{"ok":false,"access_token":"a"}`, false, "server_error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, err := parseTokenResponse(200, "application/json", []byte(c.body))
			if c.ok {
				if err != nil || string(body) != c.body {
					t.Fatalf("got %q, %v; want the body unchanged", body, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != c.code {
				t.Fatalf("got %v, want code %s", err, c.code)
			}
		})
	}
}

// A provider that throttles handoff (429) has failed for now; the user did
// nothing wrong, so the code is temporarily_unavailable, not invalid_grant.
func TestProviderThrottled(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", `{"error":"rate_limited"}`} {
		_, err := parseTokenResponse(429, "application/json", []byte(body))
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindProviderFailed || e.Code != "temporarily_unavailable" {
			t.Fatalf("429 %q: got %v, want KindProviderFailed temporarily_unavailable", body, err)
		}
	}
}
