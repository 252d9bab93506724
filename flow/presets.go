package flow

import (
	"sort"
	"strings"
)

// presets are the providers PROVIDER=name knows. Each was checked against the
// provider's documentation named in Docs; the comments say why a field is
// what it is where the reason is not plain RFC 6749.
//
// What a preset cannot carry: the user's SCOPE (Microsoft needs
// offline_access in it for a refresh token; Slack user scopes go in
// AUTHORIZE_PARAMS as user_scope=...). Response quirks (GitHub's form-encoded
// answers and HTTP 200 errors, Slack's "ok": false and authed_user) are
// handled generically by the broker for every provider, so no preset needs a
// flag for them.
var presets = map[string]Preset{
	// Google's refresh token comes only with access_type=offline, and only on
	// the first consent unless prompt=consent asks again. Refresh answers omit
	// refresh_token (handoff adds back the one the plugin sent). Google's
	// OAuth server accepts S256 PKCE from web (confidential) clients too.
	"google": {
		AuthorizeEndpoint: "https://accounts.google.com/o/oauth2/v2/auth",
		TokenEndpoint:     "https://oauth2.googleapis.com/token",
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              true,
		AuthorizeParams:   "access_type=offline&prompt=consent",
		Docs:              "https://developers.google.com/identity/protocols/oauth2/web-server",
	},
	// GitHub answers form-encoded unless asked for JSON (handoff always sends
	// Accept: application/json and parses both) and reports errors with HTTP
	// 200 (handoff treats a body with "error" as a failure). PKCE (S256 only)
	// is supported for OAuth apps and GitHub Apps since July 2025.
	"github": {
		AuthorizeEndpoint: "https://github.com/login/oauth/authorize",
		TokenEndpoint:     "https://github.com/login/oauth/access_token",
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              true,
		Docs:              "https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps",
	},
	// Notion's token endpoint takes HTTP Basic credentials and a JSON body.
	// owner=user is required on the authorize URL for public integrations.
	// Notion documents no PKCE, so none is sent (with PKCE off, handoff's
	// used-state store is the only replay defence; see SECURITY.md).
	"notion": {
		AuthorizeEndpoint: "https://api.notion.com/v1/oauth/authorize",
		TokenEndpoint:     "https://api.notion.com/v1/oauth/token",
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
	// code_verifier, so PKCE is on. Scopes are space-separated.
	"hubspot": {
		AuthorizeEndpoint: "https://app.hubspot.com/oauth/authorize",
		TokenEndpoint:     "https://api.hubapi.com/oauth/2026-03/token",
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              true,
		APIOrigins:        []string{"https://api.hubapi.com"},
		Docs:              "https://developers.hubspot.com/docs/api-reference/latest/authentication/manage-oauth-tokens",
	},
	// Airtable requires PKCE (S256) and, for integrations with a client
	// secret, HTTP Basic credentials. It rotates refresh tokens: each refresh
	// answer carries a new one and the old one stops working, which handoff
	// passes through untouched.
	"airtable": {
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
	"dropbox": {
		AuthorizeEndpoint: "https://www.dropbox.com/oauth2/authorize",
		TokenEndpoint:     "https://api.dropboxapi.com/oauth2/token",
		AuthStyle:         AuthBasic,
		BodyFormat:        BodyForm,
		PKCE:              true,
		AuthorizeParams:   "token_access_type=offline",
		Docs:              "https://developers.dropbox.com/oauth-guide",
	},
	// Slack (OAuth v2): scopes are comma-separated; oauth.v2.access prefers
	// HTTP Basic credentials; errors come as "ok": false with HTTP 200, and a
	// user token sits under authed_user (both handled by the broker). User
	// scopes go in AUTHORIZE_PARAMS as user_scope=a,b. PKCE is off: Slack
	// accepts PKCE only after the app is switched to a public client in its
	// settings (a one-way change), and does not document what it does with a
	// code_challenge from an app that is not.
	"slack": {
		AuthorizeEndpoint: "https://slack.com/oauth/v2/authorize",
		TokenEndpoint:     "https://slack.com/api/oauth.v2.access",
		ScopeSeparator:    ",",
		AuthStyle:         AuthBasic,
		BodyFormat:        BodyForm,
		PKCE:              false,
		Docs:              "https://docs.slack.dev/authentication/installing-with-oauth",
	},
	// Microsoft identity platform v2.0 endpoints with the tenant "common"
	// (work, school and personal accounts); set AUTHORIZE_ENDPOINT and
	// TOKEN_ENDPOINT for a single tenant. A refresh token is issued only when
	// SCOPE includes offline_access, which a preset cannot add: put it in
	// SCOPE. PKCE is recommended for web apps as well.
	"microsoft": {
		AuthorizeEndpoint: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
		TokenEndpoint:     "https://login.microsoftonline.com/common/oauth2/v2.0/token",
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              true,
		Docs:              "https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow",
	},
	// Linear: comma-separated scopes, form-encoded token request at
	// api.linear.app, PKCE documented. Refresh tokens are on for every OAuth
	// application since 2026-04-01.
	"linear": {
		AuthorizeEndpoint: "https://linear.app/oauth/authorize",
		TokenEndpoint:     "https://api.linear.app/oauth/token",
		ScopeSeparator:    ",",
		AuthStyle:         AuthPost,
		BodyFormat:        BodyForm,
		PKCE:              true,
		Docs:              "https://linear.app/developers/oauth-2-0-authentication",
	},
	// Figma: the token endpoint moved to api.figma.com (the old
	// www.figma.com/api/oauth/token was retired in February 2025), refresh has
	// its own endpoint, and both take HTTP Basic credentials. A refresh answer
	// has no refresh_token (handoff adds back the one the plugin sent). PKCE
	// is off: Figma's own documentation does not describe it.
	"figma": {
		AuthorizeEndpoint: "https://www.figma.com/oauth",
		TokenEndpoint:     "https://api.figma.com/v1/oauth/token",
		RefreshEndpoint:   "https://api.figma.com/v1/oauth/refresh",
		AuthStyle:         AuthBasic,
		BodyFormat:        BodyForm,
		PKCE:              false,
		Docs:              "https://developers.figma.com/docs/rest-api/authentication/",
	},
	// Spotify's authorization-code flow authenticates with HTTP Basic
	// credentials. Its PKCE flow is documented as the alternative for clients
	// without a secret, not in combination with one, so PKCE is off. A refresh
	// answer may omit refresh_token (handoff adds back the one sent).
	"spotify": {
		AuthorizeEndpoint: "https://accounts.spotify.com/authorize",
		TokenEndpoint:     "https://accounts.spotify.com/api/token",
		AuthStyle:         AuthBasic,
		BodyFormat:        BodyForm,
		PKCE:              false,
		Docs:              "https://developer.spotify.com/documentation/web-api/tutorials/code-flow",
	},
}

// LookupPreset returns the preset called name, ignoring case and surrounding
// spaces.
func LookupPreset(name string) (Preset, bool) {
	p, ok := presets[strings.ToLower(strings.TrimSpace(name))]
	return p, ok
}

// PresetNames returns the names of all presets, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for name := range presets {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
