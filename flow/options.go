package flow

import (
	"maps"
	"slices"
	"sort"
	"strings"
)

// AuthStyle is how handoff authenticates to the provider's token endpoint
// (RFC 6749 §2.3.1).
type AuthStyle int

const (
	// AuthPost sends client_id and client_secret in the request body
	// (client_secret_post).
	AuthPost AuthStyle = iota
	// AuthBasic sends them as HTTP Basic credentials, each form-encoded first
	// (client_secret_basic).
	AuthBasic
	// AuthAuto tries Basic, then the body when the provider answers 401 or
	// 400 invalid_client, as golang.org/x/oauth2 does.
	AuthAuto
)

// BodyFormat is the encoding of the token request body.
type BodyFormat int

const (
	// BodyForm is application/x-www-form-urlencoded, as RFC 6749 requires.
	BodyForm BodyFormat = iota
	// BodyJSON is application/json, which Notion documents.
	BodyJSON
)

// Preset carries what handoff knows about one provider: its endpoints and the
// ways it departs from plain RFC 6749. A preset is data (docs/protocol.md#providers):
// PROVIDER=name selects one; explicit variables override each field.
type Preset struct {
	// Name is how pages and logs name the provider ("Notion").
	Name string
	// The endpoints may hold template variables, such as
	// https://{shop}.myshopify.com/admin/oauth/authorize; each is declared
	// in Vars.
	AuthorizeEndpoint string
	TokenEndpoint     string
	// RefreshEndpoint is empty when refresh goes to TokenEndpoint.
	RefreshEndpoint string
	// RevokeEndpoint is where /revoke goes; empty when the provider has no
	// revocation endpoint (/revoke then answers 501).
	RevokeEndpoint string
	// Revoke is the shape of the revocation request.
	Revoke RevokeStyle
	// Vars are the template variables of the endpoints, which a plugin
	// chooses per login (docs/protocol.md#authorize), with the charset a
	// value must match.
	Vars []TemplateVar
	// ScopeSeparator joins SCOPE's space-separated scopes; empty means " ".
	ScopeSeparator string
	AuthStyle      AuthStyle
	BodyFormat     BodyFormat
	PKCE           bool
	// AuthorizeParams is a query string added to the authorize URL, such as
	// the parameters a provider needs before it issues a refresh token.
	AuthorizeParams string
	// TokenParams is a query string added to the code exchange's body.
	TokenParams string
	// TokensAt names the JSON member that holds the login's tokens when they
	// are not at the top level of the answer (Slack's user tokens sit under
	// "authed_user").
	TokensAt string
	// ErrorCodes maps the provider's own error codes to the RFC 6749 code a
	// plugin can act on (GitHub's bad_verification_code is invalid_grant);
	// the provider's code stays in error_description.
	ErrorCodes map[string]string
	// APIOrigins are the default origins of the API passthrough
	// (docs/protocol.md#api-passthrough), for providers whose API sends no
	// CORS headers.
	APIOrigins []string
	// LocalRedirect says what the provider accepts as a redirect URI during
	// local development, when it is not http://localhost:PORT.
	LocalRedirect string
	// Docs is the provider's documentation this preset was checked against.
	Docs string
}

// TemplateVar is a variable of a preset's URLs, such as {shop}.
type TemplateVar struct {
	Name string
	// Pattern is a regular expression a value must match in whole, e.g.
	// [a-z0-9][a-z0-9-]{0,59} for a Shopify shop name.
	Pattern string
}

// RevokeStyle is the shape of a provider's token revocation request.
type RevokeStyle int

const (
	// RevokeRFC7009 posts token (and token_type_hint) as a form, with the
	// client authenticated as for the token endpoint.
	RevokeRFC7009 RevokeStyle = iota
	// RevokeGitHubGrant is GitHub's DELETE /applications/{client_id}/grant
	// with HTTP Basic credentials and a JSON body {"access_token": …}.
	RevokeGitHubGrant
)

// LookupPreset returns the preset called name, ignoring case and surrounding
// spaces. The preset is a copy: changing its maps and slices changes no
// other caller's.
func LookupPreset(name string) (Preset, bool) {
	p, ok := presets[strings.ToLower(strings.TrimSpace(name))]
	p.Vars = slices.Clone(p.Vars)
	p.ErrorCodes = maps.Clone(p.ErrorCodes)
	p.APIOrigins = slices.Clone(p.APIOrigins)
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
