package flow

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Each preset against a fake of its provider, over real loopback HTTP. A
// fake does what the provider's current documentation says (the doc each
// case names) and nothing more: it requires the documented client
// authentication, body format, parameters and PKCE, issues a refresh token
// only on the documented conditions, answers and refuses in the provider's
// shape. Where the documentation is silent (PKCE with a secret, a second
// body format, which scope separator), the fake takes either, and the case
// says so. The broker's Config is built from the preset the way package
// config builds it, with only the scheme and host of each endpoint replaced
// by the fake's; template variables ({shop}, {tenant}) are filled with the
// case's values here, since filling them per login is the Vars mechanism's
// job. The expectations are stated independently of presets.go, so a
// preset that sends the wrong request fails.

// credStyle is how a provider takes the client's credentials.
type credStyle int

const (
	credPost   credStyle = iota // in the body (client_secret_post)
	credBasic                   // HTTP Basic (client_secret_basic)
	credEither                  // the provider documents both
	credNone                    // none needed (Google's and Salesforce's revocation)
)

// fakeBody is the token request body a provider takes.
type fakeBody int

const (
	bodyForm fakeBody = iota
	bodyJSON
	bodyFormOrJSON // the provider documents both, or its docs are unclear
)

// refreshKind is what a provider's refresh does with refresh tokens.
type refreshKind int

const (
	refreshNone   refreshKind = iota // no refresh tokens at all
	refreshKeep                      // the answer has none; the old one stays valid
	refreshSame                      // the answer repeats the one sent
	refreshNew                       // a new one; the docs do not say the old one dies, so it stays valid
	refreshRotate                    // a new one, and the old one is refused from then on
)

// answerKind is the shape of a provider's success.
type answerKind int

const (
	answerRFC answerKind = iota
	answerGitHub
	answerSlackBot  // ok:true, the bot token at the top level
	answerSlackUser // ok:true, only user scopes: the tokens under authed_user
	answerSalesforce
	answerMailchimp
)

// refusalKind is the shape of a provider's refusal.
type refusalKind int

const (
	refuseRFC       refusalKind = iota // 4xx {"error", "error_description"}
	refuseGitHub                       // HTTP 200 {"error", "error_description", "error_uri"}
	refuseSlack                        // HTTP 200 {"ok": false, "error"}
	refuseFigma                        // 4xx {"error": true, "status", "message"}
	refuseTwitch                       // 4xx {"status", "message"}
	refuseZoom                         // 4xx {"reason", "error"}
	refusePinterest                    // 4xx {"code", "message"}
)

type fakeSpec struct {
	doc                      string // the documentation this fake follows
	authorizePath, tokenPath string
	refreshPaths             []string // besides tokenPath, where a refresh grant is taken
	revokePath               string   // the documented revocation endpoint, if any
	revokeCred               credStyle
	cred                     credStyle
	body                     fakeBody
	pkceRequired             bool // else a challenge is optional, and checked when sent
	params                   url.Values
	scopeSeps                string // the separators taken between scopes
	// The documented conditions for a refresh token: authorize parameters,
	// one of some scopes, code-exchange parameters.
	offline       url.Values
	offlineScopes []string
	offlineToken  url.Values
	refresh       refreshKind
	answer        answerKind
	tokensAt      string // where the login's tokens sit ("" = top level)
	redirectExtra url.Values
	refusal       refusalKind
	// The provider's own codes for a bad code and a bad refresh token
	// (invalid_grant when empty), the status of a refused refresh (400
	// when 0), and what handoff reports for both (invalid_grant when empty).
	badCode, badRefresh string
	refreshStatus       int
	want                string
}

type presetCase struct {
	name, preset string
	scope        []string
	vars         map[string]string // template variables' values
	params       url.Values        // AUTHORIZE_PARAMS the author adds (Slack's user_scope)
	noRefresh    bool              // no refresh token is wanted: the provider issues none here
	fake         fakeSpec
}

var presetCases = []presetCase{
	{name: "google", preset: "google", scope: []string{"openid", "https://www.googleapis.com/auth/spreadsheets"}, fake: fakeSpec{
		doc:           "https://developers.google.com/identity/protocols/oauth2/web-server",
		authorizePath: "/o/oauth2/v2/auth", tokenPath: "/token", revokePath: "/revoke", revokeCred: credNone,
		// The guide shows client_secret_post only; PKCE is optional.
		cred: credPost, scopeSeps: " ",
		offline: url.Values{"access_type": {"offline"}},
		refresh: refreshKeep,
	}},
	{name: "github (GitHub App, expiring user tokens)", preset: "github", scope: []string{"repo", "read:user"}, fake: fakeSpec{
		doc: "https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens; " +
			"https://docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors",
		authorizePath: "/login/oauth/authorize", tokenPath: "/login/oauth/access_token",
		revokePath: "/applications/" + presetClientID + "/grant", revokeCred: credBasic,
		// The docs show client_id and client_secret as body parameters;
		// Basic is not mentioned. PKCE (S256) is optional.
		cred: credPost, scopeSeps: " ",
		refresh: refreshRotate, answer: answerGitHub, refusal: refuseGitHub,
		// bad_refresh_token is not on GitHub's list (public clients see it).
		badCode: "bad_verification_code", badRefresh: "bad_refresh_token",
	}},
	{name: "github (OAuth app)", preset: "github", scope: []string{"repo", "read:user"}, noRefresh: true, fake: fakeSpec{
		doc:           "https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps",
		authorizePath: "/login/oauth/authorize", tokenPath: "/login/oauth/access_token",
		cred: credPost, scopeSeps: " ",
		refresh: refreshNone, answer: answerGitHub, refusal: refuseGitHub, badCode: "bad_verification_code",
	}},
	{name: "notion", preset: "notion", fake: fakeSpec{
		doc:           "https://developers.notion.com/reference/create-a-token; https://developers.notion.com/reference/refresh-a-token",
		authorizePath: "/v1/oauth/authorize", tokenPath: "/v1/oauth/token", revokePath: "/v1/oauth/revoke", revokeCred: credBasic,
		// Notion documents no PKCE (silent: a challenge is taken and
		// ignored here) and no scopes. Its error body is unverified
		// (RFC-style per a third-party blog).
		cred: credBasic, body: bodyJSON, params: url.Values{"owner": {"user"}},
		refresh: refreshRotate,
	}},
	{name: "hubspot", preset: "hubspot", scope: []string{"oauth", "crm.objects.contacts.read"}, fake: fakeSpec{
		doc:           "https://developers.hubspot.com/docs/api-reference/2026-03/authentication/oauth-tokens/refresh-oauth-token",
		authorizePath: "/oauth/authorize", tokenPath: "/oauth/2026-03/token", revokePath: "/oauth/2026-03/token/revoke", revokeCred: credPost,
		// Whether 2026-03 repeats the refresh token (v1 did) is not
		// restated: the fake repeats it.
		cred: credPost, scopeSeps: " ", refresh: refreshSame,
	}},
	{name: "airtable", preset: "airtable", scope: []string{"data.records:read", "schema.bases:read"}, fake: fakeSpec{
		doc:           "https://airtable.com/developers/web/api/oauth-reference",
		authorizePath: "/oauth2/v1/authorize", tokenPath: "/oauth2/v1/token",
		cred: credBasic, pkceRequired: true, scopeSeps: " ", refresh: refreshRotate,
	}},
	{name: "dropbox", preset: "dropbox", scope: []string{"files.content.read", "account_info.read"}, fake: fakeSpec{
		doc:           "https://developers.dropbox.com/oauth-guide",
		authorizePath: "/oauth2/authorize", tokenPath: "/oauth2/token",
		cred: credEither, scopeSeps: " ",
		offline: url.Values{"token_access_type": {"offline"}}, refresh: refreshKeep,
	}},
	{name: "slack (bot scopes)", preset: "slack", scope: []string{"channels:read", "chat:write"}, fake: fakeSpec{
		doc: "https://docs.slack.dev/reference/methods/oauth.v2.access; https://docs.slack.dev/authentication/using-token-rotation; " +
			"refresh answer: https://docs.slack.dev/tools/node-slack-sdk/reference/oauth/interfaces/OAuthV2TokenRefreshResponse",
		authorizePath: "/oauth/v2/authorize", tokenPath: "/api/oauth.v2.access",
		// Basic preferred, body parameters accepted; form or JSON bodies.
		// What Slack does with a code_challenge from an app that is not a
		// public client is not documented: taken here.
		cred: credEither, body: bodyFormOrJSON, scopeSeps: ",",
		refresh: refreshRotate, answer: answerSlackBot, refusal: refuseSlack,
		// invalid_refresh_token: unverified on oauth.v2.access's page.
		badCode: "invalid_code", badRefresh: "invalid_refresh_token",
	}},
	{name: "slack (user scopes only)", preset: "slack", params: url.Values{"user_scope": {"search:read"}}, fake: fakeSpec{
		doc:           "https://docs.slack.dev/authentication/using-token-rotation",
		authorizePath: "/oauth/v2/authorize", tokenPath: "/api/oauth.v2.access",
		cred: credEither, body: bodyFormOrJSON, scopeSeps: ",",
		refresh: refreshRotate, answer: answerSlackUser, tokensAt: "authed_user", refusal: refuseSlack,
		badCode: "invalid_code", badRefresh: "invalid_refresh_token",
	}},
	{name: "microsoft (offline_access)", preset: "microsoft", vars: map[string]string{"tenant": "contoso.onmicrosoft.com"},
		scope: []string{"openid", "offline_access", "User.Read"}, fake: fakeSpec{
			doc:           "https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow; https://learn.microsoft.com/en-us/entra/identity-platform/refresh-tokens",
			authorizePath: "/contoso.onmicrosoft.com/oauth2/v2.0/authorize", tokenPath: "/contoso.onmicrosoft.com/oauth2/v2.0/token",
			// The auth-code page shows body credentials only.
			cred: credPost, scopeSeps: " ",
			offlineScopes: []string{"offline_access"}, refresh: refreshNew, // the old one is not revoked
		}},
	{name: "microsoft (no offline_access)", preset: "microsoft", vars: map[string]string{"tenant": "common"},
		scope: []string{"openid", "User.Read"}, noRefresh: true, fake: fakeSpec{
			doc:           "https://learn.microsoft.com/en-us/entra/identity-platform/scopes-oidc",
			authorizePath: "/common/oauth2/v2.0/authorize", tokenPath: "/common/oauth2/v2.0/token",
			cred: credPost, scopeSeps: " ",
			offlineScopes: []string{"offline_access"}, refresh: refreshNew,
		}},
	{name: "linear", preset: "linear", scope: []string{"read", "write"}, fake: fakeSpec{
		doc:           "https://linear.app/developers/oauth-2-0-authentication",
		authorizePath: "/oauth/authorize", tokenPath: "/oauth/token",
		// Rotation is unverified: a new refresh token, the old one kept.
		cred: credPost, scopeSeps: ",", refresh: refreshNew,
	}},
	{name: "figma", preset: "figma", scope: []string{"current_user:read", "file_content:read"}, fake: fakeSpec{
		doc:           "https://developers.figma.com/docs/rest-api/authentication/; changelog 2025-05-16 (refresh at the token endpoint)",
		authorizePath: "/oauth", tokenPath: "/v1/oauth/token",
		// The deprecated refresh endpoint still answers.
		refreshPaths: []string{"/v1/oauth/refresh"},
		// Figma's page seen says nothing of PKCE or the scope separator:
		// either is taken. Whether the token endpoint's refresh answer
		// carries a refresh token is not documented: it does not here.
		cred: credBasic, scopeSeps: " ,", refresh: refreshKeep, refusal: refuseFigma,
	}},
	{name: "spotify", preset: "spotify", scope: []string{"user-read-email", "playlist-read-private"}, fake: fakeSpec{
		doc:           "https://developer.spotify.com/documentation/web-api/tutorials/code-flow",
		authorizePath: "/authorize", tokenPath: "/api/token",
		// PKCE with a secret is not documented: a challenge is taken.
		cred: credBasic, scopeSeps: " ", refresh: refreshKeep,
	}},
	{name: "shopify", preset: "shopify", vars: map[string]string{"shop": "handoff-test"}, scope: []string{"read_products", "write_orders"}, fake: fakeSpec{
		doc: "https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant; " +
			"https://shopify.dev/changelog/offline-access-tokens-now-support-expiry-and-refresh",
		authorizePath: "/admin/oauth/authorize", tokenPath: "/admin/oauth/access_token",
		// Form or JSON (Shopify's libraries send JSON; the page was not
		// read), PKCE not documented, the refusal shape unverified.
		cred: credPost, body: bodyFormOrJSON, scopeSeps: ",",
		offlineToken: url.Values{"expiring": {"1"}}, refresh: refreshRotate,
		redirectExtra: url.Values{"shop": {"handoff-test.myshopify.com"}, "hmac": {"0f"}, "timestamp": {"1700000000"}, "host": {"aGFuZG9mZg"}},
	}},
	{name: "atlassian", preset: "atlassian", scope: []string{"read:jira-work", "offline_access"}, fake: fakeSpec{
		doc:           "https://developer.atlassian.com/cloud/oauth/getting-started/implementing-oauth-3lo",
		authorizePath: "/authorize", tokenPath: "/oauth/token",
		// PKCE is not mentioned. A dead refresh token: 403 invalid_grant
		// (unverified: a third-party blog quoting Atlassian).
		cred: credPost, body: bodyJSON, scopeSeps: " ",
		params:        url.Values{"audience": {"api.atlassian.com"}, "prompt": {"consent"}},
		offlineScopes: []string{"offline_access"}, refresh: refreshRotate, refreshStatus: http.StatusForbidden,
	}},
	{name: "salesforce", preset: "salesforce", scope: []string{"api", "refresh_token"}, fake: fakeSpec{
		doc: "https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_web_server_flow.htm; " +
			"https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_refresh_token_flow.htm",
		authorizePath: "/services/oauth2/authorize", tokenPath: "/services/oauth2/token",
		revokePath: "/services/oauth2/revoke", revokeCred: credNone,
		cred: credPost, scopeSeps: " ",
		offlineScopes: []string{"refresh_token", "offline_access"}, refresh: refreshKeep, answer: answerSalesforce,
	}},
	{name: "zendesk", preset: "zendesk", vars: map[string]string{"subdomain": "handoff-test"}, scope: []string{"read", "write"}, fake: fakeSpec{
		doc: "https://developer.zendesk.com/api-reference/ticketing/oauth/grant_type_tokens/; " +
			"https://developer.zendesk.com/documentation/api-basics/authentication/refresh-token",
		authorizePath: "/oauth/authorizations/new", tokenPath: "/oauth/tokens",
		// Whether the old refresh token dies is not shown.
		cred: credPost, body: bodyJSON, scopeSeps: " ", refresh: refreshNew,
	}},
	{name: "x", preset: "x", scope: []string{"tweet.read", "users.read", "offline.access"}, fake: fakeSpec{
		doc:           "https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code; https://docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token",
		authorizePath: "/i/oauth2/authorize", tokenPath: "/2/oauth2/token", revokePath: "/2/oauth2/revoke", revokeCred: credBasic,
		cred: credBasic, pkceRequired: true, scopeSeps: " ",
		offlineScopes: []string{"offline.access"}, refresh: refreshRotate,
		// X's refusals of a used code or token (unverified, observed):
		// invalid_request, passed on as such.
		badCode: "invalid_request", badRefresh: "invalid_request", want: "invalid_request",
	}},
	{name: "linkedin (approved for programmatic refresh)", preset: "linkedin", scope: []string{"openid", "profile", "email"}, fake: fakeSpec{
		doc:           "https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens",
		authorizePath: "/oauth/v2/authorization", tokenPath: "/oauth/v2/accessToken", revokePath: "/oauth/v2/revoke", revokeCred: credPost,
		// PKCE for web apps: not documented. Refusals with invalid_request
		// (unverified).
		cred: credPost, scopeSeps: " ", refresh: refreshSame,
		badCode: "invalid_request", badRefresh: "invalid_request", want: "invalid_request",
	}},
	{name: "linkedin (most apps)", preset: "linkedin", scope: []string{"openid", "profile"}, noRefresh: true, fake: fakeSpec{
		doc:           "https://learn.microsoft.com/en-us/linkedin/shared/authentication/authorization-code-flow",
		authorizePath: "/oauth/v2/authorization", tokenPath: "/oauth/v2/accessToken",
		cred: credPost, scopeSeps: " ", refresh: refreshNone,
		badCode: "invalid_request", want: "invalid_request",
	}},
	{name: "canva", preset: "canva", scope: []string{"design:meta:read", "profile:read"}, fake: fakeSpec{
		doc:           "https://www.canva.dev/docs/connect/authentication/; https://canva.dev/docs/connect/api-reference/authentication/generate-access-token",
		authorizePath: "/api/oauth/authorize", tokenPath: "/rest/v1/oauth/token", revokePath: "/rest/v1/oauth/revoke", revokeCred: credEither,
		// Basic recommended, body credentials accepted. The case of
		// code_challenge_method is not checked (Canva's examples: s256).
		cred: credEither, pkceRequired: true, scopeSeps: " ", refresh: refreshRotate,
	}},
	{name: "miro", preset: "miro", scope: []string{"boards:read", "boards:write"}, fake: fakeSpec{
		doc:           "https://developers.miro.com/docs/getting-started-with-oauth; https://developers.miro.com/reference/get-new-access-token-using-refresh-token",
		authorizePath: "/oauth/authorize", tokenPath: "/v1/oauth/token",
		// An app created with expiring tokens. PKCE and error codes: not
		// documented.
		cred: credPost, scopeSeps: " ", refresh: refreshRotate,
	}},
	{name: "zoom", preset: "zoom", fake: fakeSpec{
		doc:           "https://developers.zoom.us/docs/integrations/oauth/",
		authorizePath: "/oauth/authorize", tokenPath: "/oauth/token", revokePath: "/oauth/revoke", revokeCred: credBasic,
		// Scopes are set on the app. Single-use refresh tokens and the
		// refusal shape are unverified.
		cred: credBasic, refresh: refreshRotate, refusal: refuseZoom,
		badCode: "invalid_request", badRefresh: "invalid_request", want: "invalid_request",
	}},
	{name: "discord", preset: "discord", scope: []string{"identify", "email"}, fake: fakeSpec{
		doc:           "https://discord.com/developers/docs/topics/oauth2; https://discord.com/.well-known/oauth-authorization-server",
		authorizePath: "/oauth2/authorize", tokenPath: "/api/oauth2/token", revokePath: "/api/oauth2/token/revoke", revokeCred: credEither,
		cred: credEither, scopeSeps: " ", refresh: refreshNew,
	}},
	{name: "twitch", preset: "twitch", scope: []string{"user:read:email"}, fake: fakeSpec{
		doc:           "https://dev.twitch.tv/docs/authentication/getting-tokens-oauth/; https://dev.twitch.tv/docs/authentication/refresh-tokens/",
		authorizePath: "/oauth2/authorize", tokenPath: "/oauth2/token", revokePath: "/oauth2/revoke", revokeCred: credNone,
		// "The refresh token may change": a new one, the old one kept.
		cred: credPost, scopeSeps: " ", refresh: refreshNew, refusal: refuseTwitch,
	}},
	{name: "asana", preset: "asana", scope: []string{"tasks:read", "projects:read"}, fake: fakeSpec{
		doc:           "https://developers.asana.com/docs/oauth",
		authorizePath: "/-/oauth_authorize", tokenPath: "/-/oauth_token", revokePath: "/-/oauth_revoke", revokeCred: credPost,
		cred: credPost, scopeSeps: " ", refresh: refreshKeep,
	}},
	{name: "gitlab", preset: "gitlab", scope: []string{"read_user", "api"}, fake: fakeSpec{
		doc:           "https://docs.gitlab.com/api/oauth2/",
		authorizePath: "/oauth/authorize", tokenPath: "/oauth/token", revokePath: "/oauth/revoke", revokeCred: credEither,
		// Rotation is Doorkeeper's default, not stated on the page.
		cred: credEither, scopeSeps: " ", refresh: refreshNew,
	}},
	{name: "box", preset: "box", fake: fakeSpec{
		doc:           "https://developer.box.com/guides/authentication/oauth2/; https://developer.box.com/guides/authentication/tokens/refresh",
		authorizePath: "/api/oauth2/authorize", tokenPath: "/oauth2/token", revokePath: "/oauth2/revoke", revokeCred: credPost,
		cred: credPost, refresh: refreshRotate,
	}},
	{name: "pinterest", preset: "pinterest", scope: []string{"boards:read", "pins:read"}, fake: fakeSpec{
		doc:           "https://developers.pinterest.com/docs/getting-started/set-up-authentication-and-authorization/",
		authorizePath: "/oauth/", tokenPath: "/v5/oauth/token",
		// The separator and the refusal shape are unverified; whether a
		// refresh answer carries a refresh token depends on continuous
		// refresh, which is not asked for.
		cred: credBasic, scopeSeps: " ,", refresh: refreshKeep, refusal: refusePinterest,
	}},
	{name: "typeform", preset: "typeform", scope: []string{"forms:read", "offline"}, fake: fakeSpec{
		doc:           "https://www.typeform.com/developers/get-started/applications/; https://www.typeform.com/developers/get-started/scopes/",
		authorizePath: "/oauth/authorize", tokenPath: "/oauth/token",
		cred: credPost, scopeSeps: " ", offlineScopes: []string{"offline"}, refresh: refreshNew,
	}},
	{name: "mailchimp", preset: "mailchimp", noRefresh: true, fake: fakeSpec{
		doc:           "https://mailchimp.com/developer/marketing/guides/access-user-data-oauth-2/",
		authorizePath: "/oauth2/authorize", tokenPath: "/oauth2/token",
		cred: credPost, refresh: refreshNone, answer: answerMailchimp,
	}},
	{name: "calendly", preset: "calendly", fake: fakeSpec{
		doc: "https://developer.calendly.com/how-to-access-calendly-data-on-behalf-of-authenticated-users; " +
			"https://developer.calendly.com/refresh-token-rotation-guide",
		authorizePath: "/oauth/authorize", tokenPath: "/oauth/token", revokePath: "/oauth/revoke", revokeCred: credPost,
		// Basic as well as body credentials: unverified, so both are taken.
		cred: credEither, refresh: refreshRotate,
	}},
	{name: "webflow", preset: "webflow", scope: []string{"sites:read", "cms:read"}, noRefresh: true, fake: fakeSpec{
		doc:           "https://developers.webflow.com/data/reference/oauth-app",
		authorizePath: "/oauth/authorize", tokenPath: "/oauth/access_token",
		cred: credPost, scopeSeps: " ", refresh: refreshNone,
	}},
	{name: "intercom", preset: "intercom", noRefresh: true, fake: fakeSpec{
		doc:           "https://developers.intercom.com/docs/build-an-integration/learn-more/authentication/setting-up-oauth",
		authorizePath: "/oauth", tokenPath: "/auth/eagle/token",
		cred: credPost, refresh: refreshNone,
	}},
	{name: "reddit", preset: "reddit", scope: []string{"identity", "read"}, fake: fakeSpec{
		doc:           "https://github.com/reddit-archive/reddit/wiki/OAuth2",
		authorizePath: "/api/v1/authorize", tokenPath: "/api/v1/access_token", revokePath: "/api/v1/revoke_token", revokeCred: credBasic,
		cred: credBasic, scopeSeps: " ", offline: url.Values{"duration": {"permanent"}}, refresh: refreshKeep,
	}},
	{name: "stripe", preset: "stripe", scope: []string{"read_write"}, fake: fakeSpec{
		doc:           "https://docs.stripe.com/connect/oauth-reference",
		authorizePath: "/oauth/authorize", tokenPath: "/oauth/token",
		cred: credPost, scopeSeps: " ", refresh: refreshSame,
	}},
}

// presetFake is the fake provider for one case.
type presetFake struct {
	spec fakeSpec
	srv  *httptest.Server

	mu       sync.Mutex
	codes    map[string]url.Values // code -> the authorize request's query
	refresh  map[string]bool       // valid refresh tokens
	n        int
	last     []byte // the last success answer, as sent
	refuse   string // when set, the next token request is refused with this code
	problems []string
}

const presetClientID, presetSecret = "preset client", "preset:secret+/%"

func newPresetFake(t *testing.T, spec fakeSpec) *presetFake {
	f := &presetFake{spec: spec, codes: map[string]url.Values{}, refresh: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *presetFake) problem(format string, args ...any) string {
	msg := fmt.Sprintf(format, args...)
	f.mu.Lock()
	f.problems = append(f.problems, msg)
	f.mu.Unlock()
	return msg
}

func (f *presetFake) problemList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.problems)
}

func (f *presetFake) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == f.spec.authorizePath:
		f.authorize(w, r)
	case r.Method == http.MethodPost && (r.URL.Path == f.spec.tokenPath || slices.Contains(f.spec.refreshPaths, r.URL.Path)):
		f.token(w, r)
	case f.spec.revokePath != "" && r.URL.Path == f.spec.revokePath:
		f.revoke(w, r)
	default:
		http.Error(w, f.problem("no such endpoint: %s %s", r.Method, r.URL.Path), http.StatusNotFound)
	}
}

// checks collects what is wrong with one request.
type checks []string

func (c *checks) check(ok bool, format string, args ...any) {
	if !ok {
		*c = append(*c, fmt.Sprintf(format, args...))
	}
}

func (f *presetFake) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var bad checks
	bad.check(q.Get("client_id") == presetClientID, "client_id %q", q.Get("client_id"))
	bad.check(q.Get("response_type") == "code", "response_type %q", q.Get("response_type"))
	bad.check(q.Get("redirect_uri") == testRedirectURI, "redirect_uri %q", q.Get("redirect_uri"))
	bad.check(q.Get("state") != "", "no state")
	for k := range f.spec.params {
		bad.check(q.Get(k) == f.spec.params.Get(k), "%s = %q, want %q", k, q.Get(k), f.spec.params.Get(k))
	}
	if s := q.Get("scope"); s != "" && strings.ContainsAny(s, " ,") {
		bad.check(f.spec.scopeSeps != "" && strings.ContainsAny(s, f.spec.scopeSeps) &&
			!strings.ContainsAny(s, strings.Trim(" ,", f.spec.scopeSeps)),
			"scope %q: the provider takes %q between scopes", s, f.spec.scopeSeps)
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	if f.spec.pkceRequired || challenge != "" {
		bad.check(len(challenge) == 43 && strings.EqualFold(method, "S256"),
			"PKCE: code_challenge %q method %q", challenge, method)
	}
	if len(bad) > 0 {
		http.Error(w, f.problem("authorize: %s", strings.Join(bad, "; ")), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.n++
	code := fmt.Sprintf("code-%d", f.n)
	f.codes[code] = q
	f.mu.Unlock()
	back := url.Values{"code": {code}, "state": {q.Get("state")}}
	for k, v := range f.spec.redirectExtra {
		back[k] = v
	}
	http.Redirect(w, r, testRedirectURI+"?"+back.Encode(), http.StatusFound)
}

// credentials checks the client's authentication in s by style.
func credentials(bad *checks, s seen, style credStyle) {
	basic := s.HasBasic && s.BasicUser == presetClientID && s.BasicPass == presetSecret
	body := s.Form.Get("client_id") == presetClientID && s.Form.Get("client_secret") == presetSecret
	switch style {
	case credPost:
		bad.check(body, "client_id and client_secret required in the body")
	case credBasic:
		bad.check(basic, "HTTP Basic credentials required (got basic=%v user %q)", s.HasBasic, s.BasicUser)
	case credEither:
		bad.check(basic || body, "client credentials required, as Basic or in the body")
	}
}

func (f *presetFake) token(w http.ResponseWriter, r *http.Request) {
	s := record(r)
	var bad checks
	ct := r.Header.Get("Content-Type")
	isJSON := ct == "application/json"
	switch f.spec.body {
	case bodyForm:
		bad.check(ct == "application/x-www-form-urlencoded", "Content-Type %q, want a form", ct)
	case bodyJSON:
		bad.check(isJSON, "Content-Type %q, want application/json", ct)
	case bodyFormOrJSON:
		bad.check(isJSON || ct == "application/x-www-form-urlencoded", "Content-Type %q", ct)
	}
	if isJSON {
		var m map[string]any
		bad.check(json.Unmarshal(s.Body, &m) == nil, "body is not a JSON object: %q", s.Body)
	}
	// handoff's own rule (docs/protocol.md#talking-to-the-provider), not the
	// provider's: nothing in the URL of a token request.
	bad.check(r.URL.RawQuery == "", "query %q on a token request", r.URL.RawQuery)
	credentials(&bad, s, f.spec.cred)

	f.mu.Lock()
	refuse := f.refuse
	f.refuse = ""
	f.mu.Unlock()
	grant := s.Form.Get("grant_type")
	switch {
	case grant == "authorization_code" && r.URL.Path == f.spec.tokenPath:
		code := s.Form.Get("code")
		f.mu.Lock()
		aq, ok := f.codes[code]
		delete(f.codes, code)
		f.mu.Unlock()
		if !ok {
			f.refuseWith(w, or(f.spec.badCode, "invalid_grant"), http.StatusBadRequest, "the code is invalid or expired")
			return
		}
		bad.check(s.Form.Get("redirect_uri") == aq.Get("redirect_uri"), "redirect_uri %q", s.Form.Get("redirect_uri"))
		if aq.Has("code_challenge") {
			sum := sha256.Sum256([]byte(s.Form.Get("code_verifier")))
			bad.check(base64.RawURLEncoding.EncodeToString(sum[:]) == aq.Get("code_challenge"), "code_verifier does not match")
		}
		if len(bad) > 0 {
			f.refuseWith(w, "invalid_request", http.StatusBadRequest, f.problem("token: %s", strings.Join(bad, "; ")))
			return
		}
		if refuse != "" {
			f.refuseWith(w, refuse, http.StatusBadRequest, "refused as the test asked")
			return
		}
		f.answerLogin(w, r, aq, s.Form)
	case grant == "refresh_token":
		rt := s.Form.Get("refresh_token")
		f.mu.Lock()
		ok := f.refresh[rt]
		if ok && f.spec.refresh == refreshRotate {
			delete(f.refresh, rt)
		}
		f.mu.Unlock()
		if !ok {
			f.refuseWith(w, or(f.spec.badRefresh, "invalid_grant"), or(f.spec.refreshStatus, http.StatusBadRequest), "the refresh token is invalid")
			return
		}
		bad.check(!s.Form.Has("code") && !s.Form.Has("code_verifier"), "code or verifier in a refresh")
		if len(bad) > 0 {
			f.refuseWith(w, "invalid_request", http.StatusBadRequest, f.problem("refresh: %s", strings.Join(bad, "; ")))
			return
		}
		if refuse != "" {
			f.refuseWith(w, refuse, http.StatusBadRequest, "refused as the test asked")
			return
		}
		f.answerRefresh(w, r, rt)
	default:
		f.refuseWith(w, "unsupported_grant_type", http.StatusBadRequest, f.problem("grant_type %q at %s", grant, r.URL.Path))
	}
}

func or[T comparable](v, fallback T) T {
	var zero T
	if v == zero {
		return fallback
	}
	return v
}

// offline reports whether the login asked for what the provider documents
// as the condition of a refresh token.
func (f *presetFake) offline(aq, exchange url.Values) bool {
	if f.spec.refresh == refreshNone {
		return false
	}
	for k := range f.spec.offline {
		if aq.Get(k) != f.spec.offline.Get(k) {
			return false
		}
	}
	for k := range f.spec.offlineToken {
		if exchange.Get(k) != f.spec.offlineToken.Get(k) {
			return false
		}
	}
	if len(f.spec.offlineScopes) > 0 {
		scopes := strings.FieldsFunc(aq.Get("scope"), func(r rune) bool { return r == ' ' || r == ',' })
		return slices.ContainsFunc(f.spec.offlineScopes, func(s string) bool { return slices.Contains(scopes, s) })
	}
	return true
}

func (f *presetFake) newToken(prefix string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return fmt.Sprintf("%s-%d", prefix, f.n)
}

func (f *presetFake) keep(rt string) {
	f.mu.Lock()
	f.refresh[rt] = true
	f.mu.Unlock()
}

// jsonString is s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (f *presetFake) answerLogin(w http.ResponseWriter, r *http.Request, aq, exchange url.Values) {
	at, rt := f.newToken("at"), ""
	if f.offline(aq, exchange) {
		rt = f.newToken("rt")
		f.keep(rt)
	}
	withRT := func(prefix string) string { // ,"refresh_token":… or nothing
		if rt == "" {
			return ""
		}
		return prefix + `"refresh_token":` + jsonString(rt)
	}
	var body string
	switch f.spec.answer {
	case answerGitHub:
		if rt != "" { // a GitHub App with expiring user tokens
			body = `{"access_token":"` + at + `","expires_in":28800` + withRT(",") + `,"refresh_token_expires_in":15897600,"scope":"","token_type":"bearer"}`
		} else {
			body = `{"access_token":"` + at + `","scope":"repo,read:user","token_type":"bearer"}`
		}
		if !strings.Contains(r.Header.Get("Accept"), "application/json") { // GitHub's default is a form
			var m map[string]any
			json.Unmarshal([]byte(body), &m)
			v := url.Values{}
			for k, x := range m {
				v.Set(k, fmt.Sprint(x))
			}
			f.send(w, "application/x-www-form-urlencoded; charset=utf-8", http.StatusOK, v.Encode())
			return
		}
	case answerSlackBot:
		body = `{"ok":true,"access_token":"xoxb-` + at + `","token_type":"bot","scope":"channels:read,chat:write","bot_user_id":"U0B","app_id":"A1",` +
			`"team":{"id":"T1","name":"Team"},"enterprise":null,"authed_user":{"id":"U1"},"is_enterprise_install":false,"expires_in":43200` + withRT(",") + `}`
	case answerSlackUser:
		body = `{"ok":true,"app_id":"A1","authed_user":{"id":"U1","scope":"search:read","access_token":"xoxp-` + at + `","token_type":"user","expires_in":43200` +
			withRT(",") + `},"team":{"id":"T1","name":"Team"},"enterprise":null,"is_enterprise_install":false}`
	case answerSalesforce: // no expires_in; instance_url is where the API is
		body = `{"access_token":"` + at + `"` + withRT(",") + `,"signature":"c2ln","scope":"api refresh_token","instance_url":"https://handoff-test.my.salesforce.com",` +
			`"id":"https://login.salesforce.com/id/00D/005","token_type":"Bearer","issued_at":"1700000000000"}`
	case answerMailchimp: // never expires: expires_in 0, no scopes
		body = `{"access_token":"` + at + `","expires_in":0,"scope":null}`
	default:
		body = `{"access_token":"` + at + `","token_type":"bearer","expires_in":3599` + withRT(",") + `}`
	}
	f.send(w, "application/json; charset=utf-8", http.StatusOK, body)
}

func (f *presetFake) answerRefresh(w http.ResponseWriter, _ *http.Request, sent string) {
	at := f.newToken("at")
	rt := ""
	switch f.spec.refresh {
	case refreshSame:
		rt = sent
	case refreshNew, refreshRotate:
		rt = f.newToken("rt")
		f.keep(rt)
	}
	withRT := ""
	if rt != "" {
		withRT = `,"refresh_token":` + jsonString(rt)
	}
	var body string
	switch f.spec.answer {
	case answerSlackBot, answerSlackUser: // the refreshed token at the top level, bot or user
		kind := map[answerKind]string{answerSlackBot: "bot", answerSlackUser: "user"}[f.spec.answer]
		body = `{"ok":true,"app_id":"A1","access_token":"xoxe.xox-` + at + `","expires_in":43200` + withRT +
			`,"token_type":"` + kind + `","team":{"id":"T1","name":"Team"},"enterprise":null,"is_enterprise_install":false}`
	case answerGitHub:
		body = `{"access_token":"` + at + `","expires_in":28800` + withRT + `,"refresh_token_expires_in":15897600,"scope":"","token_type":"bearer"}`
	case answerSalesforce:
		body = `{"access_token":"` + at + `","signature":"c2ln","scope":"api refresh_token","instance_url":"https://handoff-test.my.salesforce.com",` +
			`"id":"https://login.salesforce.com/id/00D/005","token_type":"Bearer","issued_at":"1700000000001"}`
	default:
		body = `{"access_token":"` + at + `","token_type":"bearer","expires_in":3599` + withRT + `}`
	}
	f.send(w, "application/json", http.StatusOK, body)
}

func (f *presetFake) send(w http.ResponseWriter, contentType string, status int, body string) {
	if status == http.StatusOK {
		f.mu.Lock()
		f.last = []byte(body)
		f.mu.Unlock()
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// refuseWith writes a refusal in the provider's shape.
func (f *presetFake) refuseWith(w http.ResponseWriter, code string, status int, desc string) {
	var body string
	switch f.spec.refusal {
	case refuseGitHub:
		status = http.StatusOK
		body = `{"error":` + jsonString(code) + `,"error_description":` + jsonString(desc) +
			`,"error_uri":"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"}`
	case refuseSlack:
		status = http.StatusOK
		body = `{"ok":false,"error":` + jsonString(code) + `}`
	case refuseFigma:
		body = fmt.Sprintf(`{"error":true,"status":%d,"message":%s,"i18n":null}`, status, jsonString(desc))
	case refuseTwitch:
		body = fmt.Sprintf(`{"status":%d,"message":%s}`, status, jsonString(desc))
	case refuseZoom:
		body = `{"reason":` + jsonString(desc) + `,"error":` + jsonString(code) + `}`
	case refusePinterest:
		body = `{"code":1,"message":` + jsonString(desc) + `}`
	default:
		body = `{"error":` + jsonString(code) + `,"error_description":` + jsonString(desc) + `}`
	}
	f.send(w, "application/json", status, body)
}

// revoke is the provider's documented revocation endpoint, ready for the
// /revoke mechanism's test below.
func (f *presetFake) revoke(w http.ResponseWriter, r *http.Request) {
	s := record(r)
	var bad checks
	github := strings.HasPrefix(f.spec.revokePath, "/applications/")
	switch {
	case github:
		// GitHub's REST API takes plain HTTP Basic credentials, not the
		// form-encoded ones of RFC 6749 §2.3.1.
		id, secret, ok := r.BasicAuth()
		bad.check(ok && id == presetClientID && secret == presetSecret, "REST API Basic credentials required (got %v %q)", ok, id)
	case f.spec.revokeCred != credNone:
		credentials(&bad, s, f.spec.revokeCred)
	}
	if github { // DELETE, JSON {"access_token"}
		bad.check(r.Method == http.MethodDelete, "method %s, want DELETE", r.Method)
		bad.check(s.Form.Get("access_token") != "", "no access_token in the JSON body")
	} else {
		bad.check(r.Method == http.MethodPost, "method %s, want POST", r.Method)
		bad.check(s.Form.Get("token") != "", "no token")
	}
	if len(bad) > 0 {
		f.refuseWith(w, "invalid_request", http.StatusBadRequest, f.problem("revoke: %s", strings.Join(bad, "; ")))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// presetConfig builds the Config package config would build for the case's
// preset, with the case's scope, AUTHORIZE_PARAMS and template variables,
// pointing at base instead of the provider's host.
func presetConfig(t *testing.T, c presetCase, base string) Config {
	t.Helper()
	p, ok := LookupPreset(c.preset)
	if !ok {
		t.Fatalf("no preset %q", c.preset)
	}
	b := mustParseURL(t, base)
	endpoint := func(raw string) string {
		if raw == "" {
			return ""
		}
		for k, v := range c.vars {
			raw = strings.ReplaceAll(raw, "{"+k+"}", v)
		}
		if strings.Contains(raw, "{") {
			t.Fatalf("%s: %q has a template variable the case gives no value", c.name, raw)
		}
		u := mustParseURL(t, raw)
		u.Scheme, u.Host = b.Scheme, b.Host
		return u.String()
	}
	params, err := url.ParseQuery(p.AuthorizeParams)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.params {
		params[k] = v
	}
	tokenParams, err := url.ParseQuery(p.TokenParams)
	if err != nil {
		t.Fatal(err)
	}
	// The revocation endpoint may keep {client_id}, which the broker fills
	// (GitHub's); only its scheme and host move to the fake.
	revoke := p.RevokeEndpoint
	for k, v := range c.vars {
		revoke = strings.ReplaceAll(revoke, "{"+k+"}", v)
	}
	if scheme, rest, ok := strings.Cut(revoke, "://"); ok && scheme != "" {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			revoke = b.Scheme + "://" + b.Host + rest[i:]
		}
	}
	return Config{
		ClientID:          presetClientID,
		ClientSecret:      presetSecret,
		AuthorizeEndpoint: endpoint(p.AuthorizeEndpoint),
		TokenEndpoint:     endpoint(p.TokenEndpoint),
		RefreshEndpoint:   endpoint(p.RefreshEndpoint),
		RevokeEndpoint:    revoke,
		RevokeStyle:       p.Revoke,
		Scope:             strings.Join(c.scope, or(p.ScopeSeparator, " ")),
		AuthorizeParams:   params,
		PKCE:              p.PKCE,
		AuthStyle:         p.AuthStyle,
		BodyFormat:        p.BodyFormat,
		TokenParams:       tokenParams,
		TokensAt:          p.TokensAt,
		ErrorCodes:        p.ErrorCodes,
		ProviderName:      p.Name,
	}
}

// kindCode reads an *Error's kind and code.
func kindCode(err error) (Kind, string) {
	var e *Error
	if !errors.As(err, &e) {
		return 0, fmt.Sprint(err)
	}
	return e.Kind, e.Code
}

// tokensIn returns the member of answer where the tokens sit: the top level,
// or at when the top level has no access token.
func tokensIn(answer []byte, at string) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(answer, &m); err != nil {
		return nil, fmt.Errorf("answer %s: %v", answer, err)
	}
	if _, ok := m["access_token"]; !ok && at != "" {
		nested, _ := m[at].(map[string]any)
		if nested != nil {
			return nested, nil
		}
	}
	return m, nil
}

// presetScenario runs a login, a refresh and the provider's refusals of a
// bad code and a bad refresh token through a broker made from cfg, and
// returns the first thing that is not as the case says.
func presetScenario(c presetCase, f *presetFake, b *Broker) error {
	ctx := context.Background()
	want := or(c.fake.want, "invalid_grant")
	wantRefresh := c.fake.refresh != refreshNone && !c.noRefresh

	// A login.
	l := b.Authorize()
	resp, err := noFollow.Get(l.URL)
	if err != nil {
		return err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return fmt.Errorf("authorize: HTTP %d: %s", resp.StatusCode, page)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return err
	}
	q := back.Query()
	if err := b.Redirect(ctx, Callback{State: q.Get("state"), Code: q.Get("code")}); err != nil {
		return fmt.Errorf("redirect: %w", err)
	}
	tokens, err := b.Poll(l.ReadKey, PollOptions{})
	if err != nil {
		return fmt.Errorf("poll: %w", err)
	}
	f.mu.Lock()
	sent := string(f.last)
	f.mu.Unlock()
	if string(tokens) != sent {
		return fmt.Errorf("poll gave %s, not the provider's bytes %s", tokens, sent)
	}
	where, err := tokensIn(tokens, c.fake.tokensAt)
	if err != nil {
		return err
	}
	if at, _ := where["access_token"].(string); at == "" {
		return fmt.Errorf("no access token where the tokens sit in %s", tokens)
	}
	rt, _ := where["refresh_token"].(string)
	switch {
	case wantRefresh && rt == "":
		return fmt.Errorf("no refresh token in %s: the preset missed the provider's condition for one", tokens)
	case !wantRefresh && rt != "":
		return fmt.Errorf("a refresh token in %s, where the provider issues none", tokens)
	}

	// A refresh.
	if wantRefresh {
		refreshed, err := b.Refresh(ctx, rt)
		if err != nil {
			return fmt.Errorf("refresh: %w", err)
		}
		r, err := tokensIn(refreshed, c.fake.tokensAt)
		if err != nil {
			return err
		}
		newRT, _ := r["refresh_token"].(string)
		if at, _ := r["access_token"].(string); at == "" || at == where["access_token"] {
			return fmt.Errorf("refresh answer %s: no new access token", refreshed)
		}
		switch c.fake.refresh {
		case refreshKeep, refreshSame:
			if newRT != rt {
				return fmt.Errorf("refresh_token %q after the refresh, want the one sent (%q): %s", newRT, rt, refreshed)
			}
		case refreshNew, refreshRotate:
			if newRT == "" || newRT == rt {
				return fmt.Errorf("refresh_token %q after the refresh, want the provider's new one: %s", newRT, refreshed)
			}
		}
		if strings.Count(string(refreshed), `"refresh_token"`) != 1 {
			return fmt.Errorf("refresh answer %s: not exactly one refresh token", refreshed)
		}
		if c.fake.refresh == refreshRotate { // the old one is dead now
			// Past REFRESH_REPLAY_TTL, the spent token reaches the
			// provider again instead of the kept answer.
			b.replays.Purge()
			_, err := b.Refresh(ctx, rt)
			if k, code := kindCode(err); k != KindProviderRejected || code != want {
				return fmt.Errorf("refresh with a rotated-away token: %v, want %s", err, want)
			}
		}
	}

	// The provider's refusals, in its own shape, reach the plugin as codes
	// it can act on.
	l2 := b.Authorize()
	resp, err = noFollow.Get(l2.URL)
	if err != nil {
		return err
	}
	resp.Body.Close()
	back2, _ := url.Parse(resp.Header.Get("Location"))
	err = b.Redirect(ctx, Callback{State: back2.Query().Get("state"), Code: "not-a-code"})
	if k, code := kindCode(err); k != KindProviderRejected || code != want {
		return fmt.Errorf("redirect with a bad code: %v, want %s", err, want)
	}
	_, err = b.Poll(l2.ReadKey, PollOptions{})
	if k, code := kindCode(err); k != KindGone || code != want {
		return fmt.Errorf("poll after a bad code: %v, want 410 %s", err, want)
	}
	if c.fake.refresh != refreshNone {
		_, err = b.Refresh(ctx, "not-a-refresh-token")
		if k, code := kindCode(err); k != KindProviderRejected || code != want {
			return fmt.Errorf("refresh with a bad token: %v, want %s", err, want)
		}
	}
	return nil
}

// Every preset has at least one case.
func TestPresetFakesCoverEveryPreset(t *testing.T) {
	t.Parallel()
	for _, name := range PresetNames() {
		if !slices.ContainsFunc(presetCases, func(c presetCase) bool { return c.preset == name }) {
			t.Errorf("preset %q has no fake provider in this test", name)
		}
	}
	for _, c := range presetCases {
		if c.fake.doc == "" {
			t.Errorf("%s: the fake names no documentation", c.name)
		}
	}
}

func TestPresetsAgainstFakeProviders(t *testing.T) {
	t.Parallel()
	for _, c := range presetCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newPresetFake(t, c.fake)
			b := newBroker(t, presetConfig(t, c, f.srv.URL))
			if err := presetScenario(c, f, b); err != nil {
				t.Error(err)
			}
			for _, p := range f.problemList() {
				t.Errorf("the fake of %s: %s", c.name, p)
			}
		})
	}
}

// The revocation endpoints of the presets, against the fakes' documented
// ones: method, path, credentials and body as each provider says.
func TestPresetRevokeAgainstFakeProviders(t *testing.T) {
	t.Parallel()
	documented := map[string]bool{}
	for _, c := range presetCases {
		documented[c.preset] = documented[c.preset] || c.fake.revokePath != ""
	}
	for _, name := range PresetNames() {
		if p, _ := LookupPreset(name); p.RevokeEndpoint != "" && !documented[name] {
			t.Errorf("preset %s revokes at %q, but no fake documents it", name, p.RevokeEndpoint)
		}
	}
	for _, c := range presetCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p, _ := LookupPreset(c.preset)
			if c.fake.revokePath != "" && p.RevokeEndpoint == "" {
				t.Fatalf("the fake documents revocation at %q, the preset has no revoke endpoint", c.fake.revokePath)
			}
			if c.fake.revokePath == "" {
				return // another case of the same preset documents it (checked below)
			}
			f := newPresetFake(t, c.fake)
			b := newBroker(t, presetConfig(t, c, f.srv.URL))
			if err := b.Revoke(context.Background(), "token-to-revoke", "", nil); err != nil {
				t.Errorf("revoke: %v", err)
			}
			for _, pr := range f.problemList() {
				t.Errorf("the fake of %s: %s", c.name, pr)
			}
		})
	}
}

// Provider error codes mapped per preset, stated here independently of
// presets.go: the plugin's error is the RFC 6749 code, the provider's code
// leads error_description, at /poll (410) and at /refresh (the JSON passed
// on says the same).
func TestPresetErrorCodes(t *testing.T) {
	t.Parallel()
	mapped := map[string]map[string]string{
		"github (GitHub App, expiring user tokens)": {
			"bad_verification_code":        "invalid_grant",
			"incorrect_client_credentials": "invalid_client",
			"redirect_uri_mismatch":        "invalid_request",
			"unverified_user_email":        "invalid_grant",
			"bad_refresh_token":            "invalid_grant",
		},
		"slack (bot scopes)": {
			"invalid_code":                     "invalid_grant",
			"invalid_refresh_token":            "invalid_grant",
			"bad_client_secret":                "invalid_client",
			"invalid_client_id":                "invalid_client",
			"bad_redirect_uri":                 "invalid_request",
			"oauth_authorization_url_mismatch": "invalid_request",
			"invalid_grant_type":               "unsupported_grant_type",
			"invalid_grant":                    "invalid_grant", // an RFC code passes as it is
		},
		"google":                     {"redirect_uri_mismatch": "invalid_request", "invalid_grant": "invalid_grant"},
		"microsoft (offline_access)": {"interaction_required": "invalid_grant", "consent_required": "invalid_grant", "invalid_client": "invalid_client"},
		"salesforce":                 {"invalid_client_id": "invalid_client", "invalid_client_credentials": "invalid_client", "redirect_uri_mismatch": "invalid_request"},
	}
	for name, codes := range mapped {
		i := slices.IndexFunc(presetCases, func(c presetCase) bool { return c.name == name })
		if i < 0 {
			t.Fatalf("no case %q", name)
		}
		c := presetCases[i]
		for own, want := range codes {
			t.Run(name+"/"+own, func(t *testing.T) {
				t.Parallel()
				f := newPresetFake(t, c.fake)
				b := newBroker(t, presetConfig(t, c, f.srv.URL))
				f.refuse = own
				l, _, err := login(t, b)
				e := ferr(t, err, KindProviderRejected, want)
				if own != want && !strings.HasPrefix(e.Description, own) {
					t.Errorf("error_description %q does not name the provider's %s", e.Description, own)
				}
				_, err = b.Poll(l.ReadKey, PollOptions{})
				if e := ferr(t, err, KindGone, want); own != want && !strings.HasPrefix(e.Description, own) {
					t.Errorf("the 410's error_description %q does not name %s", e.Description, own)
				}

				// /refresh passes the provider's JSON on, saying the same.
				f.refuse = ""
				l, _, err = login(t, b)
				if err != nil {
					t.Fatal(err)
				}
				m, _ := tokensIn(mustPoll(t, b, l.ReadKey), c.fake.tokensAt)
				rt, _ := m["refresh_token"].(string)
				f.refuse = own
				_, err = b.Refresh(context.Background(), rt)
				e = ferr(t, err, KindProviderRejected, want)
				body := jsonObject(t, e.Body)
				if body["error"] != want || own != want && !strings.HasPrefix(fmt.Sprint(body["error_description"]), own) {
					t.Errorf("/refresh would pass on %s", e.Body)
				}
			})
		}
	}
}

// The fakes catch a preset that sends the wrong request: change one field
// of a preset's Config at a time, and the fake refuses, or the login,
// refresh or refusal codes come out wrong.
func TestPresetFakesCatchWrongRequests(t *testing.T) {
	t.Parallel()
	mutations := []struct {
		name, caseName string
		mutate         func(*Config)
	}{
		{"google without access_type=offline", "google", func(c *Config) { delete(c.AuthorizeParams, "access_type") }},
		{"notion as a form", "notion", func(c *Config) { c.BodyFormat = BodyForm }},
		{"notion with post credentials", "notion", func(c *Config) { c.AuthStyle = AuthPost }},
		{"notion without owner=user", "notion", func(c *Config) { delete(c.AuthorizeParams, "owner") }},
		{"airtable without PKCE", "airtable", func(c *Config) { c.PKCE = false }},
		{"airtable with post credentials", "airtable", func(c *Config) { c.AuthStyle = AuthPost }},
		{"github with Basic", "github (GitHub App, expiring user tokens)", func(c *Config) { c.AuthStyle = AuthBasic }},
		{"github without its error codes", "github (GitHub App, expiring user tokens)", func(c *Config) { c.ErrorCodes = nil }},
		{"slack with space scopes", "slack (bot scopes)", func(c *Config) { c.Scope = strings.ReplaceAll(c.Scope, ",", " ") }},
		{"slack without its error codes", "slack (bot scopes)", func(c *Config) { c.ErrorCodes = nil }},
		{"slack user tokens without TokensAt", "slack (user scopes only)", func(c *Config) { c.TokensAt = "" }},
		{"dropbox without token_access_type", "dropbox", func(c *Config) { delete(c.AuthorizeParams, "token_access_type") }},
		{"microsoft at common for a single-tenant app", "microsoft (offline_access)", func(c *Config) {
			c.AuthorizeEndpoint = strings.Replace(c.AuthorizeEndpoint, "contoso.onmicrosoft.com", "common", 1)
			c.TokenEndpoint = strings.Replace(c.TokenEndpoint, "contoso.onmicrosoft.com", "common", 1)
		}},
		{"linear with space scopes", "linear", func(c *Config) { c.Scope = strings.ReplaceAll(c.Scope, ",", " ") }},
		{"figma with post credentials", "figma", func(c *Config) { c.AuthStyle = AuthPost }},
		{"figma at the retired token path", "figma", func(c *Config) {
			c.TokenEndpoint = strings.Replace(c.TokenEndpoint, "/v1/oauth/token", "/api/oauth/token", 1)
		}},
		{"spotify with post credentials", "spotify", func(c *Config) { c.AuthStyle = AuthPost }},
		{"shopify without expiring=1", "shopify", func(c *Config) { c.TokenParams = nil }},
		{"shopify with space scopes", "shopify", func(c *Config) { c.Scope = strings.ReplaceAll(c.Scope, ",", " ") }},
		{"atlassian without audience", "atlassian", func(c *Config) { delete(c.AuthorizeParams, "audience") }},
		{"atlassian as a form", "atlassian", func(c *Config) { c.BodyFormat = BodyForm }},
		{"zendesk as a form", "zendesk", func(c *Config) { c.BodyFormat = BodyForm }},
		{"x without PKCE", "x", func(c *Config) { c.PKCE = false }},
		{"x with post credentials", "x", func(c *Config) { c.AuthStyle = AuthPost }},
		{"canva without PKCE", "canva", func(c *Config) { c.PKCE = false }},
		{"reddit without duration=permanent", "reddit", func(c *Config) { delete(c.AuthorizeParams, "duration") }},
		{"reddit with post credentials", "reddit", func(c *Config) { c.AuthStyle = AuthPost }},
		{"zoom with post credentials", "zoom", func(c *Config) { c.AuthStyle = AuthPost }},
		{"pinterest with post credentials", "pinterest", func(c *Config) { c.AuthStyle = AuthPost }},
		{"hubspot with Basic", "hubspot", func(c *Config) { c.AuthStyle = AuthBasic }},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			i := slices.IndexFunc(presetCases, func(c presetCase) bool { return c.name == m.caseName })
			if i < 0 {
				t.Fatalf("no case %q", m.caseName)
			}
			c := presetCases[i]
			f := newPresetFake(t, c.fake)
			cfg := presetConfig(t, c, f.srv.URL)
			m.mutate(&cfg)
			err := presetScenario(c, f, newBroker(t, cfg))
			if err == nil && len(f.problemList()) == 0 {
				t.Error("the mutated preset went through the fake unnoticed")
			}
			t.Logf("caught: %v %q", err, f.problemList())
		})
	}
}
