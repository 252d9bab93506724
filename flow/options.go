package flow

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
// ways it departs from plain RFC 6749. PROVIDER=name selects one; explicit
// variables override each field.
type Preset struct {
	AuthorizeEndpoint string
	TokenEndpoint     string
	// RefreshEndpoint is empty when refresh goes to TokenEndpoint.
	RefreshEndpoint string
	// ScopeSeparator joins SCOPE's space-separated scopes; empty means " ".
	ScopeSeparator string
	AuthStyle      AuthStyle
	BodyFormat     BodyFormat
	PKCE           bool
	// AuthorizeParams is a query string added to the authorize URL, such as
	// the parameters a provider needs before it issues a refresh token.
	AuthorizeParams string
	// Docs is the provider's documentation this preset was checked against.
	Docs string
}
