package flow

// presets are the providers PROVIDER=name knows (docs/providers.md). Each
// was checked against the provider's documentation (Docs, and the pages the
// comments name) in 2026-12; the comments say why a field is what it is
// where the reason is not plain RFC 6749, and mark "unverified" what was
// seen only in third-party code or guides, not on the provider's own pages.
// The fakes in preset_fakes_test.go follow the same documentation.
//
// What a preset cannot carry: the user's SCOPE (the scope a provider needs
// before it issues a refresh token, such as Microsoft's offline_access, is
// named in docs/providers.md). A provider that answers form-encoded, or
// signals errors with a 200 ("error", "ok": false), needs no flag: every
// answer is read that way (docs/protocol.md#talking-to-the-provider).
//
// A preset is checked by presets_test.go: https URLs, known styles, error
// codes that map to RFC 6749 codes, template variables declared.
var presets = map[string]Preset{
	// Google's refresh token comes only with access_type=offline, and only on
	// the first consent unless prompt=consent asks again. Refresh answers omit
	// refresh_token (handoff adds back the one the plugin sent). Google's
	// OAuth server accepts S256 PKCE from web (confidential) clients too. The
	// revocation endpoint takes an access or a refresh token and ends the
	// whole grant. Google's APIs answer CORS, so no passthrough.
	"google": {
		Name:              "Google",
		AuthorizeEndpoint: "https://accounts.google.com/o/oauth2/v2/auth",
		TokenEndpoint:     "https://oauth2.googleapis.com/token",
		RevokeEndpoint:    "https://oauth2.googleapis.com/revoke",
		Revoke:            RevokeRFC7009,
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              true,
		AuthorizeParams:   "access_type=offline&prompt=consent",
		// redirect_uri_mismatch: the URI is not registered for the client,
		// which no new login fixes.
		ErrorCodes: map[string]string{"redirect_uri_mismatch": "invalid_request"},
		Docs:       "https://developers.google.com/identity/protocols/oauth2/web-server",
	},
	// GitHub answers form-encoded unless asked for JSON (handoff always sends
	// Accept: application/json and parses both) and reports errors with HTTP
	// 200 ("Troubleshooting OAuth app access token request errors"). PKCE
	// (S256 only) is supported for OAuth apps and GitHub Apps since
	// 2025-07-14. Only GitHub Apps with expiring user tokens get refresh
	// tokens (8 h access, 6 months refresh, rotating); OAuth apps get none.
	// Revocation is GitHub's own shape: DELETE the grant with the client's
	// Basic credentials and the access token in a JSON body.
	"github": {
		Name:              "GitHub",
		AuthorizeEndpoint: "https://github.com/login/oauth/authorize",
		TokenEndpoint:     "https://github.com/login/oauth/access_token",
		RevokeEndpoint:    "https://api.github.com/applications/{client_id}/grant",
		Revoke:            RevokeGitHubGrant,
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              true,
		// The documented codes, and bad_refresh_token (unverified: not on
		// GitHub's list; public clients' tests show it for a dead refresh
		// token). redirect_uri_mismatch means the app's registered callback
		// does not match: a configuration error, not a reason to log in again.
		ErrorCodes: map[string]string{
			"bad_verification_code":        "invalid_grant",
			"bad_refresh_token":            "invalid_grant",
			"unverified_user_email":        "invalid_grant",
			"incorrect_client_credentials": "invalid_client",
			"redirect_uri_mismatch":        "invalid_request",
		},
		Docs: "https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps",
	},
	// Notion's token endpoint takes HTTP Basic credentials and a JSON body.
	// owner=user is required on the authorize URL for public integrations.
	// Notion documents no PKCE, so none is sent (with PKCE off, handoff's
	// used-state store is the only replay defence; see SECURITY.md).
	// Refresh tokens rotate. The revocation endpoint (Basic, JSON, token)
	// also wants a Notion-Version header. Notion's API sends no CORS
	// headers (makenotion/notion-sdk-js#96), hence the passthrough.
	"notion": {
		Name:              "Notion",
		AuthorizeEndpoint: "https://api.notion.com/v1/oauth/authorize",
		TokenEndpoint:     "https://api.notion.com/v1/oauth/token",
		RevokeEndpoint:    "https://api.notion.com/v1/oauth/revoke",
		Revoke:            RevokeRFC7009,
		AuthStyle:         AuthBasic,
		BodyFormat:        BodyJSON,
		PKCE:              false,
		AuthorizeParams:   "owner=user",
		APIOrigins:        []string{"https://api.notion.com"},
		Docs:              "https://developers.notion.com/reference/create-a-token",
	},
	// HubSpot's token endpoint is the date-versioned one: the v1 endpoint
	// (/oauth/v1/token) is deprecated and stops working on 2027-02-16. It
	// takes client_id and client_secret in the form body and documents
	// code_verifier, so PKCE is on; its errors are RFC 6749's. Revocation
	// (of a refresh token) is at .../token/revoke (its request form is
	// unverified: seen in public code, not on the page). HubSpot's API sends
	// no CORS headers, hence the passthrough.
	"hubspot": {
		Name:              "HubSpot",
		AuthorizeEndpoint: "https://app.hubspot.com/oauth/authorize",
		TokenEndpoint:     "https://api.hubapi.com/oauth/2026-03/token",
		RevokeEndpoint:    "https://api.hubapi.com/oauth/2026-03/token/revoke",
		Revoke:            RevokeRFC7009,
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              true,
		APIOrigins:        []string{"https://api.hubapi.com"},
		Docs:              "https://developers.hubspot.com/docs/api-reference/latest/authentication/manage-oauth-tokens",
	},
	// Airtable requires PKCE (S256) and, for integrations with a client
	// secret, HTTP Basic credentials. It rotates refresh tokens: each refresh
	// answer carries a new one and the old one stops working, which handoff
	// passes through untouched. No revocation endpoint is documented.
	"airtable": {
		Name:              "Airtable",
		AuthorizeEndpoint: "https://airtable.com/oauth2/v1/authorize",
		TokenEndpoint:     "https://airtable.com/oauth2/v1/token",
		AuthStyle:         AuthBasic,
		BodyFormat:        BodyForm,
		PKCE:              true,
		Docs:              "https://airtable.com/developers/web/api/oauth-reference",
	},
	// Dropbox issues short-lived access tokens; a refresh token comes only
	// with token_access_type=offline. The token endpoint takes the app key
	// and secret as HTTP Basic credentials (or in the body) and supports PKCE.
	// Its revocation endpoint takes the access token as a Bearer credential,
	// a shape handoff's /revoke does not send, so none is set.
	"dropbox": {
		Name:              "Dropbox",
		AuthorizeEndpoint: "https://www.dropbox.com/oauth2/authorize",
		TokenEndpoint:     "https://api.dropboxapi.com/oauth2/token",
		AuthStyle:         AuthBasic,
		BodyFormat:        BodyForm,
		PKCE:              true,
		AuthorizeParams:   "token_access_type=offline",
		Docs:              "https://developers.dropbox.com/oauth-guide",
	},
	// Slack (OAuth v2): scopes are comma-separated; oauth.v2.access prefers
	// HTTP Basic credentials ("avoid sending client_id and client_secret as
	// parameters"); errors come as "ok": false with HTTP 200. User scopes go
	// in AUTHORIZE_PARAMS as user_scope=a,b; an install with only user scopes
	// has its tokens, and with token rotation its refresh token, under
	// authed_user (TokensAt). PKCE is off: Slack accepts it only after the app
	// is switched to a public client (a one-way change). auth.revoke takes
	// the token as a Bearer credential, a shape /revoke does not send.
	"slack": {
		Name:              "Slack",
		AuthorizeEndpoint: "https://slack.com/oauth/v2/authorize",
		TokenEndpoint:     "https://slack.com/api/oauth.v2.access",
		ScopeSeparator:    ",",
		AuthStyle:         AuthBasic,
		BodyFormat:        BodyForm,
		PKCE:              false,
		TokensAt:          "authed_user",
		// oauth.v2.access's documented errors; invalid_refresh_token is
		// unverified there (api.slack.com's copy, as quoted in the shared
		// research; tooling.tokens.rotate documents it for the same case).
		ErrorCodes: map[string]string{
			"invalid_code":                     "invalid_grant",
			"invalid_refresh_token":            "invalid_grant",
			"bad_client_secret":                "invalid_client",
			"invalid_client_id":                "invalid_client",
			"bad_redirect_uri":                 "invalid_request",
			"oauth_authorization_url_mismatch": "invalid_request",
			"invalid_grant_type":               "unsupported_grant_type",
		},
		Docs: "https://docs.slack.dev/authentication/installing-with-oauth",
	},
	// Microsoft identity platform v2.0. {tenant} is the app's TENANT
	// (internal/config; default common, for work, school and personal
	// accounts): a single-tenant app registered since 2018-10 gets
	// AADSTS50194 at /common and must name its tenant. A refresh token is
	// issued only when SCOPE includes offline_access. Each refresh returns a
	// new refresh token, and the old one is not revoked. No revocation
	// endpoint (RFC 7009) exists. interaction_required and its kin at the
	// token endpoint mean the user must sign in again.
	"microsoft": {
		Name:              "Microsoft",
		AuthorizeEndpoint: "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
		TokenEndpoint:     "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              true,
		ErrorCodes: map[string]string{
			"interaction_required": "invalid_grant",
			"consent_required":     "invalid_grant",
			"login_required":       "invalid_grant",
		},
		Docs: "https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow",
	},
	// Linear: comma-separated scopes, form-encoded token request at
	// api.linear.app, PKCE documented. Refresh tokens are on for every OAuth
	// application since 2026-04-01 (rotation: unverified, from a third-party
	// guide). Its revocation takes the token as a Bearer credential.
	"linear": {
		Name:              "Linear",
		AuthorizeEndpoint: "https://linear.app/oauth/authorize",
		TokenEndpoint:     "https://api.linear.app/oauth/token",
		ScopeSeparator:    ",",
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              true,
		Docs:              "https://linear.app/developers/oauth-2-0-authentication",
	},
	// Figma: the token endpoint moved to api.figma.com (the old
	// www.figma.com/api/oauth/token answers 404 since 2025-02) and takes HTTP
	// Basic credentials. Refresh goes to the token endpoint with
	// grant_type=refresh_token: Figma's changelog (2025-05-16) says the
	// refresh endpoint was "migrated to align with OAuth 2.0 spec" and
	// /v1/oauth/refresh is deprecated (seen through third-party quotes, not
	// on Figma's OAuth page). A refresh answer may lack refresh_token
	// (handoff adds back the one sent).
	// Unverified, decided from the evidence: commas between scopes (Nango
	// and other public clients join with commas "per Figma API"); PKCE on
	// (public clients send S256 to Figma and report it works; Figma's page
	// seen does not mention it). Figma's error bodies are
	// {"error": true, "status", "message"}: the HTTP status gives the code.
	"figma": {
		Name:              "Figma",
		AuthorizeEndpoint: "https://www.figma.com/oauth",
		TokenEndpoint:     "https://api.figma.com/v1/oauth/token",
		ScopeSeparator:    ",",
		AuthStyle:         AuthBasic,
		BodyFormat:        BodyForm,
		PKCE:              true,
		Docs:              "https://developers.figma.com/docs/rest-api/authentication/",
	},
	// Spotify's authorization-code flow authenticates with HTTP Basic
	// credentials. Its PKCE flow is documented as the alternative for clients
	// without a secret, not in combination with one, so PKCE is off. A refresh
	// answer may omit refresh_token (handoff adds back the one sent). Since
	// 2025 (all apps from 2025-11) localhost is refused as a redirect URI:
	// plain http only for a loopback IP literal. No revocation endpoint.
	"spotify": {
		Name:              "Spotify",
		AuthorizeEndpoint: "https://accounts.spotify.com/authorize",
		TokenEndpoint:     "https://accounts.spotify.com/api/token",
		AuthStyle:         AuthBasic,
		BodyFormat:        BodyForm,
		PKCE:              false,
		LocalRedirect:     "http://127.0.0.1:PORT/redirect (Spotify refuses localhost, http and https)",
		Docs:              "https://developer.spotify.com/documentation/web-api/tutorials/code-flow",
	},

	// Shopify: both URLs are the shop's own ({shop}, chosen per login; the
	// callback's shop must equal it). Scopes are comma-separated, client
	// credentials go in the body. expiring=1 asks for an expiring offline
	// token (60 min) with a rotating refresh token, which public apps created
	// from 2026-04-01 must use (and all public apps from 2027-01-01);
	// without it the token never expires and no refresh token comes. The
	// parameter's name and value are unverified for the code exchange: the
	// authorization-code page names an "expiring" parameter, and Shopify's
	// own libraries send expiring=1 on token exchange. PKCE is not
	// documented, so none is sent. No revocation endpoint (uninstalling the
	// app ends its tokens).
	"shopify": {
		Name:              "Shopify",
		AuthorizeEndpoint: "https://{shop}.myshopify.com/admin/oauth/authorize",
		TokenEndpoint:     "https://{shop}.myshopify.com/admin/oauth/access_token",
		Vars:              []TemplateVar{{Name: "shop", Pattern: `[a-z0-9][a-z0-9-]{0,59}`}},
		ScopeSeparator:    ",",
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              false,
		TokenParams:       "expiring=1",
		Docs:              "https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant",
	},
	// Atlassian (Jira, Confluence Cloud) 3LO: audience=api.atlassian.com and
	// prompt=consent are required on the authorize URL; a refresh token needs
	// offline_access in SCOPE, and refresh tokens rotate. The token examples
	// are JSON bodies with the credentials in them. PKCE is not mentioned,
	// nor is a revocation endpoint. After login, the plugin finds its site's
	// cloudId at api.atlassian.com/oauth/token/accessible-resources.
	"atlassian": {
		Name:              "Atlassian",
		AuthorizeEndpoint: "https://auth.atlassian.com/authorize",
		TokenEndpoint:     "https://auth.atlassian.com/oauth/token",
		AuthStyle:         AuthPost,
		BodyFormat:        BodyJSON,
		PKCE:              false,
		AuthorizeParams:   "audience=api.atlassian.com&prompt=consent",
		Docs:              "https://developer.atlassian.com/cloud/oauth/getting-started/implementing-oauth-3lo",
	},
	// Salesforce web server flow at login.salesforce.com; a sandbox logs in
	// at test.salesforce.com and an org that blocks login.salesforce.com at
	// its My Domain host: set AUTHORIZE_ENDPOINT, TOKEN_ENDPOINT (and the
	// revoke URL) for those (docs/providers.md). A refresh token needs the
	// refresh_token (or offline_access) scope, selected on the app and
	// requested in SCOPE. PKCE is supported (and required once a partner
	// app turns it on). The answer carries instance_url, where the API is,
	// and no expires_in. Revocation takes a token with no client
	// authentication. The error codes are unverified (Salesforce Help's list,
	// as remembered).
	"salesforce": {
		Name:              "Salesforce",
		AuthorizeEndpoint: "https://login.salesforce.com/services/oauth2/authorize",
		TokenEndpoint:     "https://login.salesforce.com/services/oauth2/token",
		RevokeEndpoint:    "https://login.salesforce.com/services/oauth2/revoke",
		Revoke:            RevokeRFC7009,
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              true,
		ErrorCodes: map[string]string{
			"invalid_client_id":          "invalid_client",
			"invalid_client_credentials": "invalid_client",
			"redirect_uri_mismatch":      "invalid_request",
		},
		Docs: "https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_web_server_flow.htm",
	},
	// Zendesk: the account's own host ({subdomain}, chosen per login; an
	// ordinary OAuth client works only on the account that made it, a
	// global one on all). The grant-type token endpoint's examples are JSON
	// bodies with the credentials in them. Confidential clients may use
	// PKCE. Refresh tokens since 2025 (a new one with each refresh; whether
	// the old one dies is unverified). Its revocation is a DELETE with the
	// token as a Bearer credential, a shape /revoke does not send.
	"zendesk": {
		Name:              "Zendesk",
		AuthorizeEndpoint: "https://{subdomain}.zendesk.com/oauth/authorizations/new",
		TokenEndpoint:     "https://{subdomain}.zendesk.com/oauth/tokens",
		Vars:              []TemplateVar{{Name: "subdomain", Pattern: `[a-z0-9][a-z0-9-]{0,62}`}},
		AuthStyle:         AuthPost,
		BodyFormat:        BodyJSON,
		PKCE:              true,
		Docs:              "https://developer.zendesk.com/api-reference/ticketing/oauth/grant_type_tokens/",
	},
	// X (Twitter) OAuth 2.0: PKCE is required even for confidential
	// clients, which authenticate with HTTP Basic; a refresh token needs
	// offline.access in SCOPE, and refresh tokens rotate (unverified: widely
	// reported). Revocation (Basic, token, token_type_hint) is unverified
	// beyond docs.x.com's index. X answers a used code or refresh token with
	// invalid_request (unverified), which stays as it is: mapping every
	// invalid_request would mislabel real ones. api.x.com sends no CORS
	// headers.
	"x": {
		Name:              "X",
		AuthorizeEndpoint: "https://x.com/i/oauth2/authorize",
		TokenEndpoint:     "https://api.x.com/2/oauth2/token",
		RevokeEndpoint:    "https://api.x.com/2/oauth2/revoke",
		Revoke:            RevokeRFC7009,
		AuthStyle:         AuthBasic,
		BodyFormat:        BodyForm,
		PKCE:              true,
		APIOrigins:        []string{"https://api.x.com"},
		Docs:              "https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code",
	},
	// LinkedIn: credentials in the body; refresh tokens only for apps
	// approved for programmatic refresh (the same refresh token comes back,
	// counting down from 365 days); most apps get a 60-day access token and
	// none. PKCE is documented for native clients only, so none is sent.
	// Revocation (body credentials, token) is unverified. api.linkedin.com
	// sends no CORS headers.
	"linkedin": {
		Name:              "LinkedIn",
		AuthorizeEndpoint: "https://www.linkedin.com/oauth/v2/authorization",
		TokenEndpoint:     "https://www.linkedin.com/oauth/v2/accessToken",
		RevokeEndpoint:    "https://www.linkedin.com/oauth/v2/revoke",
		Revoke:            RevokeRFC7009,
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              false,
		APIOrigins:        []string{"https://api.linkedin.com"},
		Docs:              "https://learn.microsoft.com/en-us/linkedin/shared/authentication/authorization-code-flow",
	},
	// Canva Connect: PKCE with SHA-256 is required, client credentials as
	// HTTP Basic ("recommended"; body parameters accepted); refresh tokens
	// are single use. Revocation takes the token with the same credentials.
	// Canva's examples write code_challenge_method in lower case; handoff
	// sends RFC 7636's S256 (whether Canva compares case-sensitively is
	// unverified).
	"canva": {
		Name:              "Canva",
		AuthorizeEndpoint: "https://www.canva.com/api/oauth/authorize",
		TokenEndpoint:     "https://api.canva.com/rest/v1/oauth/token",
		RevokeEndpoint:    "https://api.canva.com/rest/v1/oauth/revoke",
		Revoke:            RevokeRFC7009,
		AuthStyle:         AuthBasic,
		BodyFormat:        BodyForm,
		PKCE:              true,
		Docs:              "https://www.canva.dev/docs/connect/authentication/",
	},
	// Miro: credentials in the form body (its reference shows query
	// parameters, a limitation of its portal, and says to send them in the
	// body). Only apps created with expiring tokens get refresh tokens,
	// which rotate. PKCE and the revocation request are unverified, so
	// neither is used.
	"miro": {
		Name:              "Miro",
		AuthorizeEndpoint: "https://miro.com/oauth/authorize",
		TokenEndpoint:     "https://api.miro.com/v1/oauth/token",
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              false,
		Docs:              "https://developers.miro.com/docs/getting-started-with-oauth",
	},
	// Zoom: client credentials as HTTP Basic, parameters in a form body;
	// PKCE is supported; refresh tokens are single use (unverified: Zoom's
	// own agent-skill docs, not a developers.zoom.us page), as is the
	// revocation request's form. Zoom answers a bad code with
	// {"reason", "error": "invalid_request"} (unverified). api.zoom.us sends
	// no CORS headers.
	"zoom": {
		Name:              "Zoom",
		AuthorizeEndpoint: "https://zoom.us/oauth/authorize",
		TokenEndpoint:     "https://zoom.us/oauth/token",
		RevokeEndpoint:    "https://zoom.us/oauth/revoke",
		Revoke:            RevokeRFC7009,
		AuthStyle:         AuthBasic,
		BodyFormat:        BodyForm,
		PKCE:              true,
		APIOrigins:        []string{"https://api.zoom.us"},
		Docs:              "https://developers.zoom.us/docs/integrations/oauth/",
	},
	// Discord: its examples authenticate with HTTP Basic (the server's
	// metadata also lists client_secret_post); revocation is RFC 7009.
	// PKCE is off: the metadata advertises S256, but the authorization-code
	// docs do not use it with a secret, and a third-party library reports it
	// unsupported for confidential clients. Refresh tokens: a new one with
	// each refresh (whether the old one dies is unverified).
	"discord": {
		Name:              "Discord",
		AuthorizeEndpoint: "https://discord.com/oauth2/authorize",
		TokenEndpoint:     "https://discord.com/api/oauth2/token",
		RevokeEndpoint:    "https://discord.com/api/oauth2/token/revoke",
		Revoke:            RevokeRFC7009,
		AuthStyle:         AuthBasic,
		BodyFormat:        BodyForm,
		PKCE:              false,
		Docs:              "https://discord.com/developers/docs/topics/oauth2",
	},
	// Twitch: credentials in the form body; PKCE is not documented. Its
	// errors are {"status", "message"} without an error code, so the HTTP
	// status gives the code. Its revocation documents client_id and token
	// (what it does with the client_secret /revoke adds is unverified).
	// Helix answers CORS, so no passthrough.
	"twitch": {
		Name:              "Twitch",
		AuthorizeEndpoint: "https://id.twitch.tv/oauth2/authorize",
		TokenEndpoint:     "https://id.twitch.tv/oauth2/token",
		RevokeEndpoint:    "https://id.twitch.tv/oauth2/revoke",
		Revoke:            RevokeRFC7009,
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              false,
		Docs:              "https://dev.twitch.tv/docs/authentication/getting-tokens-oauth/",
	},
	// Asana: credentials in the form body, PKCE (S256) among the authorize
	// parameters; refresh answers carry no new refresh token (the old one
	// keeps working). Revocation takes the refresh token with the client's
	// credentials. PKCE support and non-rotation are unverified (remembered
	// from Asana's OAuth page; the stored copy showed only the endpoints).
	"asana": {
		Name:              "Asana",
		AuthorizeEndpoint: "https://app.asana.com/-/oauth_authorize",
		TokenEndpoint:     "https://app.asana.com/-/oauth_token",
		RevokeEndpoint:    "https://app.asana.com/-/oauth_revoke",
		Revoke:            RevokeRFC7009,
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              true,
		Docs:              "https://developers.asana.com/docs/oauth",
	},
	// GitLab.com (Doorkeeper): credentials in the body or as Basic, PKCE
	// recommended, RFC 7009 revocation; refresh tokens rotate (unverified:
	// Doorkeeper's default). A self-managed instance: set the endpoints to
	// its host (docs/providers.md). GitLab's OAuth endpoints and API answer
	// CORS.
	"gitlab": {
		Name:              "GitLab",
		AuthorizeEndpoint: "https://gitlab.com/oauth/authorize",
		TokenEndpoint:     "https://gitlab.com/oauth/token",
		RevokeEndpoint:    "https://gitlab.com/oauth/revoke",
		Revoke:            RevokeRFC7009,
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              true,
		Docs:              "https://docs.gitlab.com/api/oauth2/",
	},
	// Box: credentials in the form body; refresh tokens are single use
	// (60 days); revocation takes an access or refresh token with the
	// client's credentials. PKCE is not mentioned, so none is sent. The
	// API answers CORS for origins listed in the app's settings.
	"box": {
		Name:              "Box",
		AuthorizeEndpoint: "https://account.box.com/api/oauth2/authorize",
		TokenEndpoint:     "https://api.box.com/oauth2/token",
		RevokeEndpoint:    "https://api.box.com/oauth2/revoke",
		Revoke:            RevokeRFC7009,
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              false,
		Docs:              "https://developer.box.com/guides/authentication/oauth2/",
	},
	// Pinterest (API v5): client credentials as HTTP Basic. Unverified
	// (third-party pages, not Pinterest's): commas between scopes, the
	// error body ({"code", "message"}: the HTTP status gives the code), and
	// continuous_refresh, the token parameter for an "everlasting" refresh
	// token, which Pinterest says becomes the default: not sent. PKCE is not
	// documented, nor is a revocation endpoint. api.pinterest.com sends no
	// CORS headers.
	"pinterest": {
		Name:              "Pinterest",
		AuthorizeEndpoint: "https://www.pinterest.com/oauth/",
		TokenEndpoint:     "https://api.pinterest.com/v5/oauth/token",
		ScopeSeparator:    ",",
		AuthStyle:         AuthBasic,
		BodyFormat:        BodyForm,
		PKCE:              false,
		APIOrigins:        []string{"https://api.pinterest.com"},
		Docs:              "https://developers.pinterest.com/docs/getting-started/set-up-authentication-and-authorization/",
	},
	// Typeform: credentials in the form body; a refresh token needs the
	// offline scope in SCOPE. EU accounts live on api.typeform.eu with
	// their own OAuth clients: set the endpoints there (docs/providers.md;
	// the EU host is unverified, from a third-party guide). PKCE and a
	// revocation endpoint are not documented. The API sends no CORS headers.
	"typeform": {
		Name:              "Typeform",
		AuthorizeEndpoint: "https://api.typeform.com/oauth/authorize",
		TokenEndpoint:     "https://api.typeform.com/oauth/token",
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              false,
		APIOrigins:        []string{"https://api.typeform.com"},
		Docs:              "https://www.typeform.com/developers/get-started/applications/",
	},
	// Mailchimp: no scopes, no refresh (tokens do not expire), no
	// revocation endpoint. The API host is per account: after login the
	// plugin asks login.mailchimp.com/oauth2/metadata for its data centre
	// (docs/providers.md), so no fixed API origin can be listed.
	"mailchimp": {
		Name:              "Mailchimp",
		AuthorizeEndpoint: "https://login.mailchimp.com/oauth2/authorize",
		TokenEndpoint:     "https://login.mailchimp.com/oauth2/token",
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              false,
		Docs:              "https://mailchimp.com/developer/marketing/guides/access-user-data-oauth-2/",
	},
	// Calendly: credentials in the form body; PKCE (S256) recommended for
	// all apps; refresh tokens are single use since its rotation change;
	// revocation takes an access or refresh token with the client's
	// credentials.
	"calendly": {
		Name:              "Calendly",
		AuthorizeEndpoint: "https://auth.calendly.com/oauth/authorize",
		TokenEndpoint:     "https://auth.calendly.com/oauth/token",
		RevokeEndpoint:    "https://auth.calendly.com/oauth/revoke",
		Revoke:            RevokeRFC7009,
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              true,
		Docs:              "https://developer.calendly.com/how-to-access-calendly-data-on-behalf-of-authenticated-users",
	},
	// Webflow Data API: credentials in the form body; tokens do not expire
	// and there is no refresh. Its revocation takes access_token, not
	// token (v1 guide), a shape /revoke does not send. PKCE is not
	// documented. The Data API sends no CORS headers (unverified).
	"webflow": {
		Name:              "Webflow",
		AuthorizeEndpoint: "https://webflow.com/oauth/authorize",
		TokenEndpoint:     "https://api.webflow.com/oauth/access_token",
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              false,
		APIOrigins:        []string{"https://api.webflow.com"},
		Docs:              "https://developers.webflow.com/data/reference/oauth-app",
	},
	// Intercom (US region): no scopes on the authorize URL (permissions are
	// set on the app), tokens do not expire, no refresh. EU and AU
	// workspaces use app.eu.intercom.com / api.eu.intercom.io and
	// app.au.intercom.com / api.au.intercom.io: set the endpoints
	// (docs/providers.md). Redirect URLs must be https. Unverified: the
	// token path per region, the error format, and that the API sends no
	// CORS headers.
	"intercom": {
		Name:              "Intercom",
		AuthorizeEndpoint: "https://app.intercom.com/oauth",
		TokenEndpoint:     "https://api.intercom.io/auth/eagle/token",
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              false,
		APIOrigins:        []string{"https://api.intercom.io"},
		LocalRedirect:     "an https URL: Intercom takes no http redirect URL, localhost included",
		Docs:              "https://developers.intercom.com/docs/build-an-integration/learn-more/authentication/setting-up-oauth",
	},
	// Reddit: client credentials as HTTP Basic; duration=permanent is what
	// makes a refresh token come; revocation (Basic, token,
	// token_type_hint) ends a permanent grant. Reddit wants a unique
	// User-Agent on every request; handoff sends "handoff". PKCE is not in
	// Reddit's OAuth2 wiki.
	"reddit": {
		Name:              "Reddit",
		AuthorizeEndpoint: "https://www.reddit.com/api/v1/authorize",
		TokenEndpoint:     "https://www.reddit.com/api/v1/access_token",
		RevokeEndpoint:    "https://www.reddit.com/api/v1/revoke_token",
		Revoke:            RevokeRFC7009,
		AuthStyle:         AuthBasic,
		BodyFormat:        BodyForm,
		PKCE:              false,
		AuthorizeParams:   "duration=permanent",
		Docs:              "https://github.com/reddit-archive/reddit/wiki/OAuth2",
	},
	// Stripe Connect OAuth (Standard accounts): CLIENT_SECRET is the
	// platform's secret key (sk_…), sent in the body; SCOPE is read_write or
	// read_only. A refresh rolls the access token. Stripe discourages OAuth
	// for new Connect platforms. Disconnecting is POST /oauth/deauthorize
	// with stripe_user_id, not a token, so no revocation endpoint is set.
	// Stripe's API answers CORS (Stripe.js calls it), so no passthrough:
	// a connected account's secret token has no business in a browser.
	"stripe": {
		Name:              "Stripe",
		AuthorizeEndpoint: "https://connect.stripe.com/oauth/authorize",
		TokenEndpoint:     "https://connect.stripe.com/oauth/token",
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              false,
		Docs:              "https://docs.stripe.com/connect/oauth-reference",
	},
}
