package flow

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"handoff/internal/mockprovider"
)

// What handoff makes of a provider's token answer: JSON passed on byte for
// byte, a form converted, the size cap, where the tokens sit, and the codes
// of a refusal (docs/protocol.md#talking-to-the-provider).

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
			l, _ := mustLogin(t, b)
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
		l, _ := mustLogin(t, b)
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

// The cap on a provider's answer is 1 MiB
// (docs/protocol.md#talking-to-the-provider): an answer of exactly that
// size is delivered whole, one byte more is refused as too large.
// Form-encoded answers matter most: cut at the cap, one would still parse,
// as a shorter token.
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
					pollErr(t, b, l.ReadKey, KindGone, "server_error")
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
// access_token: the user token sits under authed_user, where the preset's
// TokensAt says to look.
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
		b := newBroker(t, f.config(Config{TokensAt: "authed_user"}))
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
			body, err := answerShape{}.parseTokenResponse(200, "application/json", []byte(c.body))
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
		_, err := answerShape{}.parseTokenResponse(429, "application/json", []byte(body))
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindProviderFailed || e.Code != "temporarily_unavailable" {
			t.Fatalf("429 %q: got %v, want KindProviderFailed temporarily_unavailable", body, err)
		}
	}
}

// A preset maps its provider's own error codes to the RFC 6749 code a
// plugin can act on; the provider's code leads error_description, and the
// JSON /refresh passes on carries the same error. A refusal without a
// usable code gets the code of its HTTP status.
func TestRefusalCodes(t *testing.T) {
	t.Parallel()
	shape := answerShape{errorCodes: map[string]string{
		"bad_verification_code": "invalid_grant",
		"invalid_refresh_token": "invalid_grant",
		"bad_client_secret":     "invalid_client",
	}}
	cases := []struct {
		name, ct, body string
		status         int
		code, desc     string
		bodyUnchanged  bool
	}{
		{"mapped, 200 JSON (GitHub)", "application/json",
			`{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired.","error_uri":"https://docs.github.com"}`,
			200, "invalid_grant", "bad_verification_code: The code passed is incorrect or expired.", false},
		{"mapped, 200 form (GitHub)", "application/x-www-form-urlencoded",
			"error=bad_verification_code&error_description=expired",
			200, "invalid_grant", "bad_verification_code: expired", false},
		{"mapped, ok:false (Slack)", "application/json", `{"ok":false,"error":"invalid_refresh_token"}`,
			200, "invalid_grant", "invalid_refresh_token", false},
		{"mapped to invalid_client", "application/json", `{"ok":false,"error":"bad_client_secret"}`,
			200, "invalid_client", "bad_client_secret", false},
		{"not mapped: passed on as it is", "application/json", `{"error":"invalid_grant","error_description":"gone"}`,
			400, "invalid_grant", "gone", true},
		{"not mapped, 200 ok:false", "application/json", `{"ok":false,"error":"invalid_code"}`,
			200, "invalid_code", "the provider refused the request", true},
		{"error true (Figma)", "application/json", `{"error":true,"status":400,"message":"Invalid code"}`,
			400, "invalid_grant", "Invalid code", false},
		{"status and message (Twitch)", "application/json", `{"status":400,"message":"Invalid refresh token"}`,
			400, "invalid_grant", "Invalid refresh token", false},
		{"401 without a code", "application/json", `{"message":"bad client"}`,
			401, "invalid_client", "bad client", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := shape.parseTokenResponse(c.status, c.ct, []byte(c.body))
			e := ferr(t, err, KindProviderRejected, c.code)
			if e.Description != c.desc {
				t.Errorf("Description = %q, want %q", e.Description, c.desc)
			}
			if c.bodyUnchanged {
				if string(e.Body) != c.body {
					t.Errorf("Body = %s, want the provider's bytes", e.Body)
				}
				return
			}
			var m map[string]any
			if err := json.Unmarshal(e.Body, &m); err != nil {
				t.Fatalf("Body %s: %v", e.Body, err)
			}
			if m["error"] != c.code || m["error_description"] != c.desc {
				t.Errorf("Body %s: want error %q and error_description %q", e.Body, c.code, c.desc)
			}
			var in map[string]any
			if json.Unmarshal([]byte(c.body), &in) == nil {
				for k, v := range in {
					if k != "error" && k != "error_description" && fmt.Sprint(m[k]) != fmt.Sprint(v) {
						t.Errorf("member %s = %v, want the provider's %v", k, m[k], v)
					}
				}
			}
		})
	}
}
