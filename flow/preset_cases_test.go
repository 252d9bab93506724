package flow

import (
	"net/http"
	"net/url"
)

// presetCase is one preset as its provider's documentation describes it:
// what the fake of that provider (preset_fakes_test.go) requires and
// answers, run by preset_providers_test.go.
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
