package flow

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"handoff/internal/mockprovider"
)

// The refresh grant: the provider's answer passed on, with the plugin's
// refresh token added when the provider keeps the old one.

func TestRefresh(t *testing.T) {
	t.Parallel()
	const rt = `1//0g-"quoted"+/=é\u2028`
	cases := []struct {
		name, contentType, body string
		want                    string // "" means: the provider's bytes
		wantAdded               bool
	}{
		{"omits refresh_token (Google)", "application/json", `{"access_token":"ya29.new","expires_in":3599,"scope":"a b","token_type":"Bearer"}`, "", true},
		{"omits, odd spacing and trailing newline", "application/json", "{ \"access_token\" : \"x\" ,\"token_type\":\"bearer\" }\n", "", true},
		{"sends its own (rotated)", "application/json", `{"access_token":"x","refresh_token":"rotated","token_type":"bearer"}`, "", false},
		{"sends the same one", "application/json", `{"refresh_token":"` + "same" + `","access_token":"x"}`, "", false},
		{"form-encoded", "application/x-www-form-urlencoded", "access_token=x&expires_in=60&token_type=bearer",
			`{"access_token":"x","expires_in":60,"token_type":"bearer","refresh_token":"1//0g-\"quoted\"+/=é\\u2028"}`, true},
		{"form-encoded with refresh_token", "application/x-www-form-urlencoded", "access_token=x&refresh_token=new",
			`{"access_token":"x","refresh_token":"new"}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, reply(200, c.contentType, c.body))
			b := newBroker(t, f.config(Config{AuthStyle: AuthBasic}))
			got, err := b.Refresh(context.Background(), rt)
			if err != nil {
				t.Fatal(err)
			}
			m := jsonObject(t, got)
			switch {
			case c.want != "":
				if string(got) != c.want {
					t.Errorf("Refresh =\n%s\nwant\n%s", got, c.want)
				}
			case !c.wantAdded:
				if string(got) != c.body {
					t.Errorf("Refresh =\n%s\nwant the provider's bytes\n%s", got, c.body)
				}
			default:
				// The provider's bytes up to its closing brace, untouched.
				end := strings.LastIndexByte(c.body, '}')
				prefix := strings.TrimRight(c.body[:end], " ")
				if !bytes.HasPrefix(got, []byte(prefix)) || !bytes.HasSuffix(got, []byte(c.body[end:])) {
					t.Errorf("Refresh =\n%q\ndoes not keep the provider's bytes\n%q", got, c.body)
				}
			}
			if c.wantAdded && m["refresh_token"] != rt {
				t.Errorf("refresh_token = %v, want the one sent", m["refresh_token"])
			}
			r := f.requests()[0]
			if r.Path != "/token" || r.Form.Get("grant_type") != "refresh_token" || r.Form.Get("refresh_token") != rt ||
				!r.HasBasic || r.Form.Has("client_secret") || r.Form.Has("code_verifier") || r.Form.Has("redirect_uri") {
				t.Errorf("refresh request %s %v basic=%v", r.Path, r.Form, r.HasBasic)
			}
		})
	}
}

func TestRefreshErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		token  func(http.ResponseWriter, *http.Request, seen)
		kind   Kind
		code   string
		status int
		body   string // Error.Body, when the provider's JSON is passed on
	}{
		{"400 invalid_grant", reply(400, "application/json", `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`),
			KindProviderRejected, "invalid_grant", 400, `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`},
		{"401 invalid_client", reply(401, "application/json", `{"error":"invalid_client"}`), KindProviderRejected, "invalid_client", 401, `{"error":"invalid_client"}`},
		{"400 not JSON", reply(400, "text/plain", "bad"), KindProviderRejected, "invalid_grant", 400, ""},
		{"200 with error", reply(200, "application/json", `{"error":"bad_refresh_token"}`), KindProviderRejected, "bad_refresh_token", 200, `{"error":"bad_refresh_token"}`},
		{"200 ok:false", reply(200, "application/json", `{"ok":false,"error":"invalid_refresh_token"}`), KindProviderRejected, "invalid_refresh_token", 200, `{"ok":false,"error":"invalid_refresh_token"}`},
		{"200 no access token", reply(200, "application/json", `{"refresh_token":"x"}`), KindProviderFailed, "server_error", 200, ""},
		{"500", reply(500, "application/json", `{"error":"internal"}`), KindProviderFailed, "server_error", 500, ""},
		{"HTML", reply(200, "text/html", "<html>"), KindProviderFailed, "server_error", 200, ""},
		{"slow", slowly(30 * time.Second), KindProviderTimeout, "temporarily_unavailable", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, c.token)
			b := newBroker(t, f.config(Config{ProviderTimeout: timeoutFor(c.kind)}))
			_, err := b.Refresh(context.Background(), "the-refresh-token")
			e := ferr(t, err, c.kind, c.code)
			if e.Status != c.status {
				t.Errorf("Status = %d, want %d", e.Status, c.status)
			}
			if string(e.Body) != c.body {
				t.Errorf("Body = %q, want %q", e.Body, c.body)
			}
			secretsAbsent(t, err, "the-refresh-token", testClientSecret)
		})
	}
	t.Run("empty token", func(t *testing.T) {
		t.Parallel()
		f, b := grantingFake(t, Config{})
		_, err := b.Refresh(context.Background(), "")
		ferr(t, err, KindInvalidRequest, "invalid_request")
		if f.hits.Load() != 0 {
			t.Error("an empty refresh token reached the provider")
		}
	})
}

func TestRefreshEndpoint(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, s seen) {
		if r.URL.Path != "/refresh" {
			reply(400, "application/json", `{"error":"unsupported_grant_type"}`)(w, r, s)
			return
		}
		reply(200, "application/json", `{"access_token":"a"}`)(w, r, s)
	})
	cfg := f.config(Config{})
	cfg.RefreshEndpoint = f.srv.URL + "/refresh"
	b := newBroker(t, cfg)
	got, err := b.Refresh(context.Background(), "rt")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"access_token":"a","refresh_token":"rt"}` {
		t.Errorf("Refresh = %s", got)
	}
}

// Against the mock provider: with and without rotation, after a real login.
func TestRefreshMockProvider(t *testing.T) {
	t.Parallel()
	for _, rotate := range []bool{false, true} {
		p, srv := mockProvider(t, mockprovider.Options{RotateRefreshTokens: rotate, AcceptBasic: true})
		b := newBroker(t, mockConfig(srv, Config{AuthStyle: AuthBasic, PKCE: true}))
		l, _ := mustLogin(t, b)
		var first struct {
			RefreshToken string `json:"refresh_token"`
		}
		json.Unmarshal(mustPoll(t, b, l.ReadKey), &first)
		rt := first.RefreshToken
		var answers [][]byte
		for i := range 3 {
			got, err := b.Refresh(context.Background(), rt)
			if err != nil {
				t.Fatalf("rotate=%v refresh %d: %v", rotate, i, err)
			}
			var r struct {
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
			}
			if err := json.Unmarshal(got, &r); err != nil {
				t.Fatal(err)
			}
			if r.AccessToken == "" || r.RefreshToken == "" {
				t.Fatalf("refresh answer %s", got)
			}
			if rotate == (r.RefreshToken == rt) {
				t.Errorf("rotate=%v: refresh_token %q after sending %q", rotate, r.RefreshToken, rt)
			}
			answers = append(answers, got)
			rt = r.RefreshToken // what a plugin that stores the whole answer does
		}
		if rotate {
			// Within REFRESH_REPLAY_TTL a rotated-away token gets its
			// answer again; past it (the store emptied here), the
			// provider refuses it, with its JSON.
			if again, err := b.Refresh(context.Background(), first.RefreshToken); err != nil || !bytes.Equal(again, answers[0]) {
				t.Errorf("the first token again: %s, %v; want its first answer", again, err)
			}
			b.replays.Purge()
			_, err := b.Refresh(context.Background(), first.RefreshToken)
			e := ferr(t, err, KindProviderRejected, "invalid_grant")
			if e.Status != 400 || !json.Valid(e.Body) {
				t.Errorf("Status %d Body %s", e.Status, e.Body)
			}
			if n := p.TokenRequests(); n != 5 {
				t.Errorf("%d token requests, want 5 (a login, 3 refreshes, the refused one)", n)
			}
		} else {
			// The provider keeps the token: the same token within
			// REFRESH_REPLAY_TTL gets the same answer, without a call.
			if !bytes.Equal(answers[1], answers[0]) || !bytes.Equal(answers[2], answers[0]) {
				t.Errorf("answers to one token within the replay TTL differ:\n%s", bytes.Join(answers, []byte("\n")))
			}
			if n := p.TokenRequests(); n != 2 {
				t.Errorf("%d token requests, want 2 (a login, one refresh)", n)
			}
		}
	}
}

func TestWithRefreshToken(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{`{"a":1}`, `{"a":1,"refresh_token":"rt"}`},
		{`{}`, `{"refresh_token":"rt"}`},
		{"{ \n }", "{ \n \"refresh_token\":\"rt\"}"},
		{` {"a":"}"} `, ` {"a":"}","refresh_token":"rt"} `},
		{`{"refresh_token":"kept"}`, `{"refresh_token":"kept"}`},
		{`{"nested":{"refresh_token":"x"}}`, `{"nested":{"refresh_token":"x"},"refresh_token":"rt"}`},
	}
	for _, c := range cases {
		got := withRefreshToken([]byte(c.in), "rt", "")
		if string(got) != c.want {
			t.Errorf("withRefreshToken(%q) = %q, want %q", c.in, got, c.want)
		}
		if !json.Valid(got) {
			t.Errorf("withRefreshToken(%q) = %q, not JSON", c.in, got)
		}
	}
}

// Where a preset says tokens sit (Slack's user tokens under authed_user),
// the refresh token the plugin sent goes there, and only when that place
// has none: never a stale one at the top level beside a rotated one below
// (issue 14).
func TestWithRefreshTokenWhereTokensSit(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{"user token below, rotated refresh token below",
			`{"ok":true,"authed_user":{"access_token":"xoxp","refresh_token":"new"}}`,
			`{"ok":true,"authed_user":{"access_token":"xoxp","refresh_token":"new"}}`},
		{"user token below, no refresh token",
			`{"ok":true,"authed_user":{"id":"U1","access_token":"xoxp"},"team":{"id":"T1"}}`,
			`{"ok":true,"authed_user":{"id":"U1","access_token":"xoxp","refresh_token":"rt"},"team":{"id":"T1"}}`},
		{"spaces kept", "{ \"authed_user\" : { \"access_token\" : \"x\" } }",
			"{ \"authed_user\" : { \"access_token\" : \"x\" ,\"refresh_token\":\"rt\"} }"},
		{"top-level token (a refresh answer)",
			`{"ok":true,"access_token":"xoxe.xoxp","token_type":"user"}`,
			`{"ok":true,"access_token":"xoxe.xoxp","token_type":"user","refresh_token":"rt"}`},
		{"top-level token, refresh token below",
			`{"access_token":"xoxb","authed_user":{"id":"U1","refresh_token":"new"}}`,
			`{"access_token":"xoxb","authed_user":{"id":"U1","refresh_token":"new"}}`},
		{"top-level refresh token", `{"access_token":"a","refresh_token":"new","authed_user":{"access_token":"b"}}`,
			`{"access_token":"a","refresh_token":"new","authed_user":{"access_token":"b"}}`},
		{"authed_user not an object", `{"access_token":"a","authed_user":"U1"}`,
			`{"access_token":"a","authed_user":"U1","refresh_token":"rt"}`},
		{"duplicate member: the last one counts",
			`{"authed_user":{"x":1},"authed_user":{"access_token":"b"}}`,
			`{"authed_user":{"x":1},"authed_user":{"access_token":"b","refresh_token":"rt"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := withRefreshToken([]byte(c.in), "rt", "authed_user")
			if string(got) != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
			if !json.Valid(got) {
				t.Errorf("%s is not JSON", got)
			}
		})
	}
}
